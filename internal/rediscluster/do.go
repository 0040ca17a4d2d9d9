package rediscluster

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Cmd is one command, or one script call, routed by Key.
type Cmd struct {
	// Key names the slot whose primary runs the command: every key the command
	// touches must hash to the same slot.
	Key string
	// Name is the command (SET, XADD...), unless Script is set.
	Name string
	// Script, if set, is run by EVALSHA, and by EVAL where the node answers
	// NOSCRIPT (a primary promoted in a failover has an empty script cache).
	Script *redis.Script
	// Args are the command's arguments; for a script, its keys then its
	// arguments, as redis.Script.Do takes them.
	Args []any
}

// Result is the reply to one Cmd of a pipeline: Err is a redis.Error for an
// error reply, another error when the command could not be run or its reply
// was lost.
type Result struct {
	Reply any
	Err   error
}

// maxRedirects bounds the MOVED and ASK one command follows: a map that keeps
// changing under it is a cluster in trouble, not one being resharded.
const maxRedirects = 16

// Do runs one command on the primary of key's slot. It follows MOVED and ASK,
// and retries after TRYAGAIN, CLUSTERDOWN or a connection refused, with a
// back-off, until ctx ends (or Config.RetryTimeout passes, for a ctx without a
// deadline). A network error on a command that was sent is returned as it is:
// the command may have run, and only the caller knows whether it may run twice.
func (c *Cluster) Do(ctx context.Context, key, name string, args ...any) (any, error) {
	r := c.Pipeline(ctx, []Cmd{{Key: key, Name: name, Args: args}})
	return r[0].Reply, r[0].Err
}

// DoScript runs script on the primary of key's slot, as Do runs a command.
func (c *Cluster) DoScript(ctx context.Context, script *redis.Script, key string, keysAndArgs ...any) (any, error) {
	r := c.Pipeline(ctx, []Cmd{{Key: key, Script: script, Args: keysAndArgs}})
	return r[0].Reply, r[0].Err
}

// Pipeline runs cmds, split per primary: one pipeline to each primary that
// serves some of them, all at once, and returns their results in the order of
// cmds. The commands sent to one primary run in their order; commands
// redirected or retried (see Do) run after the others of their round, still in
// their order.
func (c *Cluster) Pipeline(ctx context.Context, cmds []Cmd) []Result {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RetryTimeout)
		defer cancel()
	}
	res := make([]Result, len(cmds))
	st := make([]cmdState, len(cmds))
	pending := make([]int, len(cmds))
	for i := range cmds {
		pending[i] = i
		st[i].slot = Slot(cmds[i].Key)
	}
	backoff := c.cfg.MinBackoff
	for len(pending) > 0 {
		gen := c.refreshGen.Load()
		groups := c.group(ctx, pending, st, res)
		c.runGroups(ctx, cmds, st, res, groups)
		next := pending[:0]
		pause := false
		for _, i := range pending {
			if c.retry(ctx, &st[i], &res[i], &pause) {
				next = append(next, i)
			}
		}
		pending = next
		if len(pending) == 0 {
			break
		}
		if pause {
			if !sleep(ctx, backoff) {
				break // each keeps the error that made it wait
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
			_ = c.refreshAfter(ctx, gen) // a map that cannot be read now shows in the next round
		}
	}
	return res
}

// cmdState is where one command of a pipeline stands.
type cmdState struct {
	slot      int
	ask       string // the node of an ASK to follow in the next round
	redirects int
	node      *node // where it ran, or was to run, in this round
	unsent    bool  // it did not reach node (no connection), so it did not run
}

// group sorts pending by the node each runs on in this round, keeping their
// order within a node. A command whose slot has no node gets ErrUnmapped.
func (c *Cluster) group(ctx context.Context, pending []int, st []cmdState, res []Result) map[*node][]int {
	groups := make(map[*node][]int)
	for _, i := range pending {
		s := &st[i]
		var n *node
		var err error
		if s.ask != "" {
			n, err = c.nodeFor(s.ask)
		} else {
			n, err = c.route(ctx, s.slot)
		}
		s.node, s.unsent = n, err != nil
		if err != nil {
			res[i] = Result{Err: err}
			continue
		}
		groups[n] = append(groups[n], i)
	}
	return groups
}

// runGroups runs each group's pipeline, the groups side by side.
func (c *Cluster) runGroups(ctx context.Context, cmds []Cmd, st []cmdState, res []Result, groups map[*node][]int) {
	if len(groups) == 1 {
		for n, idx := range groups {
			c.runGroup(ctx, n, cmds, st, res, idx)
		}
		return
	}
	done := make(chan struct{}, len(groups))
	for n, idx := range groups {
		go func() {
			c.runGroup(ctx, n, cmds, st, res, idx)
			done <- struct{}{}
		}()
	}
	for range groups {
		<-done
	}
}

// runGroup runs the commands idx on one connection to n, in one round trip,
// then again by EVAL those of its scripts that n did not know.
func (c *Cluster) runGroup(ctx context.Context, n *node, cmds []Cmd, st []cmdState, res []Result, idx []int) {
	if r := n.replicas.Load(); r >= 0 && int(r) < c.cfg.WaitReplicas {
		if idx = c.refuseWrites(cmds, res, idx); len(idx) == 0 {
			return
		}
	}
	conn, err := n.pool.GetContext(ctx)
	if err != nil {
		for _, i := range idx {
			res[i] = Result{Err: err}
			st[i].unsent = true
		}
		return
	}
	defer conn.Close()
	for _, i := range idx {
		if err = send(conn, cmds[i], st[i].ask != "", false); err != nil {
			break
		}
	}
	wait := false
	for _, i := range idx {
		wait = wait || c.cfg.WaitReplicas > 0 && writes(cmds[i])
	}
	if err == nil && wait {
		err = conn.Send("WAIT", c.cfg.WaitReplicas, c.cfg.WaitTimeout.Milliseconds())
	}
	var replies []any
	if err == nil {
		replies, err = redis.Values(redis.DoContext(conn, ctx, ""))
	}
	if err != nil {
		for _, i := range idx {
			res[i] = Result{Err: err}
		}
		if ctx.Err() == nil {
			c.resetNode(n)
			c.refreshSoon()
		}
		return
	}
	k := 0
	for _, i := range idx {
		if st[i].ask != "" {
			k++ // the reply to ASKING
		}
		res[i] = reply(replies[k])
		k++
	}
	acked := !wait || c.replicated(replies[k])
	retried := false
	for _, i := range idx {
		if e, ok := res[i].Err.(redis.Error); !ok || cmds[i].Script == nil || !strings.HasPrefix(string(e), "NOSCRIPT") {
			continue
		}
		retried = true
		if err := send(conn, cmds[i], st[i].ask != "", true); err != nil {
			res[i] = Result{Err: err}
			continue
		}
		rs, err := redis.Values(redis.DoContext(conn, ctx, ""))
		if err != nil {
			res[i] = Result{Err: err}
			continue
		}
		res[i] = reply(rs[len(rs)-1])
	}
	if wait && retried {
		// The scripts run again by EVAL wrote after the WAIT: wait for them too.
		r, err := redis.DoContext(conn, ctx, "WAIT", c.cfg.WaitReplicas, c.cfg.WaitTimeout.Milliseconds())
		acked = err == nil && c.replicated(r)
	}
	if !acked {
		for _, i := range idx {
			if res[i].Err == nil && writes(cmds[i]) {
				res[i] = Result{Err: ErrNotReplicated}
			}
		}
	}
}

// refuseWrites fails the writes of idx with ErrNotReplicated, unrun, and
// returns the others: their primary said it has fewer replicas than WAIT needs
// (a failover promoted its only one), and each would wait out WaitTimeout to
// fail. The map is read again meanwhile, at most once per WaitTimeout, and
// the primary asked again (countReplicas), to learn of a replica that joins.
func (c *Cluster) refuseWrites(cmds []Cmd, res []Result, idx []int) []int {
	var reads []int
	for _, i := range idx {
		if writes(cmds[i]) {
			res[i] = Result{Err: ErrNotReplicated}
		} else {
			reads = append(reads, i)
		}
	}
	if time.Since(time.Unix(0, c.refreshed.Load())) > c.cfg.WaitTimeout {
		c.refreshSoon()
	}
	return reads
}

// readOnly are the commands that change no data: a pipeline of them alone
// waits for no replica, and their replies stand whatever WAIT answers. Pub/sub
// is among them: a message published is not kept.
var readOnly = map[string]bool{
	"GET": true, "MGET": true, "EXISTS": true, "TTL": true, "PTTL": true, "TYPE": true, "STRLEN": true,
	"HGET": true, "HMGET": true, "HGETALL": true, "HEXISTS": true, "HLEN": true, "HKEYS": true, "HVALS": true,
	"ZRANGE": true, "ZREVRANGE": true, "ZCARD": true, "ZSCORE": true, "ZRANK": true, "ZCOUNT": true, "ZRANGEBYSCORE": true,
	"SMEMBERS": true, "SISMEMBER": true, "SCARD": true, "LRANGE": true, "LLEN": true,
	"XRANGE": true, "XREVRANGE": true, "XLEN": true, "XINFO": true, "XREAD": true,
	"PING": true, "TIME": true, "ECHO": true, "INFO": true, "CLUSTER": true, "KEYS": true, "SCAN": true, "DBSIZE": true,
	"EVAL_RO": true, "EVALSHA_RO": true, "WAIT": true, "PUBLISH": true, "SPUBLISH": true,
}

// writes reports whether cmd may change data: a script always may.
func writes(cmd Cmd) bool {
	return cmd.Script != nil || !readOnly[strings.ToUpper(cmd.Name)]
}

// replicated reads WAIT's reply: whether enough replicas acknowledged.
func (c *Cluster) replicated(r any) bool {
	n, err := redis.Int(r, nil)
	return err == nil && n >= c.cfg.WaitReplicas
}

// send writes cmd to conn's buffer, after ASKING if asking; a script by its
// hash, or by its text if eval.
func send(conn redis.Conn, cmd Cmd, asking, eval bool) error {
	if asking {
		if err := conn.Send("ASKING"); err != nil {
			return err
		}
	}
	switch {
	case cmd.Script == nil:
		return conn.Send(cmd.Name, cmd.Args...)
	case eval:
		return cmd.Script.Send(conn, cmd.Args...)
	default:
		return cmd.Script.SendHash(conn, cmd.Args...)
	}
}

func reply(r any) Result {
	if e, ok := r.(redis.Error); ok {
		return Result{Err: e}
	}
	return Result{Reply: r}
}

// retry decides whether the command of s, with result r, runs again in the
// next round: it does after a redirection, a transient error or a failed
// connection, while ctx lasts. It sets *pause when the next round should wait.
func (c *Cluster) retry(ctx context.Context, s *cmdState, r *Result, pause *bool) bool {
	asked := s.ask != ""
	s.ask = ""
	if ctx.Err() != nil {
		return false
	}
	if s.unsent {
		if errors.Is(r.Err, ErrClosed) {
			return false
		}
		*pause = true
		return true
	}
	var e redis.Error
	if !errors.As(r.Err, &e) {
		return false
	}
	if rd, ok := parseRedirect(e, s.node.addr); ok {
		if s.redirects++; s.redirects > maxRedirects {
			return false
		}
		if rd.ask {
			if asked {
				return false // ASK is followed once
			}
			s.ask = rd.addr
			return true
		}
		c.moved(rd)
		return true
	}
	if transient(e) {
		*pause = true
		return true
	}
	return false
}

// moved points the slot of a MOVED at its new node at once, and refreshes the
// rest of the map in the background: a resharding moves many slots.
func (c *Cluster) moved(rd redirect) {
	n, err := c.nodeFor(rd.addr)
	if err != nil {
		return
	}
	c.slots[rd.slot].Store(n)
	c.refreshSoon()
}

// sleep waits d, or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
