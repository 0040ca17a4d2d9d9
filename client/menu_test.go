package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"chat/common/message"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name string
		res  message.LoginResMes
		want string
	}{
		{"ok", message.LoginResMes{Code: 200, UsersId: []int{100, 101}, UserName: "alice", OnlineCount: 2}, "Logged in as alice (100). 2 user(s) online."},
		{"no such user", message.LoginResMes{Code: 500, Error: "no such user"}, "No such user 100 (500). Choose 2 to register first."},
		{"wrong password", message.LoginResMes{Code: 403, Error: "wrong password"}, "Wrong password for user 100 (403)."},
		{"rate limited", message.LoginResMes{Code: 429}, "Too many login attempts (429)"},
		{"server error", message.LoginResMes{Code: 505, Error: "store unreachable"}, "Server error (505): store unreachable; try again later."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			h.lines("1", "100", "secret1")
			p := h.peer()
			var got message.LoginMes
			p.expect(message.LoginMesType, &got)
			want := message.LoginMes{UserID: 100, UserPwd: "secret1", Proto: message.ProtoAck}
			if got != want {
				t.Errorf("LoginMes: got %+v, want %+v", got, want)
			}
			p.send(message.LoginResMesType, &tt.res)
			h.see(tt.want)
			h.end()
			if tt.res.Code == 200 {
				p.expect(message.LogoutMesType, nil) // end of input logs out first
			}
			h.wait()
			if tt.res.Code == 200 && !strings.Contains(h.out.String(), "Logged out.") {
				t.Errorf("output lacks the logout:\n%s", h.out)
			}
		})
	}
}

// TestRefusedBeforeDialling: answers the client refuses itself never reach a server.
func TestRefusedBeforeDialling(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"login bad id", []string{"1", "abc"}, "A user id is a whole number"},
		{"register password mismatch", []string{"2", "100", "secret1", "secret2"}, "The passwords do not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			h.lines(tt.lines...)
			h.see(tt.want)
			h.end()
			h.wait()
			h.noConnections()
		})
	}
}

func TestDialFailure(t *testing.T) {
	h := &harness{t: t, feed: &lineFeed{ch: make(chan string, 10)}, out: &syncBuffer{}, done: make(chan struct{})}
	ui := &UI{
		Term:    newPlainTerm(h.feed, h.out),
		Dial:    func(string) (*Conn, error) { return nil, errors.New("connection refused") },
		Addrs:   []string{"127.0.0.1:1"},
		Timeout: waitLimit,
		View:    View{Loc: time.UTC, Now: time.Now},
	}
	go func() { ui.Run(); close(h.done) }()
	h.lines("1", "100", "secret1")
	h.end()
	h.wait()
	if want := "cannot reach server at 127.0.0.1:1: connection refused"; !strings.Contains(h.out.String(), want) {
		t.Errorf("got output\n%s\nwant it to contain %q", h.out, want)
	}
}

// A registration whose password is refused asks for it again, not for the whole
// registration: the id typed stays, and the password of the last try is sent.
func TestRegisterAsksThePasswordAgain(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		said  string
	}{
		{"mismatch", []string{"secret1", "secret2", "secret1", "secret1"}, "The passwords do not match. Please type it again."},
		{"too short", []string{"abc", "secret1", "secret1"}, "A password has 6 to 72 bytes. Please type it again."},
		{"two mismatches", []string{"secret1", "x", "secret1", "y", "secret1", "secret1"}, "The passwords do not match. Please type it again."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			h.lines("2", "100")
			h.lines(tt.lines...)
			h.lines("Alice")
			p := h.peer()
			var got message.RegisterMes
			p.expect(message.RegisterMesType, &got)
			if want := (message.User{UserID: 100, UserPwd: "secret1", UserName: "Alice"}); got.User != want {
				t.Errorf("RegisterMes.User: got %+v, want %+v", got.User, want)
			}
			p.send(message.RegisterResMesType, &message.RegisterResMes{Code: 200})
			h.seeAll(tt.said, "Registered user 100.")
		})
	}
}

// After passwordTries refused passwords the first menu comes back, and nothing
// reached the server.
func TestRegisterGivesUpAfterThreePasswords(t *testing.T) {
	h := start(t)
	h.lines("2", "100", "secret1", "a", "secret1", "b", "secret1", "c")
	h.see("The passwords do not match. Nothing registered.")
	checkFor(t, "first menu again", func() bool {
		out := h.out.String()
		return strings.Contains(out[strings.Index(out, "Nothing registered."):], "1 Log in")
	})
	h.end()
	h.wait()
	h.noConnections()
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name string
		res  message.RegisterResMes
		want string
	}{
		{"ok", message.RegisterResMes{Code: 200}, "Registered user 100. You can log in now."},
		{"taken", message.RegisterResMes{Code: 400, Error: "user exists"}, "User id 100 is already taken (400)"},
		{"invalid", message.RegisterResMes{Code: 422, Error: "userName has control characters"}, "Invalid input (422): userName has control characters."},
		{"server error", message.RegisterResMes{Code: 505, Error: "store down"}, "Server error (505): store down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			h.lines("2", "100", "secret1", "secret1", "Alice Liddell")
			p := h.peer()
			var got message.RegisterMes
			p.expect(message.RegisterMesType, &got)
			want := message.User{UserID: 100, UserPwd: "secret1", UserName: "Alice Liddell"}
			if got.User != want {
				t.Errorf("RegisterMes.User: got %+v, want %+v", got.User, want)
			}
			p.send(message.RegisterResMesType, &tt.res)
			h.see(tt.want)
			// The first menu comes back.
			checkFor(t, "first menu again", func() bool {
				out := h.out.String()
				return strings.Count(out[strings.Index(out, tt.want):], "1 Log in") == 1
			})
		})
	}
}

func TestGroupMessage(t *testing.T) {
	h := start(t)
	p := h.login()
	const text = "  hello all, 你好 ✓  "
	h.lines("2", text)
	var got message.SmsMes
	p.expect(message.SmsMesType, &got)
	if got.Content != text {
		t.Errorf("content: got %q, want %q", got.Content, text)
	}
	p.send(message.SmsResMesType, &message.SmsResMes{Code: 200, MsgID: "g1"})
	h.see("Sent to the group: " + text)
	h.lines("4")
	h.see("[12:00:00] [group] you: " + text)
}

func TestGroupMessageRefused(t *testing.T) {
	h := start(t)
	p := h.login()
	h.lines("2", "spam")
	p.expect(message.SmsMesType, nil)
	p.send(message.ErrorResMesType, &message.ErrorResMes{Code: 429, Error: "slow down", RefType: message.SmsMesType})
	h.see("Not sent. Too many requests (429)")
}

func TestPrivateMessage(t *testing.T) {
	tests := []struct {
		name string
		res  message.PrivateResMes
		want string
	}{
		{"delivered", message.PrivateResMes{Code: 200, MsgID: "m1"}, "Delivered to user 101."},
		{"stored", message.PrivateResMes{Code: 200, MsgID: "m1", Stored: true}, "user 101 is offline: the message is stored"},
		{"no such user", message.PrivateResMes{Code: 404, Error: "no such user"}, "Not sent: no such user 101 (404)."},
		{"rate limited", message.PrivateResMes{Code: 429, Error: "too many"}, "Not sent. Too many requests (429)"},
		{"invalid", message.PrivateResMes{Code: 422, Error: "content too long"}, "Not sent. Invalid input (422): content too long."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			p := h.login()
			h.lines("3", "101", "hi bob, ça va ?")
			var got message.PrivateMes
			p.expect(message.PrivateMesType, &got)
			if got.ToUserID != 101 || got.Content != "hi bob, ça va ?" || got.ClientMsgID == "" {
				t.Errorf("PrivateMes: got %+v, want to 101, the whole line and a clientMsgId", got)
			}
			res := tt.res
			res.ClientMsgID = got.ClientMsgID
			p.send(message.PrivateResMesType, &res)
			h.see(tt.want)
		})
	}
}

func TestIncoming(t *testing.T) {
	h := start(t)
	p := h.login()
	at := testNow.Add(-time.Minute).UnixMilli()
	yesterday := testNow.Add(-24 * time.Hour).UnixMilli()

	// The client sits at the session menu's prompt while these arrive.
	p.send(message.PrivateMesType, &message.PrivateMes{MsgID: "p0", FromUserID: 101, FromUserName: "bob", ToUserID: 100, Content: "while you were away", SentAt: yesterday, Offline: true})
	p.send(message.NotifyUserStatusMesType, &message.NotifyUserStatusMes{UserID: 102, Status: 0, UserName: "carol"})
	p.send(message.SmsMesType, &message.SmsMes{Content: "hello group", UserID: 101, UserName: "bob", MsgID: "g1", SentAt: at})
	p.send(message.PrivateMesType, &message.PrivateMes{MsgID: "p1", FromUserID: 102, FromUserName: "carol", ToUserID: 100, Content: "psst", SentAt: at})
	p.send(message.PrivateMesType, &message.PrivateMes{MsgID: "p1", FromUserID: 102, FromUserName: "carol", ToUserID: 100, Content: "psst", SentAt: at, Offline: true})
	p.send(message.NotifyUserStatusMesType, &message.NotifyUserStatusMes{UserID: 102, Status: 1, UserName: "carol"})
	p.send(message.NotifyUsersStatusMesType, &message.NotifyUsersStatusMes{Users: []message.NotifyUserStatusMes{
		{UserID: 103, Status: 0, UserName: "dave"}, {UserID: 100, Status: 0, UserName: "alice"}, {UserID: 104, Status: 1, UserName: "erin"}}})

	h.seeAll(
		"[2024-04-30 12:00:00] [private, offline] bob (101): while you were away",
		"[12:00:00] * carol (102) is online",
		"[11:59:00] [group] bob (101): hello group",
		"[11:59:00] [private] carol (102): psst",
		"[12:00:00] * carol (102) went offline",
		"[12:00:00] * dave (103) is online",
		"[12:00:00] * erin (104) went offline",
	)
	// Every private message is acknowledged, the repeat too.
	p.expectAcks("p0", "p1", "p1")
	// The repeated msgId is shown once, and so is the prompt it interrupted.
	h.seeOnce("psst")

	h.lines("4")
	h.see("Messages of this session:\n" +
		"[2024-04-30 12:00:00] [private, offline] bob (101): while you were away\n" +
		"[11:59:00] [group] bob (101): hello group\n" +
		"[11:59:00] [private] carol (102): psst\n")
}

func TestControlCharactersAreNeutralised(t *testing.T) {
	h := start(t)
	p := h.login()
	p.send(message.SmsMesType, &message.SmsMes{Content: "a\x1b[2Jb\rc\u009b1m", UserID: 101, UserName: "bo\nb"})
	h.see(`[group] bo\nb (101): a\x1b[2Jb\rc\u009b1m`)
	p.send(message.PrivateMesType, &message.PrivateMes{MsgID: "1-1", Content: "tab\there\u200bzw", FromUserID: 102, FromUserName: "\u202enimda"})
	h.see(`[private] \u202enimda (102): tab\there\u200bzw`)
}

func TestOnlineUsers(t *testing.T) {
	h := start(t)
	p := h.login()
	h.lines("1")
	var req message.OnlineUsersMes
	p.expect(message.OnlineUsersMesType, &req)
	if req.Offset != 0 || req.Limit != onlinePage {
		t.Errorf("first page: got %+v, want offset 0 limit %d", req, onlinePage)
	}
	page := make([]message.OnlineUser, onlinePage)
	for i := range page {
		page[i] = message.OnlineUser{UserID: 100 + i, UserName: "u" + string(rune('a'+i%26))}
	}
	page[0].UserName = "alice"
	p.send(message.OnlineUsersResMesType, &message.OnlineUsersResMes{Code: 200, Total: onlinePage + 1, Users: page})
	p.expect(message.OnlineUsersMesType, &req)
	if req.Offset != onlinePage {
		t.Errorf("second page: got offset %d, want %d", req.Offset, onlinePage)
	}
	p.send(message.OnlineUsersResMesType, &message.OnlineUsersResMes{Code: 200, Total: onlinePage + 1,
		Users: []message.OnlineUser{{UserID: 999, UserName: "zed"}}})
	h.see("Online users: 101\n  alice (100) (you)\n  ub (101)")
	h.see("  zed (999)\n")
}

func TestReplacedSession(t *testing.T) {
	h := start(t)
	p := h.login()
	p.send(message.ErrorResMesType, &message.ErrorResMes{Code: 409, Error: "replaced", RefType: message.LoginMesType})
	p.nc.Close()
	h.see("This session was replaced by a newer login of the same user (409).")
	h.see("You are logged out. Choose 1 to log in again.")
	h.see("3 Exit\nChoice: ")
	// Logging in again works over a new connection.
	h.login()
}

func TestServerGoesAway(t *testing.T) {
	h := start(t)
	p := h.login()
	p.nc.Close()
	h.see("The server closed the connection. Choose 1 to reconnect and log in again.")
	h.see("3 Exit\nChoice: ")
	h.end()
	h.wait()
}

func TestLogout(t *testing.T) {
	h := start(t)
	p := h.login()
	h.lines("5")
	p.expect(message.LogoutMesType, nil)
	h.see("Logged out.\n\n---- Chat ----")
	h.lines("3")
	h.wait()
	h.see("Bye.")
}

func TestEndOfInput(t *testing.T) {
	h := start(t)
	h.end()
	h.wait()
	if got, want := h.out.String(), firstMenu+"\nChoice: \n"; got != want {
		t.Errorf("got output %q, want %q", got, want)
	}
}

func TestTimeout(t *testing.T) {
	h := startTimeout(t, 300*time.Millisecond)
	p := h.login()
	h.lines("2", "anyone?")
	p.expect(message.SmsMesType, nil)
	h.see("No answer from the server within 300ms.")
	// Still logged in: the end of input logs out cleanly.
	h.end()
	p.expect(message.LogoutMesType, nil)
	h.wait()
}
