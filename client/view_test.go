package main

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"chat/common/message"
)

func TestViewFormats(t *testing.T) {
	v := View{Loc: time.UTC, Now: func() time.Time { return testNow }}
	earlier := testNow.Add(-90 * time.Second).UnixMilli()
	lastYear := time.Date(2023, 12, 31, 23, 59, 58, 0, time.UTC).UnixMilli()
	tests := []struct {
		name, got, want string
	}{
		{"group", v.Group(&message.SmsMes{Content: "hi all", UserID: 7, UserName: "bob", SentAt: earlier}),
			"[11:58:30] [group] bob (7): hi all"},
		{"group without sentAt or name", v.Group(&message.SmsMes{Content: "classic", UserID: 7}),
			"[12:00:00] [group] user 7: classic"},
		{"private", v.Private(&message.PrivateMes{FromUserID: 8, FromUserName: "李雷", Content: "你好", SentAt: earlier}),
			"[11:58:30] [private] 李雷 (8): 你好"},
		{"offline private", v.Private(&message.PrivateMes{FromUserID: 8, FromUserName: "x", Content: "old", SentAt: lastYear, Offline: true}),
			"[2023-12-31 23:59:58] [private, offline] x (8): old"},
		{"sent private", v.SentPrivate(who("bob", 7), "yo"), "[12:00:00] [private] you -> bob (7): yo"},
		{"online", v.Presence(&message.NotifyUserStatusMes{UserID: 9, Status: message.UserOnline, UserName: "eve"}),
			"[12:00:00] * eve (9) is online"},
		{"offline", v.Presence(&message.NotifyUserStatusMes{UserID: 9, Status: message.UserOffline}),
			"[12:00:00] * user 9 went offline"},
		{"busy", v.Presence(&message.NotifyUserStatusMes{UserID: 9, Status: message.UserBusy, UserName: "eve"}),
			"[12:00:00] * eve (9) is busy"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestResults(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"login 422", LoginResult(&message.LoginResMes{Code: 422, Error: "userPwd too short"}, 5),
			"Login failed. Invalid input (422): userPwd too short."},
		{"register 429", RegisterResult(&message.RegisterResMes{Code: 429}, 5),
			"Too many attempts (429): wait a moment and try again."},
		{"private known name", PrivateResult(&message.PrivateResMes{Code: 200}, "bob", 7), "Delivered to bob (7)."},
		{"private 401", PrivateResult(&message.PrivateResMes{Code: 401, Error: "log in first"}, "", 7),
			"Not sent. Not logged in (401): log in first."},
		{"group 413", GroupResult(413, "content too long", "x"), "Not sent. Too large (413): content too long."},
		{"private inbox full", PrivateResult(&message.PrivateResMes{Code: 429, Error: "inbox full: the recipient has too many undelivered messages"}, "bob", 7),
			"Not sent. Too many requests (429): inbox full: the recipient has too many undelivered messages; wait a moment and try again."},
		{"unknown code", GroupResult(418, "teapot", "x"), "Not sent. Failed (code 418): teapot."},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestPlainTerm checks the transcript of a scripted run: prompts with the answers
// echoed (passwords not), and a line printed during a read ends the prompt's line
// and shows the prompt again.
func TestPlainTerm(t *testing.T) {
	out := &syncBuffer{}
	feed := &lineFeed{ch: make(chan string, 10)}
	term := newPlainTerm(feed, out)

	feed.ch <- "1\n"
	if l := <-term.ReadLine("Choice: ", false); l.Text != "1" || l.Err != nil {
		t.Errorf("got %+v, want 1", l)
	}
	feed.ch <- "secret\r\n"
	if l := <-term.ReadLine("Password: ", true); l.Text != "secret" {
		t.Errorf("got %+v, want secret", l)
	}
	ch := term.ReadLine("Message: ", false)
	checkFor(t, "prompt", func() bool { return strings.HasSuffix(out.String(), "Message: ") })
	term.Println("[group] bob: hi")
	feed.ch <- "hello world"
	close(feed.ch)
	if l := <-ch; l.Text != "hello world" || l.Err != nil {
		t.Errorf("got %+v, want the last line without its newline", l)
	}
	if l := <-term.ReadLine("Choice: ", false); l.Err != io.EOF {
		t.Errorf("got %+v, want io.EOF", l)
	}
	want := "Choice: 1\nPassword: \nMessage: \n[group] bob: hi\nMessage: hello world\nChoice: \n"
	if got := out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	var u UI
	for i := range maxHistory + 5 {
		u.record(strconv.Itoa(i))
	}
	if got, want := len(u.history), maxHistory; got != want {
		t.Fatalf("got %d entries, want %d", got, want)
	}
	if got, want := u.history[0], "5"; got != want {
		t.Errorf("oldest entry: got %s, want %s", got, want)
	}
	if got, want := u.history[maxHistory-1], strconv.Itoa(maxHistory+4); got != want {
		t.Errorf("newest entry: got %s, want %s", got, want)
	}
}

func TestDedup(t *testing.T) {
	var d dedup
	tests := []struct {
		id   string
		want bool
	}{{"a", true}, {"b", true}, {"a", false}, {"", true}, {"", true}, {"b", false}}
	for _, tt := range tests {
		if got := d.add(tt.id); got != tt.want {
			t.Errorf("add(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
	for i := range maxSeen {
		d.add(strconv.Itoa(i))
	}
	if got := d.add("a"); !got {
		t.Errorf("add(a) after %d other ids: got false, want true (forgotten)", maxSeen)
	}
	if got, want := len(d.set), maxSeen; got != want {
		t.Errorf("remembered %d ids, want %d", got, want)
	}
}
