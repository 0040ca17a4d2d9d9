package chat_test

// The test harness: the storage of a test (the memory stores of package model, or
// a real redis-server started by internal/redistest), server nodes in-process or
// as separate processes, polling, and raw frames. The protocol client
// is in harness_client_test.go; the contract it speaks is docs/PROTOCOL.md.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/frame"
	"chat/common/message"
	"chat/internal/chattest"
	"chat/internal/redistest"
	"chat/server/chat"
	"chat/server/model"
)

// TestMain removes the binaries chattest built: the tests of node processes build the server.
func TestMain(m *testing.M) { chattest.Main(m) }

// waitTimeout bounds every wait for something that should happen at once.
const waitTimeout = 20 * time.Second

// checkFor polls cond until it holds or timeout passes, then fails t.
func checkFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	chattest.CheckFor(t, timeout, what, cond)
}

// poll is checkFor for goroutines, which must not fail the test.
func poll(timeout time.Duration, cond func() bool) bool { return chattest.Poll(timeout, cond) }

// node is one in-process server node.
type node struct {
	Addr string
	srv  *chat.Server
	done chan error
	// closeStores ends the node's hold on the storage (a Redis pool).
	closeStores func()
}

// storage is what the nodes of a test share, as a cluster shares one Redis: the
// memory stores of one model.Memory, or a redis-server.
type storage struct {
	*redistest.Server // nil on memory and on a cluster
	mem               *model.Memory
	cluster           *redistest.Cluster // with CHAT_TEST_CLUSTER=1

	inspectOnce sync.Once
	inspect     chat.Stores // stores for the test's own checks
}

// newStorage returns the storage of a test of the server's logic: memory in
// -short runs (no Redis is started), a redis-server otherwise, so that the full
// run checks the same behaviour on Redis; with CHAT_TEST_CLUSTER=1, the test
// binary's Redis Cluster, emptied (make test-cluster).
func newStorage(t testing.TB) *storage {
	t.Helper()
	switch {
	case testing.Short():
		return &storage{mem: model.NewMemory()}
	case os.Getenv("CHAT_TEST_CLUSTER") == "1":
		return &storage{cluster: redistest.SharedCluster(t)}
	}
	return needRedis(t)
}

// needRedis returns a redis-server as storage, for a test that needs Redis
// itself: it restarts or stops it, reads its keys, or runs node processes. Such
// tests are skipped in -short runs (redistest.Start).
func needRedis(t testing.TB) *storage {
	t.Helper()
	return &storage{Server: redistest.Start(t)}
}

// stores returns stores on s as a node makes them, for a test to look at what the
// server stored: the same ones on every call, ended at cleanup.
func (s *storage) stores(t testing.TB) chat.Stores {
	s.inspectOnce.Do(func() {
		var closeStores func()
		s.inspect, closeStores = s.open()
		t.Cleanup(closeStores)
	})
	return s.inspect
}

// open returns stores on s as a node makes them (bcrypt at its cheapest), and
// what ends them.
func (s *storage) open() (chat.Stores, func()) {
	if s.cluster != nil {
		pool, cl, err := model.NewClusterPool(model.ClusterConfig{Seeds: s.cluster.Seeds()})
		if err != nil {
			panic(err) // only an empty seed list fails
		}
		return redisStores(pool, model.PoolConfig{}), func() { pool.Close(); cl.Close() }
	}
	if s.Server == nil {
		return chat.Stores{
			Users:    model.NewMemoryUserStore(s.mem, 4),
			Logins:   model.NewMemoryLoginLimiter(s.mem, time.Minute),
			Rates:    model.NewMemoryRateLimiter(s.mem),
			Presence: model.NewMemoryPresence(s.mem),
			Inbox:    model.NewMemoryInbox(s.mem, time.Hour, model.Retention{}),
			Rooms:    model.NewMemoryRooms(s.mem, time.Hour, model.Retention{}),
			Bus:      model.NewMemoryBus(s.mem),
		}, func() {}
	}
	pcfg := model.PoolConfig{Addr: s.Addr}
	pool := model.NewPool(pcfg)
	return redisStores(pool, pcfg), func() { pool.Close() }
}

// redisStores are the Redis stores on pool, as a node makes them.
func redisStores(pool *redis.Pool, pcfg model.PoolConfig) chat.Stores {
	return chat.Stores{
		Users:    model.NewRedisUserStore(pool, 4),
		Logins:   model.NewRedisLoginLimiter(pool, time.Minute),
		Rates:    model.NewRedisRateLimiter(pool),
		Presence: model.NewRedisPresence(pool),
		Inbox:    model.NewRedisInbox(pool, time.Hour, model.Retention{}),
		Rooms:    model.NewRedisRooms(pool, time.Hour, model.Retention{}),
		Bus:      model.NewRedisBus(pool, pcfg),
	}
}

// putUser stores an account as written by hand, its password in plaintext: the
// course's way of adding its test user.
func (s *storage) putUser(t testing.TB, u message.User) {
	t.Helper()
	if s.cluster != nil {
		raw, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		pool, cl, err := model.NewClusterPool(model.ClusterConfig{Seeds: s.cluster.Seeds()})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		conn := pool.Get()
		defer conn.Close()
		if _, err := conn.Do("SET", fmt.Sprintf("user:{%d}", u.UserID), raw); err != nil {
			t.Fatal(err)
		}
		return
	}
	if s.Server == nil {
		model.NewMemoryUserStore(s.mem, 4).Put(u)
		return
	}
	raw, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	s.Do(t, "HSET", "users", u.UserID, raw)
}

// testConfig is the configuration of test nodes: cheap bcrypt is a store setting,
// no rate limits unless a test sets them.
func testConfig(name string) chat.Config {
	cfg := chat.DefaultConfig()
	cfg.Node = name
	cfg.RatePrivate, cfg.RateGroup = 0, 0
	// Tests register and log in many users from one address, over and over.
	cfg.RegistrationsPerAddr, cfg.LoginsPerUser, cfg.LoginFailuresPerAddr = 0, 0, 0
	cfg.Heartbeat = 500 * time.Millisecond
	// Tests log many users in at once, with the race detector slowing bcrypt: only
	// the tests of the password pool's limit should see it turn logins away.
	cfg.PasswordWait = waitTimeout
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// startNode starts a node on r, with cfg changed by mod, and stops it at cleanup.
func startNode(t testing.TB, r *storage, name string, mod func(*chat.Config)) *node {
	t.Helper()
	cfg := testConfig(name)
	if mod != nil {
		mod(&cfg)
	}
	st, closeStores := r.open()
	srv := chat.New(cfg, st)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Addr: l.Addr().String(), srv: srv, done: make(chan error, 1), closeStores: closeStores}
	go func() { n.done <- srv.Serve(l) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// startOneNode starts new storage and the node n1 on it with the test config.
func startOneNode(t testing.TB) (*storage, *node) {
	t.Helper()
	r := newStorage(t)
	return r, startNode(t, r, "n1", nil)
}

// startTwoNodes starts nodes n1 and n2 on new storage, for tests of a user whose
// sessions are on different nodes.
func startTwoNodes(t testing.TB) (n1, n2 *node) {
	t.Helper()
	r := newStorage(t)
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
	n.closeStores()
	n.srv = nil
}

// startProcess runs the server binary (chattest) with the harness's settings plus
// args, on a free port against r, waits until it accepts connections, and kills it
// at cleanup.
func startProcess(t testing.TB, r *storage, args ...string) *chattest.Process {
	t.Helper()
	return startProcessAt(t, r, chattest.FreeAddr(t), args...)
}

// startProcessAt is startProcess on addr, for a node that comes back where it was.
func startProcessAt(t testing.TB, r *storage, addr string, args ...string) *chattest.Process {
	t.Helper()
	if r.Server == nil {
		t.Fatal("a node process needs Redis: the test must take its storage from needRedis")
	}
	all := append([]string{"-rate-private", "0", "-rate-group", "0", "-heartbeat", "500ms",
		"-registrations-per-address", "0", "-logins-per-user", "0", "-login-failures-per-address", "0"}, args...)
	return chattest.StartServerAt(t, addr, r.Addr, all...)
}

// startProcessWithMetrics is startProcess with -metrics-addr, once /metrics
// answers (the metrics endpoint may start listening after the chat port); it
// returns the metrics address too.
func startProcessWithMetrics(t testing.TB, r *storage, args ...string) (*chattest.Process, string) {
	t.Helper()
	addr := chattest.FreeAddr(t)
	p := startProcess(t, r, append([]string{"-metrics-addr", addr}, args...)...)
	checkFor(t, waitTimeout, "the metrics endpoint to answer", func() bool {
		res, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	return p, addr
}

// httpGet returns the body of a GET of url that answered 200.
func httpGet(t testing.TB, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, res.StatusCode, err)
	}
	return string(b)
}

// rawFrame frames a body given as text, as is.
func rawFrame(body string) []byte { return frame.Append(nil, []byte(body)) }

// envelopeFrame returns the frame of an envelope whose data string holds data
// byte for byte, so that data may hold what json.Marshal would never write
// (invalid UTF-8, malformed JSON): only quotes, backslashes and control bytes are
// escaped, as a JSON string needs.
func envelopeFrame(typ, data string) []byte {
	b := []byte(`{"type":"` + typ + `","data":"`)
	for i := 0; i < len(data); i++ {
		switch ch := data[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch < 0x20:
			b = fmt.Appendf(b, `\u%04x`, ch)
		default:
			b = append(b, ch)
		}
	}
	return frame.Append(nil, append(b, `"}`...))
}
