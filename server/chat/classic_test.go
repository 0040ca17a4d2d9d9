package chat_test

// Classic sessions (PROTOCOL.md, "Classic sessions"): a client that did not
// announce proto 2 gets no frame over 8,096 bytes, its private messages and the
// server's notices as SmsMes.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"chat/common/frame"
	"chat/common/message"
	"chat/server/chat"
	"chat/server/model"
)

// frameMeter relays one client's connection to a server and records the longest
// frame the server sent through it, length prefix included.
type frameMeter struct {
	Addr string

	mu      sync.Mutex
	longest int
	conns   []net.Conn
}

// meterFrames starts a frameMeter in front of addr; dial its Addr.
func meterFrames(t testing.TB, addr string) *frameMeter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &frameMeter{Addr: l.Addr().String()}
	t.Cleanup(func() {
		l.Close()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, c := range m.conns {
			c.Close()
		}
	})
	go func() {
		cc, err := l.Accept()
		if err != nil {
			return
		}
		sc, err := net.DialTimeout("tcp", addr, waitTimeout)
		if err != nil {
			cc.Close()
			return
		}
		m.mu.Lock()
		m.conns = append(m.conns, cc, sc)
		m.mu.Unlock()
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := cc.Read(buf)
				if n > 0 {
					sc.Write(buf[:n])
				}
				if err != nil {
					sc.Close()
					return
				}
			}
		}()
		defer cc.Close()
		for {
			body, err := frame.Read(sc, 1<<20, nil)
			if err != nil {
				return
			}
			m.mu.Lock()
			m.longest = max(m.longest, frame.HeaderLen+len(body))
			m.mu.Unlock()
			if _, err := cc.Write(frame.Append(nil, body)); err != nil {
				return
			}
		}
	}()
	return m
}

func (m *frameMeter) Longest() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.longest
}

// nextNotice waits for the next SmsMes from the server on a classic session,
// passing over group messages, and returns it with the status code its content
// starts with ("[409] ..." gives 409; 0 if none).
func nextNotice(t testing.TB, c *client) (int, message.SmsMes) {
	t.Helper()
	for {
		var m message.SmsMes
		c.next(message.SmsMesType, &m)
		if m.UserID != message.ServerUserID {
			continue
		}
		if m.UserName != message.ServerUserName || m.Content == "" {
			t.Fatalf("got notice %+v, want user name %q and a sentence", m, message.ServerUserName)
		}
		code := 0
		if rest, ok := strings.CutPrefix(m.Content, "["); ok {
			if n, _, ok := strings.Cut(rest, "] "); ok {
				code, _ = strconv.Atoi(n)
			}
		}
		return code, m
	}
}

func TestClassicFramesFit(t *testing.T) {
	n1, n2 := startTwoNodes(t)
	local, remote := meterFrames(t, n1.Addr), meterFrames(t, n2.Addr)
	sender := user(t, n1.Addr, 1, "sender", message.ProtoAck)
	modern := user(t, n2.Addr, 2, "modern", message.ProtoAck)
	classics := map[string]*client{
		"same node":  user(t, local.Addr, 3, "classic3", 0),
		"other node": user(t, remote.Addr, 4, "classic4", message.ProtoClassic),
	}
	tests := []struct {
		name    string
		content string
		cut     bool // too long for a classic frame even without HTML escaping
	}{
		{"4096 <", strings.Repeat("<", message.MaxContentLen), false},
		{"4096 >&", strings.Repeat(">&", message.MaxContentLen/2), false},
		{`4096 "`, strings.Repeat(`"`, message.MaxContentLen), true},
		{`4096 \`, strings.Repeat(`\`, message.MaxContentLen), true},
		{"4096 bytes of é", strings.Repeat("é", message.MaxContentLen/2), false},
		{"4096 bytes of emoji", strings.Repeat("😀", message.MaxContentLen/4), false},
		{"4096 tabs", strings.Repeat("\t", message.MaxContentLen), true},
		{"mixed", strings.Repeat("<\"\\\"\\é😀\n", message.MaxContentLen/12), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := sender.group(tt.content)
			if res.Code != message.CodeOK {
				t.Fatalf("got %+v, want code 200", res)
			}
			var whole message.SmsMes
			modern.next(message.SmsMesType, &whole)
			if whole.Content != tt.content {
				t.Errorf("proto 2: got %d bytes of content, want all %d", len(whole.Content), len(tt.content))
			}
			for where, c := range classics {
				var got message.SmsMes
				c.next(message.SmsMesType, &got)
				if got.UserID != 1 || got.UserName != "sender" || got.MsgID != res.MsgID {
					t.Errorf("%s: got %+v, want the message %s of user 1", where, got, res.MsgID)
				}
				kept, cut := strings.CutSuffix(got.Content, message.CutMarker)
				switch {
				case cut != tt.cut:
					t.Errorf("%s: got content of %d bytes (cut %v), want cut %v", where, len(got.Content), cut, tt.cut)
				case !cut && got.Content != tt.content:
					t.Errorf("%s: got content of %d bytes, want the whole %d", where, len(got.Content), len(tt.content))
				case cut && (kept == "" || !strings.HasPrefix(tt.content, kept) || !utf8.ValidString(kept)):
					t.Errorf("%s: got %q, want a prefix of the content cut at a UTF-8 boundary, then %q", where, got.Content, message.CutMarker)
				}
			}
		})
	}
	for where, m := range map[string]*frameMeter{"same node": local, "other node": remote} {
		if l := m.Longest(); l > message.MaxClassicFrame {
			t.Errorf("%s: got a frame of %d bytes, want at most %d", where, l, message.MaxClassicFrame)
		}
	}
}

func TestClassicLoginWithManyOnline(t *testing.T) {
	const online = 1000
	r, n := startOneNode(t)
	// Users with ten-digit ids, online as the login's list sees them: claimed
	// straight in the presence store, as a thousand logins take most of a minute
	// under the race detector; on a node that never beats, so that no node's
	// start or reap takes them offline.
	presence := r.stores(t).Presence
	for i := range online {
		id := message.MaxUserID - i
		if _, err := presence.Claim(context.Background(), id, model.Session{Node: "elsewhere", ID: fmt.Sprint("s", id), Name: "u"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	meter := meterFrames(t, n.Addr)
	c := dial(t, meter.Addr)
	if res := c.register(1, "password", "classic"); res.Code != message.CodeOK {
		t.Fatalf("register: %+v", res)
	}
	res := c.login(1, "password", 0)
	if res.Code != message.CodeOK || res.OnlineCount != online+1 || len(res.UsersId) == 0 || res.UsersId[0] != 1 {
		t.Fatalf("got %d ids and %+v (%d online), want code 200, onlineCount %d and ids from 1 up", len(res.UsersId), res.Code, res.OnlineCount, online+1)
	}
	if l := meter.Longest(); l > message.MaxClassicFrame {
		t.Errorf("got a LoginResMes frame of %d bytes with %d ids, want at most %d", l, len(res.UsersId), message.MaxClassicFrame)
	}
}

func TestClassicPrivateMessages(t *testing.T) {
	r, n := startOneNode(t)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	meter := meterFrames(t, n.Addr)
	bob := user(t, meter.Addr, 2, "bob", 0)

	// Online: an SmsMes from alice, marked private; no PrivateMes.
	long := strings.Repeat(`"`, message.MaxContentLen)
	for _, content := range []string{"hello <bob>", long} {
		if res := alice.private(2, content, ""); res.Code != message.CodeOK || res.Stored {
			t.Fatalf("got %+v, want 200, not stored", res)
		}
	}
	var got message.SmsMes
	bob.next(message.SmsMesType, &got)
	if got.Content != message.PrivatePrefix+"hello <bob>" || got.UserID != 1 || got.UserName != "alice" {
		t.Errorf("got %+v, want %q from 1 alice", got, message.PrivatePrefix+"hello <bob>")
	}
	bob.next(message.SmsMesType, &got)
	kept, cut := strings.CutSuffix(got.Content, message.CutMarker)
	if !cut || !strings.HasPrefix(kept, message.PrivatePrefix+`"""`) || !strings.HasPrefix(message.PrivatePrefix+long, kept) {
		t.Errorf("got %.40q... (%d bytes), want the private prefix, the content cut and %q", got.Content, len(got.Content), message.CutMarker)
	}
	if l := meter.Longest(); l > message.MaxClassicFrame {
		t.Errorf("got a frame of %d bytes, want at most %d", l, message.MaxClassicFrame)
	}
	bob.ping()
	if k := bob.count(message.PrivateMesType); k != 0 {
		t.Errorf("got %d PrivateMes on a classic session, want 0", k)
	}
	// Written, hence gone from the inbox.
	inbox := r.stores(t).Inbox
	inboxEmpty := func() bool {
		left, err := inbox.Read(context.Background(), 2, "", 1)
		return err == nil && len(left) == 0
	}
	checkFor(t, waitTimeout, "the inbox to be emptied", inboxEmpty)

	// Offline: kept, then given once at the next login, marked offline.
	bob.conn.Close()
	checkFor(t, waitTimeout, "bob to go offline", func() bool { return alice.onlineUsers(0, 1).Total == 1 })
	res := alice.private(2, "while you were away", "")
	if res.Code != message.CodeOK || !res.Stored {
		t.Fatalf("got %+v, want 200, stored", res)
	}
	for round := range 2 {
		bob = dial(t, n.Addr)
		bob.mustLogin(2, message.ProtoClassic)
		var want []string
		if round == 0 {
			want = []string{"while you were away"}
		}
		var before []string
		for _, m := range marker(t, alice, bob, 2) {
			before = append(before, m.Content)
			if !m.Offline || m.FromUserID != 1 || m.MsgID != res.MsgID {
				t.Errorf("round %d: got %+v, want message %s from 1, offline", round, m, res.MsgID)
			}
		}
		if !slices.Equal(before, want) {
			t.Fatalf("login %d: got %q before the marker, want %q: counted as delivered once written", round, before, want)
		}
		// Written, hence gone from the inbox: the next login does not get it again.
		checkFor(t, waitTimeout, "the inbox to be emptied", inboxEmpty)
		bob.conn.Close()
		checkFor(t, waitTimeout, "bob to go offline", func() bool { return alice.onlineUsers(0, 1).Total == 1 })
	}
}

func TestClassicNotices(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.RateGroup, c.BurstGroup = 0.001, 1 })

	t.Run("replaced", func(t *testing.T) {
		first := user(t, n.Addr, 1, "alice", 0)
		if res := dial(t, n.Addr).login(1, "password", message.ProtoAck); res.Code != message.CodeOK {
			t.Fatalf("second login: %+v", res)
		}
		first.waitClosed()
		if code, m := nextNotice(t, first); code != message.CodeReplaced {
			t.Errorf("got %+v, want a notice of code 409", m)
		}
		if k := first.count(message.ErrorResMesType); k != 0 {
			t.Errorf("got %d ErrorResMes, want none on a classic session", k)
		}
	})
	t.Run("rate limited and refused requests", func(t *testing.T) {
		c := user(t, n.Addr, 2, "bob", 0)
		for range 2 {
			c.send(message.SmsMesType, message.SmsMes{Content: "hi all"})
		}
		if code, m := nextNotice(t, c); code != message.CodeRateLimited {
			t.Errorf("got %+v, want a notice of code 429", m)
		}
		c.send("FooMes", struct{}{})
		if code, m := nextNotice(t, c); code != message.CodeBadEnvelope {
			t.Errorf("got %+v, want a notice of code 400", m)
		}
		c.ping()
		if k := c.count(message.ErrorResMesType); k != 0 || !c.isOpen() {
			t.Errorf("got %d ErrorResMes (open: %v), want none and the session open", k, c.isOpen())
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		classic := user(t, n.Addr, 3, "carol", 0)
		modern := user(t, n.Addr, 4, "dave", message.ProtoAck)
		n.stop(t)
		classic.waitClosed()
		modern.waitClosed()
		if code, m := nextNotice(t, classic); code != 0 || !strings.Contains(m.Content, "shutting down") {
			t.Errorf("got %+v, want a notice that the server is shutting down", m)
		}
		if k := modern.count(message.SmsMesType); k != 0 {
			t.Errorf("proto 2: got %d SmsMes, want no notice", k)
		}
	})
}
