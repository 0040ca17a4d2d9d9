package chat_test

// The test harness: real redis-server processes (internal/redistest), server nodes
// in-process or as separate processes, and a protocol client written from
// shared/PROTOCOL.md alone.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"chat/internal/chattest"
	"chat/common/frame"
	"chat/common/message"
	"chat/internal/redistest"
	"chat/server/chat"
	"chat/server/model"
)

// waitTimeout bounds every wait for something that should happen at once.
const waitTimeout = 20 * time.Second

// checkFor polls cond until it holds or timeout passes.
func checkFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is one in-process server node.
type node struct {
	Addr string
	srv  *chat.Server
	pool interface{ Close() error }
	done chan error
}

// testConfig is the configuration of test nodes: cheap bcrypt is a store setting,
// no rate limits unless a test sets them.
func testConfig(name string) chat.Config {
	cfg := chat.DefaultConfig()
	cfg.Node = name
	cfg.RatePrivate, cfg.RateGroup = 0, 0
	cfg.Heartbeat = 500 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// startNode starts a node on r, with cfg changed by mod, and stops it at cleanup.
func startNode(t testing.TB, r *redistest.Server, name string, mod func(*chat.Config)) *node {
	t.Helper()
	cfg := testConfig(name)
	if mod != nil {
		mod(&cfg)
	}
	pcfg := model.PoolConfig{Addr: r.Addr}
	pool := model.NewPool(pcfg)
	srv := chat.New(cfg, chat.Stores{
		Users:    model.NewRedisUserStore(pool, 4),
		Logins:   model.NewRedisLoginLimiter(pool, time.Minute, 5, 0),
		Presence: model.NewRedisPresence(pool),
		Inbox:    model.NewRedisInbox(pool, time.Hour, model.Retention{}),
		Rooms:    model.NewRedisRooms(pool, time.Hour, model.Retention{}),
		Bus:      model.NewRedisBus(pool, pcfg),
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Addr: l.Addr().String(), srv: srv, pool: pool, done: make(chan error, 1)}
	go func() { n.done <- srv.Serve(l) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// startTwoNodes starts nodes n1 and n2 on a new Redis, for tests of a user whose
// sessions are on different nodes.
func startTwoNodes(t testing.TB) (n1, n2 *node) {
	t.Helper()
	r := redistest.Start(t)
	return startNode(t, r, "n1", nil), startNode(t, r, "n2", nil)
}

// stop shuts the node down gracefully; calling it again does nothing.
func (n *node) stop(t testing.TB) {
	if n.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-n.done; !errors.Is(err, chat.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	n.pool.Close()
	n.srv = nil
}

// startProcess runs the server binary (chattest) with the harness's settings plus
// args, on a free port against r, waits until it accepts connections, and kills it
// at cleanup.
func startProcess(t testing.TB, r *redistest.Server, args ...string) *chattest.Process {
	t.Helper()
	return startProcessAt(t, r, chattest.FreeAddr(t), args...)
}

// startProcessAt is startProcess on addr, for a node that comes back where it was.
func startProcessAt(t testing.TB, r *redistest.Server, addr string, args ...string) *chattest.Process {
	t.Helper()
	all := append([]string{"-rate-private", "0", "-rate-group", "0", "-heartbeat", "500ms"}, args...)
	return chattest.StartServerAt(t, addr, r.Addr, all...)
}

// received is one frame a client got.
type received struct {
	Type string
	Data string
}

// client speaks the protocol over one connection. A goroutine reads every frame
// into a list; the next* methods take frames of one type from it in order.
type client struct {
	t    testing.TB
	conn net.Conn

	mu     sync.Mutex
	frames []received
	err    error // why reading stopped (io.EOF when the server closed)
}

// dial connects a client to addr; the connection is closed at t's cleanup.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	return dialOwned(t, t, addr)
}

// dialOwned is dial for a connection that outlives the subtest t: owner closes it
// at its cleanup.
func dialOwned(owner, t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(owner, t, nc)
}

// newClient starts reading frames from nc, for t; owner closes nc at its cleanup.
func newClient(owner, t testing.TB, nc net.Conn) *client {
	c := &client{t: t, conn: nc}
	go c.readLoop()
	owner.Cleanup(func() { nc.Close() })
	return c
}

func (c *client) readLoop() {
	for {
		body, err := frame.Read(c.conn, 1<<20, nil)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var env message.Message
		if err := json.Unmarshal(body, &env); err != nil {
			c.mu.Lock()
			c.err = errors.New("server sent a body that is not an envelope: " + string(body))
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, received{Type: env.Type, Data: env.Data})
		c.mu.Unlock()
	}
}

// send sends a message whose data is the JSON of payload, encoded the classic way.
func (c *client) send(typ string, payload any) {
	c.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := json.Marshal(message.Message{Type: typ, Data: string(data)})
	c.sendRaw(frame.Append(nil, body))
}

// sendRaw writes bytes as they are.
func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// take removes and returns the first frame of type typ, if any.
func (c *client) take(typ string) (received, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.frames {
		if f.Type == typ {
			c.frames = append(c.frames[:i], c.frames[i+1:]...)
			return f, true
		}
	}
	return received{}, false
}

// nextRaw waits for the next frame of type typ and returns it undecoded.
func (c *client) nextRaw(typ string) received {
	c.t.Helper()
	var f received
	checkFor(c.t, waitTimeout, "a "+typ, func() bool {
		var ok bool
		f, ok = c.take(typ)
		return ok
	})
	return f
}

// next waits for the next frame of type typ and decodes its data into v.
func (c *client) next(typ string, v any) {
	c.t.Helper()
	f := c.nextRaw(typ)
	if v != nil {
		if err := json.Unmarshal([]byte(f.Data), v); err != nil {
			c.t.Fatalf("%s data %q: %v", typ, f.Data, err)
		}
	}
}

// count returns how many frames of type typ are waiting.
func (c *client) count(typ string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f.Type == typ {
			n++
		}
	}
	return n
}

// waitClosed waits until the server closes the connection.
func (c *client) waitClosed() {
	c.t.Helper()
	checkFor(c.t, waitTimeout, "the server to close the connection", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err != nil
	})
}

// isOpen reports whether the connection still reads.
func (c *client) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil
}

func (c *client) register(id int, pwd, name string) message.RegisterResMes {
	c.t.Helper()
	c.send(message.RegisterMesType, message.RegisterMes{User: message.User{UserID: id, UserPwd: pwd, UserName: name}})
	var res message.RegisterResMes
	c.next(message.RegisterResMesType, &res)
	return res
}

func (c *client) login(id int, pwd string, proto int) message.LoginResMes {
	c.t.Helper()
	c.send(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: pwd, Proto: proto})
	var res message.LoginResMes
	c.next(message.LoginResMesType, &res)
	return res
}

// user registers id on addr and logs in a new connection as it.
func user(t testing.TB, addr string, id int, name string, proto int) *client {
	t.Helper()
	c := dial(t, addr)
	if res := c.register(id, "password", name); res.Code != message.CodeOK && res.Code != message.CodeUserExists {
		t.Fatalf("register %d: %+v", id, res)
	}
	if res := c.login(id, "password", proto); res.Code != message.CodeOK {
		t.Fatalf("login %d: %+v", id, res)
	}
	return c
}
