package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"chat/common/frame"
	"chat/common/message"
)

// waitLimit bounds every wait of these tests; nothing normally comes near it.
const waitLimit = 5 * time.Second

// checkFor polls cond until it holds, failing the test after waitLimit.
func checkFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// syncBuffer is an output buffer safe for the UI and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lineFeed is the fake stdin: lines the test feeds, io.EOF once closed.
type lineFeed struct {
	ch  chan string
	buf []byte
}

func (f *lineFeed) Read(p []byte) (int, error) {
	if len(f.buf) == 0 {
		s, ok := <-f.ch
		if !ok {
			return 0, io.EOF
		}
		f.buf = []byte(s)
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// peer is the fake server's side of one connection.
type peer struct {
	t  testing.TB
	nc net.Conn
	in chan message.Message // requests from the client; closed when the client is gone
}

func newPeer(t testing.TB, nc net.Conn) *peer {
	p := &peer{t: t, nc: nc, in: make(chan message.Message, 100)}
	go func() {
		defer close(p.in)
		for {
			body, err := frame.Read(nc, message.MaxFrame, nil)
			if err != nil {
				return
			}
			m, err := message.Decode(body)
			if err != nil {
				t.Errorf("client sent a bad envelope %q", body)
				return
			}
			p.in <- m
			if m.Type == message.LogoutMesType {
				nc.Close() // as the server does
				return
			}
		}
	}()
	return p
}

// expect reads the client's next request, checks its type and unpacks it into v.
func (p *peer) expect(typ string, v any) {
	p.t.Helper()
	select {
	case m, ok := <-p.in:
		if !ok {
			p.t.Fatalf("connection closed, want %s", typ)
		}
		if m.Type != typ {
			p.t.Fatalf("got %s %s, want %s", m.Type, m.Data, typ)
		}
		if v != nil {
			if err := message.Unpack(m, v); err != nil {
				p.t.Fatalf("unpack %s: %v", typ, err)
			}
		}
	case <-time.After(waitLimit):
		p.t.Fatalf("timed out waiting for %s", typ)
	}
}

// send writes a message to the client.
func (p *peer) send(typ string, v any) {
	p.t.Helper()
	f, err := message.EncodeFrame(typ, v)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.nc.Write(f); err != nil {
		p.t.Fatalf("send %s: %v", typ, err)
	}
}

// harness runs a UI over a fake terminal and a fake server.
type harness struct {
	t     *testing.T
	feed  *lineFeed
	out   *syncBuffer
	peers chan *peer // one per dial
	done  chan struct{}
	eof   sync.Once
}

// testNow is the fixed clock of the tests: 2024-05-01 12:00:00 UTC.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func start(t *testing.T) *harness { return startTimeout(t, waitLimit) }

// startTimeout starts a UI that waits timeout for each answer.
func startTimeout(t *testing.T, timeout time.Duration) *harness {
	return startWith(t, func(ui *UI) { ui.Timeout = timeout })
}

// startWith starts a UI with the harness's settings changed by mod.
func startWith(t *testing.T, mod func(*UI)) *harness {
	h := &harness{
		t:     t,
		feed:  &lineFeed{ch: make(chan string, 100)},
		out:   &syncBuffer{},
		peers: make(chan *peer, 10),
		done:  make(chan struct{}),
	}
	ui := &UI{
		Term: newPlainTerm(h.feed, h.out),
		Dial: func(string) (*Conn, error) {
			c, s := net.Pipe()
			h.peers <- newPeer(t, s)
			return NewConn(c), nil
		},
		Addrs:   []string{"test:1"},
		Timeout: waitLimit,
		View:    View{Loc: time.UTC, Now: func() time.Time { return testNow }},
	}
	mod(ui)
	go func() {
		ui.Run()
		close(h.done)
	}()
	t.Cleanup(func() {
		h.end()
		h.wait()
	})
	return h
}

// lines feeds answers to the prompts.
func (h *harness) lines(s ...string) {
	for _, l := range s {
		h.feed.ch <- l + "\n"
	}
}

// end closes the input.
func (h *harness) end() { h.eof.Do(func() { close(h.feed.ch) }) }

// wait waits for Run to return.
func (h *harness) wait() {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(2 * waitLimit):
		h.t.Fatalf("Run did not return; output:\n%s", h.out)
	}
}

// peer returns the fake server side of the client's next connection.
func (h *harness) peer() *peer {
	h.t.Helper()
	select {
	case p := <-h.peers:
		return p
	case <-time.After(waitLimit):
		h.t.Fatalf("the client did not connect; output:\n%s", h.out)
		return nil
	}
}

// see waits until the output contains want.
func (h *harness) see(want string) {
	h.t.Helper()
	checkFor(h.t, "output "+want, func() bool { return strings.Contains(h.out.String(), want) })
}

// login logs in as 100 (alice) and returns the server side of the session.
func (h *harness) login() *peer {
	h.t.Helper()
	h.lines("1", "100", "secret1")
	p := h.peer()
	var m message.LoginMes
	p.expect(message.LoginMesType, &m)
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UsersId: []int{100}, UserName: "alice", OnlineCount: 1})
	h.see("Logged in as alice (100)")
	return p
}

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

func TestLoginBadID(t *testing.T) {
	h := start(t)
	h.lines("1", "abc")
	h.see("A user id is a whole number")
	h.end()
	h.wait()
	if n := len(h.peers); n != 0 {
		t.Errorf("got %d connections, want none", n)
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

func TestRegisterPasswordMismatch(t *testing.T) {
	h := start(t)
	h.lines("2", "100", "secret1", "secret2")
	h.see("The passwords do not match")
	h.end()
	h.wait()
	if n := len(h.peers); n != 0 {
		t.Errorf("got %d connections, want none", n)
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

	for _, want := range []string{
		"[2024-04-30 12:00:00] [private, offline] bob (101): while you were away",
		"[12:00:00] * carol (102) is online",
		"[11:59:00] [group] bob (101): hello group",
		"[11:59:00] [private] carol (102): psst",
		"[12:00:00] * carol (102) went offline",
	} {
		h.see(want)
	}
	// Every private message is acknowledged, the repeat too.
	for _, want := range []string{"p0", "p1", "p1"} {
		var ack message.AckMes
		p.expect(message.AckMesType, &ack)
		if len(ack.MsgIDs) != 1 || ack.MsgIDs[0] != want {
			t.Errorf("AckMes: got %v, want [%s]", ack.MsgIDs, want)
		}
	}
	// The repeated msgId is shown once, and so is the prompt it interrupted.
	if got := strings.Count(h.out.String(), "psst"); got != 1 {
		t.Errorf("got psst %d times, want once:\n%s", got, h.out)
	}

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
