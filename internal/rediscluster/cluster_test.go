package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

func newClient(t *testing.T, rc *redistest.Cluster) *Cluster {
	t.Helper()
	c, err := New(Config{Seeds: rc.Seeds()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var echoScript = redis.NewScript(1, `redis.call("SET", KEYS[1], ARGV[1]) return redis.call("GET", KEYS[1])`)

func TestClusterRouting(t *testing.T) {
	rc := redistest.StartCluster(t)
	c := newClient(t, rc)
	ctx := testCtx(t, 10*time.Second)

	primaries, err := c.Primaries(ctx)
	if err != nil || len(primaries) != 3 {
		t.Fatalf("Primaries: got %v, %v, want 3 addresses", primaries, err)
	}
	t.Run("Do", func(t *testing.T) {
		for i := range 50 {
			k := fmt.Sprint("key:", i)
			if _, err := c.Do(ctx, k, "SET", k, i); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
			// Each key is where the cluster says it is.
			got, err := redis.Int(rc.PrimaryOf(t, k).Do(t, "GET", k), nil)
			if err != nil || got != i {
				t.Fatalf("GET %s on its primary: got %d, %v, want %d", k, got, err, i)
			}
			addr, err := c.Addr(ctx, k)
			if err != nil || addr != rc.PrimaryOf(t, k).Addr {
				t.Fatalf("Addr(%s): got %s, %v, want %s", k, addr, err, rc.PrimaryOf(t, k).Addr)
			}
		}
	})
	t.Run("Pipeline", func(t *testing.T) {
		var cmds []Cmd
		for i := range 200 {
			k := fmt.Sprint("p:", i)
			cmds = append(cmds, Cmd{Key: k, Name: "INCRBY", Args: []any{k, i}})
			if i%3 == 0 { // scripts among commands: the first finds no script cached
				cmds = append(cmds, Cmd{Key: k, Script: echoScript, Args: []any{k, fmt.Sprint("s", i)}})
			}
		}
		cmds = append(cmds, Cmd{Key: "p:1", Name: "HGET", Args: []any{"p:1", "f"}}) // WRONGTYPE
		res := c.Pipeline(ctx, cmds)
		if len(res) != len(cmds) {
			t.Fatalf("got %d results, want %d", len(res), len(cmds))
		}
		for j, r := range res[:len(res)-1] {
			cmd := cmds[j]
			var want any
			var got any
			if cmd.Script != nil {
				want = cmd.Args[1]
				got, _ = redis.String(r.Reply, r.Err)
			} else {
				want = int64(cmd.Args[1].(int))
				got = r.Reply
			}
			if r.Err != nil || got != want {
				t.Fatalf("command %d (%s %v): got %v, %v, want %v", j, cmd.Name, cmd.Args, got, r.Err, want)
			}
		}
		var e redis.Error
		if last := res[len(res)-1]; !errors.As(last.Err, &e) || !strings.HasPrefix(string(e), "WRONGTYPE") {
			t.Errorf("HGET on a string: got %v, %v, want WRONGTYPE", last.Reply, last.Err)
		}
	})
	t.Run("Conn", func(t *testing.T) {
		pool := c.Pool()
		defer pool.Close()
		conn, err := pool.GetContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A script by redigo's Script: EVALSHA, then EVAL on NOSCRIPT, both routed.
		script := redis.NewScript(1, `return redis.call("INCR", KEYS[1])`)
		for i := 1; i <= 2; i++ {
			if got, err := redis.Int(script.Do(conn, "{c}n")); err != nil || got != i {
				t.Fatalf("script call %d: got %d, %v, want %d", i, got, err, i)
			}
		}
		// A pipeline over several primaries keeps its order.
		for i := range 20 {
			conn.Send("SET", fmt.Sprint("c:", i), i)
		}
		for i := range 20 {
			conn.Send("GET", fmt.Sprint("c:", i))
		}
		r, err := redis.Values(conn.Do(""))
		if err != nil || len(r) != 40 {
			t.Fatalf("pipeline: got %d replies, %v, want 40", len(r), err)
		}
		for i := range 20 {
			if got, _ := redis.Int(r[20+i], nil); got != i {
				t.Errorf("GET c:%d in the pipeline: got %v, want %d", i, r[20+i], i)
			}
		}
		// Send, Flush, Receive; an error reply among them.
		conn.Send("HGET", "c:1", "f")
		conn.Send("GET", "c:2")
		if err := conn.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Receive(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
			t.Errorf("Receive HGET on a string: got %v, want WRONGTYPE", err)
		}
		if got, err := redis.Int(conn.Receive()); err != nil || got != 2 {
			t.Errorf("Receive GET c:2: got %d, %v, want 2", got, err)
		}
	})
	t.Run("DoScript", func(t *testing.T) {
		got, err := redis.String(c.DoScript(ctx, echoScript, "{s}a", "{s}a", "x"))
		if err != nil || got != "x" {
			t.Errorf("DoScript: got %q, %v, want x", got, err)
		}
	})
}

// migrate moves slot from src to dst the way redis-cli does: IMPORTING on dst,
// MIGRATING on src, the keys moved, then the slot given to dst on every primary.
// With finish false it stops after moving keys, leaving the slot migrating.
type migration struct {
	rc       *redistest.Cluster
	slot     int
	src, dst *redistest.Server
}

func (m migration) begin(t *testing.T) {
	m.dst.Do(t, "CLUSTER", "SETSLOT", m.slot, "IMPORTING", m.src.NodeID(t))
	m.src.Do(t, "CLUSTER", "SETSLOT", m.slot, "MIGRATING", m.dst.NodeID(t))
}

func (m migration) move(t *testing.T, keys ...string) {
	host, port, _ := net.SplitHostPort(m.dst.Addr)
	args := []any{host, port, "", 0, 5000, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	m.src.Do(t, "MIGRATE", args...)
}

func (m migration) finish(t *testing.T) {
	id := m.dst.NodeID(t)
	m.dst.Do(t, "CLUSTER", "SETSLOT", m.slot, "NODE", id)
	m.src.Do(t, "CLUSTER", "SETSLOT", m.slot, "NODE", id)
	for _, p := range m.rc.Primaries(t) {
		if p != m.src && p != m.dst {
			p.Do(t, "CLUSTER", "SETSLOT", m.slot, "NODE", id)
		}
	}
}

// halfMigrated sets the keys first and second, of one slot, to their names,
// and starts moving their slot to another primary: first is moved, second not.
func halfMigrated(t *testing.T, c *Cluster, rc *redistest.Cluster, first, second string) migration {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	for _, k := range []string{first, second} {
		if _, err := c.Do(ctx, k, "SET", k, k); err != nil {
			t.Fatal(err)
		}
	}
	src := rc.PrimaryOf(t, first)
	m := migration{rc, Slot(first), src, otherPrimary(t, rc, src)}
	m.begin(t)
	m.move(t, first)
	return m
}

func otherPrimary(t *testing.T, rc *redistest.Cluster, not *redistest.Server) *redistest.Server {
	for _, p := range rc.Primaries(t) {
		if p != not {
			return p
		}
	}
	t.Fatal("no other primary")
	return nil
}

func TestClusterRedirections(t *testing.T) {
	rc := redistest.StartCluster(t)
	c := newClient(t, rc)
	ctx := testCtx(t, 20*time.Second)

	t.Run("MOVED", func(t *testing.T) {
		k := "{moved}k"
		if _, err := c.Do(ctx, k, "SET", k, "v"); err != nil {
			t.Fatal(err)
		}
		src := rc.PrimaryOf(t, k)
		m := migration{rc, Slot(k), src, otherPrimary(t, rc, src)}
		m.begin(t)
		m.move(t, k)
		m.finish(t)
		// The client's map still names src: src answers MOVED.
		got, err := redis.String(c.Do(ctx, k, "GET", k))
		if err != nil || got != "v" {
			t.Fatalf("GET after the slot moved: got %q, %v, want v", got, err)
		}
		if addr, _ := c.Addr(ctx, k); addr != m.dst.Addr {
			t.Errorf("the slot's node after MOVED: got %s, want %s", addr, m.dst.Addr)
		}
	})
	t.Run("ASK", func(t *testing.T) {
		moved, stays := "{ask}moved", "{ask}stays"
		m := halfMigrated(t, c, rc, moved, stays)
		src := m.src
		// src answers ASK for the key it no longer holds, and serves the other.
		res := c.Pipeline(ctx, []Cmd{
			{Key: moved, Name: "GET", Args: []any{moved}},
			{Key: stays, Name: "GET", Args: []any{stays}},
			{Key: moved, Script: echoScript, Args: []any{moved, "new"}},
		})
		for i, want := range []string{moved, stays, "new"} {
			if got, err := redis.String(res[i].Reply, res[i].Err); err != nil || got != want {
				t.Errorf("command %d during the migration: got %q, %v, want %q", i, got, err, want)
			}
		}
		// ASK does not change the map: the slot is still src's until it is moved.
		if addr, _ := c.Addr(ctx, moved); addr != src.Addr {
			t.Errorf("the slot's node after ASK: got %s, want %s", addr, src.Addr)
		}
		m.move(t, stays)
		m.finish(t)
	})
	t.Run("TRYAGAIN", func(t *testing.T) {
		a, b := "{try}a", "{try}b"
		m := halfMigrated(t, c, rc, a, b)
		// With the keys split between two nodes, MGET gets TRYAGAIN until the
		// migration ends; then MOVED, and the reply from dst.
		type reply struct {
			vals []string
			err  error
		}
		done := make(chan reply, 1)
		go func() {
			v, err := redis.Strings(c.Do(ctx, a, "MGET", a, b))
			done <- reply{v, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("MGET during the migration: got %v, %v before it ended, want it to wait", r.vals, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		m.move(t, b)
		m.finish(t)
		r := <-done
		if r.err != nil || len(r.vals) != 2 || r.vals[0] != a || r.vals[1] != b {
			t.Errorf("MGET after the migration: got %v, %v, want [%s %s]", r.vals, r.err, a, b)
		}
	})
	t.Run("TRYAGAIN until the context ends", func(t *testing.T) {
		a, b := "{stuck}a", "{stuck}b"
		m := halfMigrated(t, c, rc, a, b)
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Do(short, a, "MGET", a, b)
		var e redis.Error
		if !errors.As(err, &e) || !strings.HasPrefix(string(e), "TRYAGAIN") || time.Since(start) > time.Second {
			t.Errorf("MGET on a migration that does not end: got %v after %v, want TRYAGAIN after about 300ms", err, time.Since(start))
		}
		m.move(t, b)
		m.finish(t)
	})
}

// A primary killed: a request on a connection to it fails, the next ones wait
// for the replica to take over, then succeed, within 5 s.
func TestClusterFailover(t *testing.T) {
	rc := redistest.StartCluster(t)
	c := newClient(t, rc)
	ctx := testCtx(t, 30*time.Second)
	k := "{fail}k"
	if _, err := c.Do(ctx, k, "SET", k, "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, k, "WAIT", 1, 5000); err != nil {
		t.Fatal(err)
	}
	p := rc.PrimaryOf(t, k)
	start := time.Now()
	p.Kill(t)
	failed := 0
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := redis.String(c.Do(rctx, k, "GET", k))
		cancel()
		if err == nil {
			if got != "v" {
				t.Errorf("GET after the failover: got %q, want v", got)
			}
			break
		}
		if failed++; failed > 1 {
			t.Fatalf("GET %d after the kill: %v; want one failure at most (the connection the kill cut)", failed, err)
		}
	}
	took := time.Since(start)
	t.Logf("served again %v after the kill (%d failed request)", took, failed)
	if took > 5*time.Second {
		t.Errorf("served again %v after the kill, want within 5s", took)
	}
	if addr, _ := c.Addr(ctx, k); addr == p.Addr {
		t.Errorf("the map still names the killed primary")
	}
}

// Slots moved to a new primary while commands flow: none fails, every value
// is found afterwards where the cluster says.
func TestClusterGrows(t *testing.T) {
	rc := redistest.StartCluster(t)
	c := newClient(t, rc)
	ctx := testCtx(t, 2*time.Minute)
	const keys = 200
	for i := range keys {
		k := fmt.Sprint("g:", i)
		if _, err := c.Do(ctx, k, "RPUSH", k, 0); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	rounds := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			var cmds []Cmd
			for i := range keys {
				k := fmt.Sprint("g:", i)
				cmds = append(cmds, Cmd{Key: k, Name: "RPUSH", Args: []any{k, n}})
			}
			for i, r := range c.Pipeline(ctx, cmds) {
				if r.Err != nil {
					select {
					case errs <- fmt.Errorf("round %d, RPUSH g:%d: %w", n, i, r.Err):
					default:
					}
					return
				}
			}
			rounds = n
			time.Sleep(2 * time.Millisecond) // a steady flow, not a flood, on a small machine
		}
	}()
	rc.AddPrimary(t)
	err := rc.RebalanceErr()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d rounds of %d RPUSH during the rebalance", rounds, keys)
	if got := len(rc.Primaries(t)); got != 4 {
		t.Fatalf("got %d primaries, want 4", got)
	}
	moved := 0
	for i := range keys {
		k := fmt.Sprint("g:", i)
		vals, err := redis.Ints(c.Do(ctx, k, "LRANGE", k, 0, -1))
		if err != nil || len(vals) != rounds+1 {
			t.Fatalf("LRANGE %s: got %d values, %v, want %d", k, len(vals), err, rounds+1)
		}
		for j, v := range vals {
			if v != j {
				t.Fatalf("LRANGE %s: got %v at %d, want %d (in order)", k, v, j, j)
			}
		}
		if rc.PrimaryOf(t, k) == rc.Nodes[len(rc.Nodes)-1] {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no key moved to the new primary")
	}
}

// waitKey is the key of the WAIT tests: set to 1 by waitingClient.
const waitKey = "{wait}k"

// waitingClient starts a cluster and a client with WaitReplicas 1 that has set
// waitKey; stop stops the replica of waitKey's primary (SIGSTOP) and returns
// the func that resumes it.
func waitingClient(t *testing.T, timeout time.Duration) (c *Cluster, stop func() (resume func())) {
	rc := redistest.StartCluster(t)
	c, err := New(Config{Seeds: rc.Seeds(), WaitReplicas: 1, WaitTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Do(testCtx(t, 10*time.Second), waitKey, "SET", waitKey, 1); err != nil {
		t.Fatalf("SET with a replica up: %v", err)
	}
	replica := rc.ReplicaOf(t, rc.PrimaryOf(t, waitKey))
	return c, func() func() {
		if err := syscall.Kill(replica.Pid(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		return func() { syscall.Kill(replica.Pid(), syscall.SIGCONT) }
	}
}

// With WaitReplicas, a write is answered once a replica has it; a replica that
// does not answer makes it fail with ErrNotReplicated, and the next succeed
// once the replica is back.
func TestClusterWait(t *testing.T) {
	c, stop := waitingClient(t, 200*time.Millisecond)
	ctx := testCtx(t, 20*time.Second)
	resume := stop()
	_, err := c.Do(ctx, waitKey, "SET", waitKey, 2)
	resume()
	if !errors.Is(err, ErrNotReplicated) {
		t.Errorf("SET with the replica stopped: got %v, want ErrNotReplicated", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.Do(ctx, waitKey, "SET", waitKey, 3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SET after the replica came back: %v", err)
		}
	}
}

// With WaitReplicas, reads stand when the replica does not answer: only writes
// wait for it.
func TestClusterWaitSparesReads(t *testing.T) {
	c, stop := waitingClient(t, 100*time.Millisecond)
	ctx := testCtx(t, 20*time.Second)
	defer stop()()
	k := waitKey
	res := c.Pipeline(ctx, []Cmd{{Key: k, Name: "GET", Args: []any{k}}, {Key: k, Name: "INCR", Args: []any{k}}, {Key: k, Name: "XRANGE", Args: []any{"{wait}s", "-", "+"}}})
	if got, err := redis.Int(res[0].Reply, res[0].Err); err != nil || got != 1 {
		t.Errorf("GET beside a write not replicated: got %d, %v, want 1", got, err)
	}
	if !errors.Is(res[1].Err, ErrNotReplicated) {
		t.Errorf("INCR not replicated: got %v, %v, want ErrNotReplicated", res[1].Reply, res[1].Err)
	}
	if res[2].Err != nil {
		t.Errorf("XRANGE beside a write not replicated: got %v", res[2].Err)
	}
	start := time.Now()
	if _, err := c.Do(ctx, k, "GET", k); err != nil || time.Since(start) > 50*time.Millisecond {
		t.Errorf("GET alone: got %v after %v, want a reply without waiting for the replica", err, time.Since(start))
	}
}

// With WaitReplicas, the replica a failover promoted has none of its own: its
// writes fail with ErrNotReplicated at once, unrun, rather than each once WAIT
// times out, its reads are served, and writes succeed again once the old
// primary is back as its replica.
func TestClusterWaitRefusesWritesOfPrimaryWithoutReplica(t *testing.T) {
	rc := redistest.StartCluster(t)
	const waitTimeout = 2 * time.Second
	c, err := New(Config{Seeds: rc.Seeds(), WaitReplicas: 1, WaitTimeout: waitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := testCtx(t, time.Minute)
	k := "{orphan}k"
	if _, err := c.Do(ctx, k, "SET", k, "v"); err != nil {
		t.Fatal(err)
	}
	p := rc.PrimaryOf(t, k)
	p.Kill(t)
	for {
		// The connections the kill cut fail first; then the write waits for
		// the failover.
		_, err := c.Do(ctx, k, "SET", k, "w")
		var netErr net.Error
		if errors.Is(err, io.EOF) || errors.As(err, &netErr) {
			continue
		}
		if !errors.Is(err, ErrNotReplicated) {
			t.Fatalf("SET after the failover: got %v, want ErrNotReplicated", err)
		}
		break
	}
	start := time.Now()
	_, err = c.Do(ctx, k, "SET", k, "w")
	if took := time.Since(start); !errors.Is(err, ErrNotReplicated) || took > waitTimeout/2 {
		t.Errorf("SET on the primary without replica: got %v after %v, want ErrNotReplicated at once", err, took)
	}
	if got, err := redis.String(c.Do(ctx, k, "GET", k)); err != nil || got != "v" {
		t.Errorf("GET on the primary without replica: got %q, %v, want v", got, err)
	}
	p.Restart(t)
	chattest.CheckFor(t, 30*time.Second, "a SET to succeed once the old primary is back as a replica", func() bool {
		_, err := c.Do(ctx, k, "SET", k, "x")
		return err == nil
	})
}
