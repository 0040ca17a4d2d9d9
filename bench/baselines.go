package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// The baselines are what Redis itself does with the same work, measured in the same
// run against the same Redis as the server:
//
//   - streams (durable, the p2p target): each sender XADDs to its receiver's stream
//     (the reply is the acknowledgement), each receiver XREAD BLOCKs, decodes the
//     JSON payloads and XDELs what it read. Same pairs, window and sizes as p2p.
//   - pub/sub (a reference, not durable): see redisBaseline.
//   - redis-fanout (the fan-out target): PUBLISH to as many subscribers as fan-out
//     has receivers, in the same worker processes, decoding the same frame bodies.

// streamsBaseline runs the p2p shape on Redis streams.
func streamsBaseline(ctx context.Context, addr string, o *opts, redisPID int) (pairResult, error) {
	prefix := fmt.Sprintf("bench:s:%d:", rand.IntN(1<<30))
	n := o.users
	ps, senders, receivers, err := dialStreamPairs(addr, n)
	defer closeConns(senders, receivers)
	if err != nil {
		return pairResult{}, err
	}
	defer deleteStreams(addr, prefix, n)
	winTo := openWindow(ps, o)
	var sent atomic.Int64
	var stop atomic.Bool
	var wg, readers sync.WaitGroup
	var firstErr atomic.Value
	fail := func(err error) {
		if !stop.Load() {
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	for i := range n {
		p := ps[i]
		key := prefix + strconv.Itoa(i)
		readers.Add(1)
		go func(rc redis.Conn) {
			defer readers.Done()
			readStreamLoop(rc, key, p, 100, &stop, fail)
		}(receivers[i])
		expect := make(chan struct{}, o.inflight+1)
		wg.Add(2)
		go func(sc redis.Conn) { // XADD replies: the acknowledgements
			defer wg.Done()
			for range expect {
				_, err := redis.String(sc.Receive())
				if err != nil {
					fail(err)
				}
				p.response(err == nil, "")
			}
		}(senders[i])
		go func(sc redis.Conn) { // sender
			defer wg.Done()
			defer close(expect)
			p.sendLoop(ctx, winTo, &sent, func(seq int) error {
				payload, err := streamPayload(p, makeContent("P", seq, o.size))
				if err != nil {
					return err
				}
				return sendExpected(sc, expect, fail, "XADD", key, "*", "m", payload)
			})
		}(senders[i])
	}
	redisCPU := measureWindowCPU(ctx, o, redisPID)
	wg.Wait()
	waitSettled(ctx, ps, &sent, o.drain)
	stop.Store(true)
	readers.Wait()
	return baselineResult(ps, &sent, o, redisCPU(), &firstErr), nil
}

// dialStreamPairs opens a sender's and a receiver's connection to the Redis at
// addr for each of n pairs of a streams baseline. The caller closes the
// connections, those opened, also when it fails.
func dialStreamPairs(addr string, n int) (ps []*pair, senders, receivers []redis.Conn, err error) {
	ps, senders, receivers = make([]*pair, n), make([]redis.Conn, n), make([]redis.Conn, n)
	for i := range n {
		if senders[i], err = dialRedis(addr); err != nil {
			return
		}
		if receivers[i], err = dialRedis(addr); err != nil {
			return
		}
		ps[i] = &pair{sid: 2 * i, rid: 2*i + 1}
	}
	return
}

// deleteStreams leaves the Redis as it was: the n streams of a baseline under
// prefix are empty but still there.
func deleteStreams(addr, prefix string, n int) {
	if c, err := dialRedis(addr); err == nil {
		for i := range n {
			c.Send("DEL", prefix+strconv.Itoa(i))
		}
		c.Do("")
		c.Close()
	}
}

// readStreamLoop is a streams baseline's receiver of the stream key: it XREAD
// BLOCKs on rc for at most blockMs (0: until an entry comes), decodes the
// entries, gives their contents to p and XDELs them, until stop (with blockMs 0,
// stop and close rc); fail records an error.
func readStreamLoop(rc redis.Conn, key string, p *pair, blockMs int, stop *atomic.Bool, fail func(error)) {
	last := "0"
	for !stop.Load() {
		reply, err := rc.Do("XREAD", "COUNT", deliveryCount, "BLOCK", blockMs, "STREAMS", key, last)
		if err != nil {
			fail(err)
			return
		}
		if reply == nil {
			continue // BLOCK timed out
		}
		now := time.Now()
		ids, err := readStream(reply, func(payload []byte) {
			var m message.PrivateMes
			if json.Unmarshal(payload, &m) == nil {
				p.receipt(nil, m.Content, now)
			}
		})
		if err != nil {
			fail(err)
			return
		}
		if len(ids) == 0 {
			continue
		}
		last = ids[len(ids)-1]
		// The XDEL's reply comes with the next XREAD's: one round trip.
		if err := rc.Send("XDEL", append(redis.Args{key}, redis.Args{}.AddFlat(ids)...)...); err != nil {
			fail(err)
			return
		}
	}
}

// streamPayload is the stream entry of a private message of p with content: the
// JSON the server keeps in an inbox.
func streamPayload(p *pair, content string) ([]byte, error) {
	return json.Marshal(message.PrivateMes{FromUserID: p.sid, FromUserName: "u" + strconv.Itoa(p.sid),
		ToUserID: p.rid, Content: content, SentAt: time.Now().UnixMilli()})
}

// sendExpected writes one command on c and has the reader of c's replies expect
// its reply; fail records an error.
func sendExpected(c redis.Conn, expect chan<- struct{}, fail func(error), cmd string, args ...any) error {
	err := c.Send(cmd, args...)
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		fail(err)
		return err
	}
	expect <- struct{}{}
	return nil
}

// dialRedis opens a baseline's connection to the Redis at addr.
func dialRedis(addr string) (redis.Conn, error) {
	return redis.Dial("tcp", addr, redis.DialConnectTimeout(5*time.Second))
}

// measureWindowCPU measures in the background the CPU time pids use in the measured
// window (o.measure, from o.warmup on); the function it returns waits for the
// window's end and gives it (zero if ctx ended first).
func measureWindowCPU(ctx context.Context, o *opts, pids ...int) func() time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		var used time.Duration
		defer func() { done <- used }()
		if !sleepCtx(ctx, o.warmup) {
			return
		}
		m := newCPUMeter(pids...)
		if !sleepCtx(ctx, o.measure) {
			return
		}
		used = m.used()
	}()
	return sync.OnceValue(func() time.Duration { return <-done })
}

// localRedisPID is the pid of the Redis at addr if it runs on this machine (its
// INFO process_id is a redis process here), else 0: its CPU is then not measured.
func localRedisPID(addr string) int {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(2*time.Second), redis.DialReadTimeout(2*time.Second))
	if err != nil {
		return 0
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "server"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err == nil && strings.HasPrefix(string(comm), "redis") {
				return pid
			}
		}
	}
	return 0
}

// closeConns closes the connections of a baseline that were opened.
func closeConns(sets ...[]redis.Conn) {
	for _, cs := range sets {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	}
}

// openWindow gives each pair of a baseline o.inflight free slots and a histogram,
// and starts the measured window o.warmup from now; it returns the window's end.
func openWindow(ps []*pair, o *opts) time.Time {
	winFrom := time.Now().Add(o.warmup)
	winTo := winFrom.Add(o.measure)
	for _, p := range ps {
		p.slots = make(chan struct{}, o.inflight)
		for range o.inflight {
			p.slots <- struct{}{}
		}
		p.hist = NewHist()
		p.winFrom, p.winTo = winFrom.UnixNano(), winTo.UnixNano()
	}
	return winTo
}

// baselineResult is what the pairs of a baseline counted, with the messages sent,
// Redis's CPU time over the window and the first error stored in firstErr.
func baselineResult(ps []*pair, sent *atomic.Int64, o *opts, redisCPU time.Duration, firstErr *atomic.Value) pairResult {
	counts := tally(ps)
	counts.Sent = sent.Load()
	res := mergeResults([]Event{counts}, o.measure)
	res.redisCPU = redisCPU
	if v, ok := firstErr.Load().(string); ok {
		res.err = v
	}
	return res
}

// deliveryCount is how many entries one XREAD takes, as the server's inbox reads.
const deliveryCount = 256

// readStream walks an XREAD reply of one stream, calls fn with each entry's "m"
// field and returns the entry ids.
func readStream(reply any, fn func(payload []byte)) ([]string, error) {
	streams, err := redis.Values(reply, nil)
	if err != nil || len(streams) == 0 {
		return nil, err
	}
	stream, err := redis.Values(streams[0], nil)
	if err != nil || len(stream) != 2 {
		return nil, fmt.Errorf("XREAD: unexpected reply %v", err)
	}
	entries, err := redis.Values(stream[1], nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		entry, ok := e.([]any)
		if !ok || len(entry) != 2 {
			return nil, fmt.Errorf("XREAD: unexpected entry %T", e)
		}
		id, _ := entry[0].([]byte)
		fields, _ := entry[1].([]any)
		for k := 0; k+1 < len(fields); k += 2 {
			if f, _ := fields[k].([]byte); string(f) == "m" {
				v, _ := fields[k+1].([]byte)
				fn(v)
			}
		}
		ids = append(ids, string(id))
	}
	return ids, nil
}

// waitSettled waits, at most drain, until every send of ps was received or rejected.
func waitSettled(ctx context.Context, ps []*pair, sent *atomic.Int64, drain time.Duration) {
	end := time.Now().Add(drain)
	for time.Now().Before(end) && ctx.Err() == nil {
		var got int64
		for _, p := range ps {
			p.mu.Lock()
			got += p.settled()
			p.mu.Unlock()
		}
		if got >= sent.Load() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// p2pRows is the p2p part of the table: the server against the streams baseline
// (the target) and the pub/sub one (a reference). Either may be nil.
func p2pRows(res pairResult, streams, pubsub *pairResult) []row {
	ref := func(f func(pairResult) string) string {
		s := ""
		if streams != nil {
			s = "streams: " + f(*streams)
		}
		if pubsub != nil {
			if s != "" {
				s += "; "
			}
			s += "pub/sub: " + f(*pubsub)
		}
		if s == "" {
			return "-"
		}
		return s
	}
	verdict, ratio := "-", "-"
	if streams != nil && streams.rate() > 0 {
		r := res.rate() / streams.rate()
		ratio = fmt.Sprintf("%.2f", r)
		verdict = "FAIL (< 0.5)"
		if r >= 0.5 {
			verdict = "ok (≥ 0.5)"
		}
	}
	pubRatio := "-"
	if pubsub != nil && pubsub.rate() > 0 {
		pubRatio = fmt.Sprintf("%.2f", res.rate()/pubsub.rate())
	}
	lostVerdict := "ok"
	if res.lost > 0 || res.dup > 0 || res.rejected > 0 || res.dropped > 0 || res.unanswered > 0 || res.reordered > 0 {
		lostVerdict = "FAIL"
	}
	rows := []row{
		{"p2p", "delivered/s", fmt.Sprintf("%.0f", res.rate()), ref(func(b pairResult) string { return fmt.Sprintf("%.0f", b.rate()) }), ""},
		{"p2p", "ours / Redis streams", ratio, "target ≥ 0.5", verdict},
		{"p2p", "ours / Redis pub/sub", pubRatio, "reference", ""},
		{"p2p", "latency p50", ms(res.hist.Quantile(.5)), ref(func(b pairResult) string { return ms(b.hist.Quantile(.5)) }), ""},
		{"p2p", "latency p99", ms(res.hist.Quantile(.99)), ref(func(b pairResult) string { return ms(b.hist.Quantile(.99)) }), ""},
		{"p2p", "lost / duplicated / out of order / unanswered / rejected",
			fmt.Sprintf("%d / %d / %d / %d / %d of %d sent", res.lost, res.dup, res.reordered, res.unanswered, res.rejected, res.sent),
			ref(func(b pairResult) string {
				return fmt.Sprintf("%d / %d / %d / %d / %d", b.lost, b.dup, b.reordered, b.unanswered, b.rejected)
			}), lostVerdict},
	}
	if res.delivered > 0 && res.serverCPU > 0 {
		rows = append(rows, row{"p2p", "CPU per message: server / redis", fmt.Sprintf("%.1f / %.1f µs",
			float64(res.serverCPU.Microseconds())/float64(res.delivered), float64(res.redisCPU.Microseconds())/float64(res.delivered)),
			ref(func(b pairResult) string {
				return fmt.Sprintf("redis %.1f µs", float64(b.redisCPU.Microseconds())/float64(max(1, b.delivered)))
			}), ""})
	}
	return rows
}

// redisFanout runs the fan-out shape on Redis pub/sub: o.users subscribers spread
// over worker processes like the fan-out receivers, one channel, and o.messages
// PUBLISHes of the very frame body the server sends for a group message.
func redisFanout(ctx context.Context, e *env, o *opts, redisAddr string, redisPID, senderID int) (*fanResult, error) {
	channel := fmt.Sprintf("bench:f:%d", rand.IntN(1<<30))
	deadline, _ := ctx.Deadline()
	tasks, _ := listenTasks(o, redisAddr, 0, 2, deadline)
	for i := range tasks {
		tasks[i].Kind, tasks[i].Channel, tasks[i].Register = "subscribe", channel, false
	}
	ws, err := startLoggedIn(ctx, e, "worker", tasks, o.users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	pub, err := dialRedis(redisAddr)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	var seq int
	return fanRounds(ctx, ws, o, []int{redisPID}, func(content string) error {
		seq++
		body, err := message.Encode(message.SmsMesType, message.SmsMes{Content: content, UserID: senderID,
			UserName: "u" + strconv.Itoa(senderID), MsgID: "g" + strconv.Itoa(seq), SentAt: time.Now().UnixMilli()})
		if err != nil {
			return err
		}
		nsub, err := redis.Int(pub.Do("PUBLISH", channel, body))
		if err == nil && nsub != o.users {
			err = fmt.Errorf("PUBLISH reached %d of %d subscribers", nsub, o.users)
		}
		return err
	})
}

// fanRows is the fan-out part of the table; rf (the Redis baseline) may be nil.
func fanRows(o *opts, fr, rf *fanResult) []row {
	name := fmt.Sprintf("fan-out 1→%d", o.users)
	ref := func(f func(*fanResult) string) string {
		if rf == nil {
			return "-"
		}
		return "Redis PUBLISH: " + f(rf)
	}
	verdict, ratio := "-", "-"
	if rf != nil && rf.q(.99) > 0 {
		r := float64(fr.q(.99)) / float64(rf.q(.99))
		ratio = fmt.Sprintf("%.2f", r)
		verdict = "FAIL (> 1.0)"
		if r <= 1 && fr.incomplete == 0 {
			verdict = "ok (≤ 1.0)"
		}
	}
	recvVerdict := "ok"
	if fr.minRecv < o.users || fr.incomplete > 0 {
		recvVerdict = "FAIL"
	}
	return []row{
		{name, "send → last receipt p50", ms(fr.q(.5)), ref(func(r *fanResult) string { return ms(r.q(.5)) }), ""},
		{name, "send → last receipt p99", ms(fr.q(.99)), ref(func(r *fanResult) string { return ms(r.q(.99)) }), ""},
		{name, "p99 ours / Redis PUBLISH", ratio, "target ≤ 1.0", verdict},
		{name, "any receipt p50 / p99", ms(fr.all.Quantile(.5)) + " / " + ms(fr.all.Quantile(.99)),
			ref(func(r *fanResult) string { return ms(r.all.Quantile(.5)) + " / " + ms(r.all.Quantile(.99)) }), ""},
		{name, "CPU per message: sender side / receivers", ms(fr.cpu) + " / " + ms(fr.recvCPU),
			ref(func(r *fanResult) string { return ms(r.cpu) + " / " + ms(r.recvCPU) }), ""},
		{name, "fewest receivers of a message", fmt.Sprintf("%d of %d (%d msgs)", fr.minRecv, o.users, o.messages),
			ref(func(r *fanResult) string { return fmt.Sprintf("%d of %d", r.minRecv, o.users) }), recvVerdict},
	}
}

// subscribeAll is the worker side of redisFanout: each of its N connections
// subscribes to the task's channel and treats what comes as fan-out receivers treat
// a group message.
func (w *worker) subscribeAll(ctx context.Context) {
	start := time.Now()
	ready := w.connectAll(ctx, func(int) (func(), error) {
		psc, err := subscribeTo(ctx, w.t.Addrs[0], w.t.Channel, 10*time.Second)
		if err != nil {
			return nil, err
		}
		return func() {
			w.subs = append(w.subs, psc)
			w.connected.Add(1)
			go w.subscriberLoop(psc)
		}, nil
	})
	ready.Ms = time.Since(start).Milliseconds()
	w.emit(ready)
}

// subscribeTo dials the Redis at addr and subscribes to channel, waiting for the
// confirmation.
func subscribeTo(ctx context.Context, addr, channel string, timeout time.Duration) (redis.PubSubConn, error) {
	c, err := redis.DialContext(ctx, "tcp", addr, redis.DialConnectTimeout(timeout))
	if err != nil {
		return redis.PubSubConn{}, err
	}
	psc := redis.PubSubConn{Conn: c}
	if err := psc.Subscribe(channel); err != nil {
		c.Close()
		return psc, err
	}
	if v, ok := psc.Receive().(redis.Subscription); !ok || v.Count != 1 {
		c.Close()
		return psc, fmt.Errorf("subscribe did not confirm")
	}
	return psc, nil
}

func (w *worker) subscriberLoop(psc redis.PubSubConn) {
	defer func() {
		w.connected.Add(-1)
		if !w.quitOn.Load() {
			w.dropped.Add(1)
		}
	}()
	for {
		switch v := psc.Receive().(type) {
		case redis.Message:
			now := time.Now()
			if envType(v.Data) != message.SmsMesType {
				continue
			}
			var m message.SmsMes
			if unpack(v.Data, &m) == nil {
				w.fanReceipt(m.Content, now)
			}
		case error:
			if !w.quitOn.Load() {
				w.dropErr.Store(v.Error())
			}
			return
		}
	}
}
