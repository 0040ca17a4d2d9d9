// Package rediscluster is a small Redis Cluster client over redigo pools, after
// the design of github.com/mna/redisc: a slot map read with CLUSTER SLOTS, one
// pool per primary, MOVED and ASK redirections followed, and the errors of a
// cluster that is changing (TRYAGAIN, CLUSTERDOWN, a node that refuses
// connections) retried with a back-off until the request's context ends.
//
// A command is routed by one key, which the caller names: every key a command
// or a script touches must hash to that key's slot (use {hash tags}).
package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Errors of the cluster layer. A command's own error comes back as the
// redis.Error it is.
var (
	// ErrClosed is the error of a call on a closed Cluster.
	ErrClosed = errors.New("rediscluster: closed")
	// ErrNoSeeds means Config.Seeds is empty.
	ErrNoSeeds = errors.New("rediscluster: no seed address")
	// ErrUnmapped means no node serves the slot, even after a refresh of the map.
	ErrUnmapped = errors.New("rediscluster: no node serves the slot")
	// ErrNotReplicated means a command ran on its primary but fewer replicas
	// than Config.WaitReplicas acknowledged it within Config.WaitTimeout, or
	// did not run: its primary said it had fewer replicas than that.
	ErrNotReplicated = errors.New("rediscluster: not acknowledged by enough replicas")
)

// Config says how to reach a cluster.
type Config struct {
	// Seeds are host:port of some nodes of the cluster: the first map is read
	// from them, and again from them when no known node answers.
	Seeds []string
	// NewPool returns the pool of connections to one node. Nil means a plain
	// redigo pool (redis.DialContext, 16 idle connections at most).
	NewPool func(addr string) *redis.Pool
	// RetryTimeout bounds the retries of a call whose context has no deadline;
	// zero means 10 s.
	RetryTimeout time.Duration
	// WaitReplicas, if above 0, makes every pipeline to a primary that may
	// write end with WAIT WaitReplicas WaitTimeout on the same connection: its
	// writes are answered only once that many replicas have them, or fail with
	// ErrNotReplicated (they ran on the primary, but a failover may lose them).
	// Reads keep their replies. A primary with fewer replicas than WaitReplicas
	// (its replica took over from it, and none joined since) fails every write:
	// at once, unrun, if it said so when the slot map was last read
	// (countReplicas), else once WAIT times out.
	WaitReplicas int
	// WaitTimeout bounds WAIT; zero means 1 s.
	WaitTimeout time.Duration
	// MinBackoff and MaxBackoff bound the pause before a retry after TRYAGAIN,
	// CLUSTERDOWN or a refused connection; the pause doubles from one to the
	// other. Zero means 10 ms and 200 ms.
	MinBackoff, MaxBackoff time.Duration
}

// node is one primary as the slot map names it, with its pool.
type node struct {
	addr string
	pool *redis.Pool
	// replicas is the number of replicas it last said it had (countReplicas),
	// -1 until it is asked.
	replicas atomic.Int32
}

// newNode returns the node of addr, its replicas not known yet.
func (c *Cluster) newNode(addr string) *node {
	n := &node{addr: addr, pool: c.cfg.NewPool(addr)}
	n.replicas.Store(-1)
	return n
}

// Cluster routes commands to the primaries of a Redis Cluster. It is safe for
// concurrent use.
type Cluster struct {
	cfg Config

	// slots maps each slot to its primary. A read is one atomic load, so routing
	// a command takes no lock; MOVED replaces one slot, a refresh every slot.
	slots [Slots]atomic.Pointer[node]

	mu     sync.Mutex
	nodes  map[string]*node // by address, every node ever routed to, until Close
	closed bool

	refreshMu  sync.Mutex   // one refresh at a time
	refreshGen atomic.Int64 // completed refreshes, so that waiters skip a redundant one
	bgRefresh  atomic.Bool  // a background refresh is under way
	refreshed  atomic.Int64 // unix nanos of the last successful refresh
}

// New returns a cluster client for cfg. It does not connect: Refresh reads the
// first slot map, or the first command does.
func New(cfg Config) (*Cluster, error) {
	if len(cfg.Seeds) == 0 {
		return nil, ErrNoSeeds
	}
	if cfg.NewPool == nil {
		cfg.NewPool = defaultPool
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = 10 * time.Second
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 200 * time.Millisecond
	}
	return &Cluster{cfg: cfg, nodes: make(map[string]*node)}, nil
}

func defaultPool(addr string) *redis.Pool {
	return &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialContext(ctx, "tcp", addr,
				redis.DialConnectTimeout(2*time.Second),
				redis.DialReadTimeout(5*time.Second),
				redis.DialWriteTimeout(5*time.Second))
		},
		MaxIdle:     16,
		IdleTimeout: 5 * time.Minute,
	}
}

// Close closes every pool. Calls after Close fail with ErrClosed.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, n := range c.nodes {
		n.pool.Close()
	}
	return nil
}

// nodeFor returns the node of addr, creating its pool at first use.
func (c *Cluster) nodeFor(addr string) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	n := c.nodes[addr]
	if n == nil {
		n = c.newNode(addr)
		c.nodes[addr] = n
	}
	return n, nil
}

// resetNode replaces the pool of n after a network error on one of its
// connections: the node most likely died or restarted, and its idle
// connections are as broken as the one that failed. The next call dials anew.
func (c *Cluster) resetNode(n *node) {
	c.mu.Lock()
	if c.closed || c.nodes[n.addr] != n {
		c.mu.Unlock()
		return
	}
	fresh := c.newNode(n.addr)
	fresh.replicas.Store(n.replicas.Load())
	c.nodes[n.addr] = fresh
	c.mu.Unlock()
	for i := range c.slots {
		c.slots[i].CompareAndSwap(n, fresh)
	}
	n.pool.Close() // idle connections now; borrowed ones as they come back
}

// Addr returns host:port of the primary that serves key's slot, reading the
// slot map first if there is none yet.
func (c *Cluster) Addr(ctx context.Context, key string) (string, error) {
	n, err := c.route(ctx, Slot(key))
	if err != nil {
		return "", err
	}
	return n.addr, nil
}

// Primaries returns the addresses of the primaries of the current slot map, in
// the order of the slots they serve.
func (c *Cluster) Primaries(ctx context.Context) ([]string, error) {
	if _, err := c.route(ctx, 0); err != nil {
		return nil, err
	}
	var addrs []string
	seen := map[*node]bool{}
	for i := range c.slots {
		if n := c.slots[i].Load(); n != nil && !seen[n] {
			seen[n] = true
			addrs = append(addrs, n.addr)
		}
	}
	return addrs, nil
}

// route returns the primary of slot, refreshing the map when it names none.
func (c *Cluster) route(ctx context.Context, slot int) (*node, error) {
	if n := c.slots[slot].Load(); n != nil {
		return n, nil
	}
	if err := c.refreshAfter(ctx, c.refreshGen.Load()); err != nil {
		return nil, err
	}
	if n := c.slots[slot].Load(); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("%w: slot %d", ErrUnmapped, slot)
}

// Refresh reads the slot map again from the first node that answers: the known
// primaries, then the seeds.
func (c *Cluster) Refresh(ctx context.Context) error {
	return c.refreshAfter(ctx, c.refreshGen.Load())
}

// refreshAfter refreshes the map unless a refresh completed since generation
// gen was current: many callers that saw the same stale map wait for one
// refresh instead of running one each.
func (c *Cluster) refreshAfter(ctx context.Context, gen int64) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if c.refreshGen.Load() != gen {
		return nil
	}
	err := c.refresh(ctx)
	if err == nil {
		c.refreshGen.Add(1)
		c.refreshed.Store(time.Now().UnixNano())
	}
	return err
}

// refreshSoon starts a background refresh unless one runs: a MOVED already
// fixed its slot, and the rest of a resharding follows from the new map.
func (c *Cluster) refreshSoon() {
	if !c.bgRefresh.CompareAndSwap(false, true) {
		return
	}
	gen := c.refreshGen.Load()
	go func() {
		defer c.bgRefresh.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RetryTimeout)
		defer cancel()
		_ = c.refreshAfter(ctx, gen) // a failure shows again on the next command
	}()
}

func (c *Cluster) refresh(ctx context.Context) error {
	var candidates []string
	seen := map[string]bool{}
	for i := range c.slots {
		if n := c.slots[i].Load(); n != nil && !seen[n.addr] {
			seen[n.addr] = true
			candidates = append(candidates, n.addr)
		}
	}
	for _, s := range c.cfg.Seeds {
		if !seen[s] {
			seen[s] = true
			candidates = append(candidates, s)
		}
	}
	var errs []error
	for _, addr := range candidates {
		ranges, err := c.readSlots(ctx, addr)
		if err == nil && len(ranges) == 0 {
			err = errors.New("no slot assigned")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		owners := make([]*node, Slots)
		var primaries []*node
		for _, r := range ranges {
			n, err := c.nodeFor(r.primary)
			if err != nil {
				return err
			}
			if !slices.Contains(primaries, n) {
				primaries = append(primaries, n)
			}
			for s := r.start; s <= r.end && s < Slots; s++ {
				owners[s] = n
			}
		}
		c.countReplicas(ctx, primaries)
		for s, n := range owners {
			c.slots[s].Store(n) // nil for a slot no node serves now
		}
		return nil
	}
	return fmt.Errorf("rediscluster: reading the slot map: %w", errors.Join(errs...))
}

// countReplicas asks the primaries of nodes that may have fewer replicas than
// Config.WaitReplicas (they had, or were never asked: a replica a failover
// just promoted) how many they have, before the map routes to them. A primary
// short of replicas then refuses writes at once (refuseWrites): run, each
// would fail only once WAIT timed out, and a request caught by a failover
// would wait that out after the failover, on each of its round trips. A node
// that does not answer keeps its count; the asking takes WaitTimeout at most,
// as a WAIT would, so that a node that hangs holds up the map no longer.
func (c *Cluster) countReplicas(ctx context.Context, nodes []*node) {
	if c.cfg.WaitReplicas <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.WaitTimeout)
	defer cancel()
	for _, n := range nodes {
		if int(n.replicas.Load()) >= c.cfg.WaitReplicas {
			continue
		}
		if k, err := c.replicasOf(ctx, n); err == nil {
			n.replicas.Store(int32(k))
		}
	}
}

// replicasOf asks n for ROLE: the number of replicas in sync with it.
func (c *Cluster) replicasOf(ctx context.Context, n *node) (int, error) {
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	vals, err := redis.Values(redis.DoContext(conn, ctx, "ROLE"))
	if err != nil {
		return 0, err
	}
	if len(vals) < 3 {
		return 0, fmt.Errorf("ROLE: unexpected reply %v", vals)
	}
	if role, _ := redis.String(vals[0], nil); role != "master" {
		return 0, fmt.Errorf("ROLE: %s is no primary", n.addr)
	}
	replicas, err := redis.Values(vals[2], nil)
	return len(replicas), err
}

type slotRange struct {
	start, end int
	primary    string
}

// readSlots asks addr for CLUSTER SLOTS. A node that does not know its own
// address answers an empty host: it is then addr's host.
func (c *Cluster) readSlots(ctx context.Context, addr string) ([]slotRange, error) {
	n, err := c.nodeFor(addr)
	if err != nil {
		return nil, err
	}
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	vals, err := redis.Values(redis.DoContext(conn, ctx, "CLUSTER", "SLOTS"))
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	out := make([]slotRange, 0, len(vals))
	for _, v := range vals {
		fields, err := redis.Values(v, nil)
		if err != nil || len(fields) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected entry %v", v)
		}
		start, err1 := redis.Int(fields[0], nil)
		end, err2 := redis.Int(fields[1], nil)
		primary, err3 := redis.Values(fields[2], nil)
		if err := errors.Join(err1, err2, err3); err != nil || len(primary) < 2 {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected entry %v", v)
		}
		ip, _ := redis.String(primary[0], nil)
		port, err := redis.Int(primary[1], nil)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SLOTS: unexpected port %v", primary[1])
		}
		if ip == "" || ip == "?" {
			ip = host
		}
		out = append(out, slotRange{start: start, end: end, primary: net.JoinHostPort(ip, strconv.Itoa(port))})
	}
	return out, nil
}

// redirect is a MOVED or ASK reply: the slot is served by addr.
type redirect struct {
	ask  bool
	slot int
	addr string
}

// parseRedirect reads "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381",
// answered by the node at from.
func parseRedirect(e redis.Error, from string) (redirect, bool) {
	f := strings.Fields(string(e))
	if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
		return redirect{}, false
	}
	slot, err := strconv.Atoi(f[1])
	if err != nil || slot < 0 || slot >= Slots {
		return redirect{}, false
	}
	addr := f[2]
	if strings.HasPrefix(addr, ":") { // a node that does not know its host: from's
		host, _, _ := net.SplitHostPort(from)
		addr = host + addr
	}
	return redirect{ask: f[0] == "ASK", slot: slot, addr: addr}, true
}

// transient reports whether e is an error of a cluster in change, which a
// retry after a pause can get past: the command did not run.
func transient(e redis.Error) bool {
	s := string(e)
	return strings.HasPrefix(s, "TRYAGAIN") || strings.HasPrefix(s, "CLUSTERDOWN") ||
		strings.HasPrefix(s, "LOADING") || strings.HasPrefix(s, "MASTERDOWN")
}
