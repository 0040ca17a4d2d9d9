package chat_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"chat/common/frame"
	"chat/common/message"
	"chat/internal/chattest"
	"chat/server/chat"
	"chat/server/model"
)

// rawConn is a client connection without a reading goroutine: it reads only when
// the test asks, so that it can stop reading, and it holds little memory of its
// own, so that the test process's heap is mostly the server's. Frames it reads are
// held to the protocol's limit: a larger one is an error. The methods that return
// an error may run on any goroutine; the others fail the test.
type rawConn struct {
	wire
	br *bufio.Reader
}

// tryDialRaw connects to addr; the connection is closed at t's cleanup.
func tryDialRaw(t testing.TB, addr string) (*rawConn, error) {
	nc, err := dialTCP(t, addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{wire: wire{t: t, conn: nc}, br: bufio.NewReaderSize(nc, 64)}, nil
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	r, err := tryDialRaw(t, addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// read returns the next frame's envelope.
func (r *rawConn) read() (message.Message, error) {
	r.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	defer r.conn.SetReadDeadline(time.Time{})
	body, err := frame.Read(r.br, message.MaxFrame, nil)
	if err != nil {
		return message.Message{}, err
	}
	return message.Decode(body)
}

// await skips frames until one of type typ and decodes its data into v.
func (r *rawConn) await(typ string, v any) error {
	for {
		m, err := r.read()
		if err != nil {
			return fmt.Errorf("waiting for a %s: %w", typ, err)
		}
		if m.Type == typ {
			if v == nil {
				return nil
			}
			return message.Unpack(m, v)
		}
	}
}

func (r *rawConn) expect(typ string, v any) {
	r.t.Helper()
	if err := r.await(typ, v); err != nil {
		r.t.Fatal(err)
	}
}

// awaitClosed reads until the server closes the connection.
func (r *rawConn) awaitClosed() error {
	for {
		if _, err := r.read(); err != nil {
			if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset") {
				return nil
			}
			return fmt.Errorf("got %v, want the connection closed by the server", err)
		}
	}
}

func (r *rawConn) expectClosed() {
	r.t.Helper()
	if err := r.awaitClosed(); err != nil {
		r.t.Fatal(err)
	}
}

// tryLogin registers id and logs in as it with proto 2.
func (r *rawConn) tryLogin(id int) error {
	reg := message.RegisterMes{User: message.User{UserID: id, UserPwd: password, UserName: fmt.Sprint("u", id)}}
	if err := r.request(message.RegisterMesType, reg, message.RegisterResMesType, nil); err != nil {
		return err
	}
	var res message.LoginResMes
	if err := r.request(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: password, Proto: message.ProtoAck}, message.LoginResMesType, &res); err != nil {
		return err
	}
	if res.Code != message.CodeOK {
		return fmt.Errorf("login %d: %+v", id, res)
	}
	return nil
}

// request sends typ with payload and awaits the next resType, decoded into res.
func (r *rawConn) request(typ string, payload any, resType string, res any) error {
	if err := r.write(typ, payload); err != nil {
		return err
	}
	return r.await(resType, res)
}

func (r *rawConn) login(id int) {
	r.t.Helper()
	if err := r.tryLogin(id); err != nil {
		r.t.Fatal(err)
	}
}

// paddedPing returns a PingMes frame whose body is exactly n bytes.
func paddedPing(t testing.TB, n int) []byte {
	head := `{"type":"PingMes","data":"{}","pad":"`
	pad := n - len(head) - len(`"}`)
	if pad < 0 {
		t.Fatalf("a PingMes cannot be %d bytes", n)
	}
	return frame.Append(nil, []byte(head+strings.Repeat("x", pad)+`"}`))
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// parallel runs fn(i) for i in [0, n) on a few goroutines and fails t with the
// first error.
func parallel(t testing.TB, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

func TestFrameLimitBeforeLogin(t *testing.T) {
	_, n := startOneNode(t)
	tests := []struct {
		name  string
		login bool
		bytes []byte
		want  int // 0: PongMes; otherwise the ErrorResMes code, then the close
	}{
		{"4096 bytes before login", false, paddedPing(t, 4096), 0},
		{"4097 bytes before login", false, paddedPing(t, 4097), message.CodeTooLarge},
		{"65536 announced before login", false, binary.BigEndian.AppendUint32(nil, 65536), message.CodeTooLarge},
		{"4097 bytes after login", true, paddedPing(t, 4097), 0},
		{"65536 bytes after login", true, paddedPing(t, 65536), 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, n.Addr)
			if tt.login {
				c.login(100 + i)
			}
			c.sendRaw(tt.bytes)
			if tt.want == 0 {
				c.expect(message.PongMesType, nil)
				c.send(message.PingMesType, message.PingMes{})
				c.expect(message.PongMesType, nil)
				return
			}
			var e message.ErrorResMes
			c.expect(message.ErrorResMesType, &e)
			if e.Code != tt.want {
				t.Errorf("got %+v, want code %d", e, tt.want)
			}
			c.expectClosed()
		})
	}
}

// TestStalledFramesCostWhatArrived opens many connections that announce a large
// frame, send a little of it and stall, and measures what the node's heap grew by
// (client and server share the process; the raw clients hold little).
func TestStalledFramesCostWhatArrived(t *testing.T) {
	r := newStorage(t)
	// No presence notices: the logged-in clients do not read.
	n := startNode(t, r, "n1", func(c *chat.Config) { c.PresenceLimit = 0 })
	tests := []struct {
		name     string
		conns    int
		login    bool
		announce uint32
		sent     int
		closed   bool // the server refuses the frame and closes
	}{
		{"before login, 64 KiB announced", 2000, false, 65536, 100, true},
		{"before login, 4 KiB announced", 2000, false, 4096, 100, false},
		{"logged in, 64 KiB announced", 300, true, 65536, 1000, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := make([]*rawConn, tt.conns)
			parallel(t, tt.conns, func(j int) (err error) {
				if conns[j], err = tryDialRaw(t, n.Addr); err != nil || !tt.login {
					return err
				}
				return conns[j].tryLogin(10000*(i+1) + j)
			})
			before := liveHeap()
			// A PingMes first: once its PongMes is back, the server has read past it
			// into the stalled frame (both came in one write).
			stall := append(paddedPing(t, 64), binary.BigEndian.AppendUint32(nil, tt.announce)...)
			stall = append(stall, strings.Repeat("x", tt.sent)...)
			parallel(t, tt.conns, func(j int) error {
				if _, err := conns[j].conn.Write(stall); err != nil {
					return err
				}
				if err := conns[j].await(message.PongMesType, nil); err != nil || !tt.closed {
					return err
				}
				var e message.ErrorResMes
				if err := conns[j].await(message.ErrorResMesType, &e); err != nil {
					return err
				}
				if e.Code != message.CodeTooLarge {
					return fmt.Errorf("got %+v, want code 413", e)
				}
				return conns[j].awaitClosed()
			})
			grew := int64(liveHeap()) - int64(before)
			per := grew / int64(tt.conns)
			t.Logf("%d connections stalled with %d of %d bytes: heap %+d bytes, %d per connection", tt.conns, tt.sent, tt.announce, grew, per)
			// What arrived, twice at most (the buffer doubles), and a first step.
			if bound := int64(2*tt.sent + 2048); per > bound {
				t.Errorf("got %d bytes of heap per stalled connection, want at most %d", per, bound)
			}
			for _, c := range conns {
				c.conn.Close()
			}
		})
	}
}

// TestIdleSessionsWaitOnSmallStacks checks that a session waiting for its next
// frame does not keep the stack that handling its frames grew: a node's stack
// memory per idle session must stay near a fresh goroutine's 2 KiB, where a
// goroutine that handled a login and waits itself would keep 4 KiB
// (transport.Conn.Idle, and WaitFrame for a reader that Idle kept).
// The node is a process of its own, so that its stacks are all there is to count.
func TestIdleSessionsWaitOnSmallStacks(t *testing.T) {
	const sessions = 300
	want := 3 << 10
	if chattest.RaceEnabled {
		want *= 2 // the race detector's instrumentation doubles every stack
	}
	r := needRedis(t)
	p, metricsAddr := startProcessWithMetrics(t, r, "-presence-limit", "-1")
	before := stacksInUse(t, metricsAddr)
	conns := make([]*rawConn, sessions)
	parallel(t, sessions, func(j int) (err error) {
		if conns[j], err = tryDialRaw(t, p.Addr); err != nil {
			return err
		}
		return conns[j].tryLogin(j + 1)
	})
	// A goroutine starts with the average stack of the last collection: once the
	// sessions wait, that is a waiting reader's. Then each handles a frame again.
	collect(t, metricsAddr)
	parallel(t, sessions, func(j int) error {
		return conns[j].request(message.PingMesType, message.PingMes{}, message.PongMesType, nil)
	})
	// A reader that handled a frame shortly after moving on waits on its stack
	// until the end of that interval, then moves on after all.
	per := 0
	checkFor(t, 10*time.Second, "the idle sessions to wait on small stacks", func() bool {
		per = (stacksInUse(t, metricsAddr) - before) / sessions
		return per <= want
	})
	t.Logf("%d idle sessions: %d bytes of stack each", sessions, per)
}

// stacksInUse returns the goroutine stacks of the server process whose metrics
// and pprof are on addr, after the collections that shrink what can shrink (each
// halves a stack at most once).
func stacksInUse(t testing.TB, addr string) int {
	t.Helper()
	collect(t, addr)
	return int(metricIn(t, httpGet(t, "http://"+addr+"/metrics"), "go_memstats_stack_inuse_bytes"))
}

// collect has the server process whose pprof is on addr run four collections.
func collect(t testing.TB, addr string) {
	t.Helper()
	for range 4 {
		httpGet(t, "http://"+addr+"/debug/pprof/heap?gc=1")
	}
}

func TestMaxConns(t *testing.T) {
	const maxConns = 3
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.MaxConns = maxConns })
	alice := dialRaw(t, n.Addr)
	alice.login(1)
	held := []*rawConn{dialRaw(t, n.Addr), dialRaw(t, n.Addr)}
	for _, c := range held { // accepted and served
		c.send(message.PingMesType, message.PingMes{})
		c.expect(message.PongMesType, nil)
	}

	const extra = 5
	for range extra {
		c := dialRaw(t, n.Addr)
		c.send(message.PingMesType, message.PingMes{})
		c.expectClosed() // at once, without an answer
	}
	// The session already there still works.
	alice.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: 10})
	var page message.OnlineUsersResMes
	alice.expect(message.OnlineUsersResMesType, &page)
	if page.Code != message.CodeOK || page.Total != 1 {
		t.Errorf("online list: got %+v, want alice only", page)
	}
	if got := metric(t, n.srv, "chat_connections_refused_total"); got != extra {
		t.Errorf("chat_connections_refused_total: got %v, want %d", got, extra)
	}
	// A connection that goes makes room for one more.
	held[0].conn.Close()
	checkFor(t, waitTimeout, "a connection accepted once one went", func() bool {
		c := dialRaw(t, n.Addr)
		defer c.conn.Close()
		c.send(message.PingMesType, message.PingMes{})
		m, err := c.read()
		return err == nil && m.Type == message.PongMesType
	})
}

// metric returns the value of an unlabelled metric of srv's /metrics.
func metric(t testing.TB, srv *chat.Server, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return metricIn(t, rec.Body.String(), name)
}

// metricIn returns the value of an unlabelled metric in a /metrics page.
func metricIn(t testing.TB, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		var v float64
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestNothingOverTheFrameLimitGoesOut asks for answers that would repeat or list
// long, heavily escaped text, and reads them with the protocol's frame limit.
func TestNothingOverTheFrameLimitGoesOut(t *testing.T) {
	r, n := startOneNode(t)
	c := dialRaw(t, n.Addr)
	c.login(1)

	t.Run("a page of 500 users with long escaped names", func(t *testing.T) {
		// 500 users online under 32-character names that JSON escapes, then the
		// envelope escapes again: 4 bytes or more a character.
		presence := r.stores(t).Presence
		name := strings.Repeat(`"\`, 16)
		for id := 2; id <= 501; id++ {
			s := model.Session{Node: "n1", ID: fmt.Sprint("s", id), Name: name}
			if _, err := presence.Claim(context.Background(), id, s, 1); err != nil {
				t.Fatal(err)
			}
		}
		listed := 0
		for offset := 0; offset < 501; {
			c.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: offset, Limit: 500})
			var page message.OnlineUsersResMes
			c.expect(message.OnlineUsersResMesType, &page) // fails on a frame over the limit
			if page.Code != message.CodeOK || page.Total != 501 || len(page.Users) == 0 {
				t.Fatalf("page at %d: got code %d, total %d, %d users, want 200, 501 and some", offset, page.Code, page.Total, len(page.Users))
			}
			if offset == 0 && len(page.Users) == 500 {
				t.Errorf("got 500 users in the first page, which cannot fit in %d bytes", message.MaxFrame)
			}
			for _, u := range page.Users {
				if u.UserID != offset+1 || u.UserID > 1 && u.UserName != name {
					t.Fatalf("got %+v at offset %d", u, offset)
				}
				offset++
			}
			listed += len(page.Users)
		}
		if listed != 501 {
			t.Errorf("got %d users over the pages, want 501", listed)
		}
	})
	t.Run("an unknown type of 60,000 bytes that escape", func(t *testing.T) {
		// '<' travels as itself in the request; escaped twice in a response it may
		// take 7 bytes.
		typ := strings.Repeat("<", 60000)
		c.sendRaw(envelopeFrame(typ, "{}"))
		var e message.ErrorResMes
		c.expect(message.ErrorResMesType, &e)
		if e.Code != message.CodeBadEnvelope || len(e.RefType) == 0 || len(e.RefType) > 64 || !strings.HasPrefix(typ, e.RefType) {
			t.Errorf("got code %d and a refType of %d bytes, want 400 and the type's first bytes (at most 64)", e.Code, len(e.RefType))
		}
	})
	t.Run("a clientMsgId of 60,000 bytes that escape", func(t *testing.T) {
		data := `{"toUserId":1,"content":"x","clientMsgId":"` + strings.Repeat("<", 60000) + `"}`
		c.sendRaw(envelopeFrame(message.PrivateMesType, data))
		var res message.PrivateResMes
		c.expect(message.PrivateResMesType, &res)
		if res.Code != message.CodeTooLarge || len(res.ClientMsgID) > message.MaxClientMsgID {
			t.Errorf("got code %d and a clientMsgId of %d bytes, want 413 and at most %d", res.Code, len(res.ClientMsgID), message.MaxClientMsgID)
		}
	})
	c.send(message.PingMesType, message.PingMes{})
	c.expect(message.PongMesType, nil)
}
