package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"chat/common/message"
)

func TestBackoffFullJitter(t *testing.T) {
	var b Backoff // the defaults: under 1 s for 20 attempts, then doubling up to 30 s
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {19, time.Second}, {20, 2 * time.Second}, {21, 4 * time.Second},
		{23, 16 * time.Second}, {24, 30 * time.Second}, {25, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		if got := b.ceiling(tc.attempt); got != tc.ceiling {
			t.Errorf("ceiling(%d) = %v, want %v", tc.attempt, got, tc.ceiling)
		}
		var lo, hi time.Duration = tc.ceiling, 0
		for range 1000 {
			d := b.Delay(tc.attempt)
			if d < 0 || d >= tc.ceiling {
				t.Fatalf("Delay(%d) = %v, want it in [0, %v)", tc.attempt, d, tc.ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter spreads the waits over the whole range.
		if lo > tc.ceiling/10 || hi < tc.ceiling*9/10 {
			t.Errorf("Delay(%d) over 1000 draws spans [%v, %v], want most of [0, %v)", tc.attempt, lo, hi, tc.ceiling)
		}
	}
}

// A client whose server comes back after a short outage is back within about a
// second of it, however unlucky its draws: each wait is at most its ceiling, and
// the attempt that finds the server started at most one ceiling after it returned.
func TestBackoffShortOutageComesBackWithinASecond(t *testing.T) {
	var b Backoff
	for _, outage := range []time.Duration{time.Second, 5 * time.Second, 9 * time.Second} {
		for _, dial := range []time.Duration{0, 100 * time.Millisecond} { // refused at once, or after a while
			// Worst case: every wait is its whole ceiling.
			var at time.Duration
			attempt := 0
			for ; at < outage; attempt++ {
				at += b.ceiling(attempt) + dial
			}
			if late := at - outage; late > time.Second+dial {
				t.Errorf("outage %v, dials of %v: back %v after the server (attempt %d), want ≤ 1 s", outage, dial, late, attempt)
			}
		}
	}
}

// fastRetries makes the reconnection waits short, and records every address
// dialled.
func fastRetries(addrs ...string) (func(*UI), func() []string) {
	var mu sync.Mutex
	var dialled []string
	mod := func(ui *UI) {
		ui.Backoff = Backoff{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond}
		if len(addrs) > 0 {
			ui.Addrs = addrs
		}
		dial := ui.Dial
		ui.Dial = func(addr string) (*Conn, error) {
			mu.Lock()
			dialled = append(dialled, addr)
			mu.Unlock()
			return dial(addr)
		}
	}
	return mod, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), dialled...)
	}
}

// tokenLogin logs in as 100 (alice) with the password; the server gives token.
func (h *harness) tokenLogin(token string) *peer {
	h.t.Helper()
	h.lines("1", "100", "secret1")
	p := h.peer()
	p.expect(message.LoginMesType, nil)
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UsersId: []int{100}, UserName: "alice", OnlineCount: 1, Token: token})
	h.see("Logged in as alice (100)")
	return p
}

// expectTokenLogin reads a LoginMes from p and checks it carries token, not a password.
func expectTokenLogin(t *testing.T, p *peer, token string) {
	t.Helper()
	var got message.LoginMes
	p.expect(message.LoginMesType, &got)
	if want := (message.LoginMes{UserID: 100, Token: token, Proto: message.ProtoAck}); got != want {
		t.Fatalf("login after the drop: got %+v, want %+v", got, want)
	}
}

func TestReconnectsWithToken(t *testing.T) {
	mod, dialled := fastRetries("a:1", "b:2")
	h := startWith(t, mod)
	p := h.tokenLogin("tok-1")
	p.nc.Close()
	h.see("Connection lost, reconnecting… (the server closed the connection)")

	// The first attempt goes to the next node; it fails and the client moves on.
	p = h.peer()
	p.nc.Close()
	p = h.peer()
	expectTokenLogin(t, p, "tok-1")
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UserName: "alice", OnlineCount: 2, Token: "tok-1"})
	h.see("Reconnected to a:1 as alice (100).")
	p.send(message.PrivateMesType, &message.PrivateMes{MsgID: "m1", FromUserID: 101, FromUserName: "bob", ToUserID: 100, Content: "while you were away", Offline: true})
	h.see("[private, offline] bob (101): while you were away")
	var ack message.AckMes
	p.expect(message.AckMesType, &ack)
	if got, want := dialled(), []string{"a:1", "b:2", "a:1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dialled %v, want %v", got, want)
	}
	h.seeOnce("Password: ") // asked at the login only
	// The menu goes on as before; logging out revokes the token at the server.
	h.lines("5")
	p.expect(message.LogoutMesType, nil)
	h.see("Logged out.")
}

func TestRequestsRefusedWhileReconnecting(t *testing.T) {
	h := startWith(t, func(ui *UI) { ui.Backoff = Backoff{Base: time.Hour, Cap: time.Hour} })
	p := h.tokenLogin("tok-1")
	p.send(message.SmsMesType, &message.SmsMes{Content: "before the drop", UserID: 101, UserName: "bob"})
	h.see("[group] bob (101): before the drop")
	p.nc.Close()
	h.see("Connection lost, reconnecting…")
	h.lines("2")
	h.see(notConnected)
	h.lines("4")
	h.see("Messages of this session:\n[12:00:00] [group] bob (101): before the drop")
	h.lines("5")
	h.see("Logged out here (not connected")
	h.see("3 Exit\nChoice: ")
	if n := len(h.peers); n != 0 {
		t.Errorf("got %d connections while the first attempt was an hour away, want none", n)
	}
}

// reconnecting logs in with the token "tok-1", drops the connection, and
// returns the harness and the server side of the first attempt to come back.
func reconnecting(t *testing.T) (*harness, *peer) {
	t.Helper()
	mod, _ := fastRetries()
	h := startWith(t, mod)
	h.tokenLogin("tok-1").nc.Close()
	p := h.peer()
	expectTokenLogin(t, p, "tok-1")
	return h, p
}

func TestRefusedTokenAsksForThePassword(t *testing.T) {
	h, p := reconnecting(t)
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 403, Error: "invalid or expired session token"})
	h.see("The server refused the session token (403): log in again with your password.")
	h.see("Press Enter to log in again as user 100: ")
	h.lines("", "secret1")
	p = h.peer()
	var got message.LoginMes
	p.expect(message.LoginMesType, &got)
	if want := (message.LoginMes{UserID: 100, UserPwd: "secret1", Proto: message.ProtoAck}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UserName: "alice", OnlineCount: 1, Token: "tok-2"})
	h.see("Logged in as alice (100)")
	// The new token is the one used next time.
	p.nc.Close()
	p = h.peer()
	expectTokenLogin(t, p, "tok-2")
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UserName: "alice", OnlineCount: 1})
	h.see("Reconnected to test:1 as alice (100).")
}

func TestBusyServerIsRetriedAfterItsDelay(t *testing.T) {
	h, p := reconnecting(t)
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 505, Error: "busy", RetryAfter: 50})
	h.see("test:1 is busy (505). Reconnecting to test:1 in ")
	p = h.peer()
	expectTokenLogin(t, p, "tok-1")
	p.send(message.LoginResMesType, &message.LoginResMes{Code: 200, UserName: "alice", OnlineCount: 1})
	h.see("Reconnected to test:1 as alice (100).")
}

func TestBusyResults(t *testing.T) {
	for _, tc := range []struct {
		name, got, want string
	}{
		{"login 505 retryAfter", LoginResult(&message.LoginResMes{Code: 505, Error: "server busy", RetryAfter: 1234}, 5),
			"The server is busy (505): try again in 1.2s."},
		{"register 505 retryAfter", RegisterResult(&message.RegisterResMes{Code: 505, Error: "server busy", RetryAfter: 20}, 5),
			"The server is busy (505): try again in 100ms."},
		{"login 505 without", LoginResult(&message.LoginResMes{Code: 505, Error: "store unreachable"}, 5),
			"Login failed. Server error (505): store unreachable; try again later."},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
