package main

// The fake-server harness of the client's unit tests: a UI over a fake terminal
// (lineFeed, syncBuffer) whose every dial is answered by a peer the test drives.

import (
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

// seeAll waits until the output contains each of wants.
func (h *harness) seeAll(wants ...string) {
	h.t.Helper()
	for _, want := range wants {
		h.see(want)
	}
}

// seeOnce checks the output holds s exactly once.
func (h *harness) seeOnce(s string) {
	h.t.Helper()
	if got := strings.Count(h.out.String(), s); got != 1 {
		h.t.Errorf("got %q %d times, want once:\n%s", s, got, h.out)
	}
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

// expectAcks reads one AckMes per id from the client, each acknowledging that id alone.
func (p *peer) expectAcks(ids ...string) {
	p.t.Helper()
	for _, want := range ids {
		var ack message.AckMes
		p.expect(message.AckMesType, &ack)
		if len(ack.MsgIDs) != 1 || ack.MsgIDs[0] != want {
			p.t.Errorf("AckMes: got %v, want [%s]", ack.MsgIDs, want)
		}
	}
}

// noConnections checks the client never dialled.
func (h *harness) noConnections() {
	h.t.Helper()
	if n := len(h.peers); n != 0 {
		h.t.Errorf("got %d connections, want none", n)
	}
}
