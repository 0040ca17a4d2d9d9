package main

// The abuse scenario: what clients that misbehave cost the server's memory.
//
//   - stalled frames: connections that announce a 64 KiB frame (or, before login,
//     the largest frame allowed then), send a little of it and stall, before and
//     after login; the server's RSS growth is what they cost.
//   - non-reading clients: logged-in clients that stop reading while group traffic
//     flows; each must be cut off at -max-queue, and the server's peak RSS stays
//     under non-readers × -max-queue.
//
// Each part runs against a fresh server node (peak RSS is the process's VmHWM),
// with the login and frame timeouts raised so that the stalls last the measurement
// and presence notices off (the non-readers must be cut off by group traffic only).
// The connections live in helper processes of this binary ("abuse-worker"), at
// most abuseConnsPerWorker each.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"chat/common/message"
)

const abuseConnsPerWorker = 5000

// abuseTask is an abuse worker's job, the first line of its stdin.
type abuseTask struct {
	Mode     string `json:"mode"` // "stall" or "nonread"
	Addr     string `json:"addr"`
	First    int    `json:"first"` // first user id (logins only)
	N        int    `json:"n"`
	Login    bool   `json:"login"`    // stall: log in before stalling
	Announce uint32 `json:"announce"` // stall: announced body length
	Sent     int    `json:"sent"`     // stall: body bytes sent before stalling
	Deadline int64  `json:"deadline"` // unix ms: the worker exits then whatever happens
}

// abuseEvent is an abuse worker's report, one JSON line on its stdout.
type abuseEvent struct {
	Ev      string `json:"ev"` // connected, stalled, stats, fatal
	OK      int    `json:"ok"`
	Fail    int    `json:"fail"`
	Refused int    `json:"refused"` // got ErrorResMes 413
	Closed  int    `json:"closed"`  // closed by the server
	Err     string `json:"err,omitempty"`
}

// add sums o's counts into e, which keeps the first error.
func (e *abuseEvent) add(o abuseEvent) {
	e.OK += o.OK
	e.Fail += o.Fail
	e.Refused += o.Refused
	e.Closed += o.Closed
	e.Err = cmp.Or(e.Err, o.Err)
}

// abuseWorkers are the helper processes of one part of the scenario.
type abuseWorkers struct {
	procs []*proc
	ins   []io.WriteCloser
	outs  []*json.Decoder
}

// startAbusers spreads n connections over workers of at most abuseConnsPerWorker.
func (e *env) startAbusers(t abuseTask, n int) (*abuseWorkers, error) {
	ws := &abuseWorkers{}
	for first := 0; first < n; first += abuseConnsPerWorker {
		task := t
		task.N = min(abuseConnsPerWorker, n-first)
		task.First = t.First + first
		p, in, out, err := e.startWorkerProc("abuse-worker", task)
		if err != nil {
			return nil, err
		}
		ws.procs, ws.ins, ws.outs = append(ws.procs, p), append(ws.ins, in), append(ws.outs, json.NewDecoder(out))
	}
	return ws, nil
}

// ask sends cmd (if any) to every worker and sums their next events, which must be
// of kind ev.
func (ws *abuseWorkers) ask(cmd, ev string) (abuseEvent, error) {
	for _, in := range ws.ins {
		if cmd != "" {
			io.WriteString(in, cmd+"\n")
		}
	}
	sum := abuseEvent{Ev: ev}
	for i, out := range ws.outs {
		var e abuseEvent
		if err := out.Decode(&e); err != nil {
			return sum, fmt.Errorf("abuse worker %d: %w", i, err)
		}
		if e.Ev != ev {
			return sum, fmt.Errorf("abuse worker %d: got %q (%s), want %q", i, e.Ev, e.Err, ev)
		}
		sum.add(e)
	}
	return sum, nil
}

func (ws *abuseWorkers) stop(e *env) {
	for _, in := range ws.ins {
		in.Close()
	}
	stops := make([]func(time.Duration), len(ws.procs))
	for i, p := range ws.procs {
		stops[i] = p.stop
	}
	stopConcurrently(stops, 10*time.Second)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// abuseServerArgs keep stalls open through the measurement and presence off.
var abuseServerArgs = []string{"-login-timeout", "10m", "-frame-timeout", "10m", "-presence-limit", "-1"}

// scenarioAbuse runs the stalled-frame parts with o.users connections each and
// the non-reader part with nonReaders clients.
func scenarioAbuse(ctx context.Context, e *env, o *opts, nonReaders int) ([]row, error) {
	if len(o.addrs) > 0 {
		return nil, errors.New("abuse starts its own server nodes (peak RSS per part): -addr is not supported")
	}
	redisAddr := o.redis
	if redisAddr == "" {
		r, err := e.startRedis()
		if err != nil {
			return nil, err
		}
		redisAddr = r.Addr
	}
	base := runBase()
	if err := prefill(ctx, redisAddr, base, o.users+nonReaders+1, benchPassword); err != nil {
		return nil, fmt.Errorf("prefill: %w", err)
	}
	deadline, _ := ctx.Deadline()
	var rows []row
	stalls := []struct {
		name     string
		login    bool
		announce uint32
		sent     int
	}{
		{"before login, 64 KiB announced", false, 65536, 100},
		{"before login, 4 KiB announced (the most allowed then)", false, 4096, 100},
		{"logged in, 64 KiB announced", true, 65536, 1000},
	}
	for i, st := range stalls {
		r, err := e.abuseStalls(ctx, redisAddr, o, fmt.Sprintf("abuse-%d", i+1), abuseTask{Mode: "stall", Login: st.login,
			Announce: st.announce, Sent: st.sent, First: base, Deadline: deadline.UnixMilli()}, st.name)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", st.name, err)
		}
		rows = append(rows, r...)
	}
	r, err := e.abuseNonReaders(ctx, redisAddr, o, nonReaders, abuseTask{Mode: "nonread", First: base + o.users, Deadline: deadline.UnixMilli()}, base+o.users+nonReaders)
	if err != nil {
		return rows, fmt.Errorf("non-readers: %w", err)
	}
	return append(rows, r...), nil
}

// abuseNode is a server node with the connections of one part of the scenario.
type abuseNode struct {
	s         *server
	ws        *abuseWorkers
	pid       int
	idle      mem // before the connections
	connected mem // with them
}

// mem is a server's memory after a forced collection, in KiB: its RSS and its
// Go heap in use (which counts pages allocated but never touched, as a frame
// buffer of which only the first bytes arrived, where RSS does not).
type mem struct{ rss, heap int64 }

func measure(ctx context.Context, s *server) mem {
	rss := settledRSS(ctx, s, s.p.Pid(), 20*time.Second)
	return mem{rss: rss, heap: int64(scrape(s.metrics, "go_memstats_heap_inuse_bytes")) / 1024}
}

func (m mem) minus(o mem) mem { return mem{m.rss - o.rss, m.heap - o.heap} }

// per says m as the growth n connections caused.
func (m mem) per(n int) string {
	return fmt.Sprintf("RSS %+.1f MiB (%.2f KiB each), Go heap %+.1f MiB (%.2f KiB each)",
		float64(m.rss)/1024, float64(m.rss)/float64(n), float64(m.heap)/1024, float64(m.heap)/float64(n))
}

// startAbuseNode starts a server node with args and n connections of task t to
// it (workers). On error it stops what it started.
func (e *env) startAbuseNode(ctx context.Context, redisAddr, node string, args []string, t abuseTask, n int) (*abuseNode, error) {
	s, err := e.startServer(redisAddr, node, args...)
	if err != nil {
		return nil, err
	}
	an := &abuseNode{s: s, pid: s.p.Pid(), idle: measure(ctx, s)}
	t.Addr = s.addr
	if an.ws, err = e.startAbusers(t, n); err == nil {
		var c abuseEvent
		if c, err = an.ws.ask("", "connected"); err == nil && c.Fail > 0 {
			err = fmt.Errorf("%d of %d connections failed, e.g. %s", c.Fail, n, c.Err)
		}
	}
	if err != nil {
		an.stop(e)
		return nil, err
	}
	an.connected = measure(ctx, s)
	return an, nil
}

func (an *abuseNode) stop(e *env) {
	if an.ws != nil {
		an.ws.stop(e)
	}
	an.s.p.Stop(5 * time.Second)
}

// abuseStalls connects o.users clients to a new node, has each stall in a frame,
// and measures the node's RSS before and after.
func (e *env) abuseStalls(ctx context.Context, redisAddr string, o *opts, node string, t abuseTask, name string) ([]row, error) {
	an, err := e.startAbuseNode(ctx, redisAddr, node, append(append([]string{}, abuseServerArgs...), o.serverArgs...), t, o.users)
	if err != nil {
		return nil, err
	}
	defer an.stop(e)
	s, ws, pid, idle, before := an.s, an.ws, an.pid, an.idle, an.connected
	if _, err := ws.ask("stall", "stalled"); err != nil {
		return nil, err
	}
	time.Sleep(2 * time.Second) // let the server read what was sent
	after := measure(ctx, s)
	peak := peakRSSKiB(pid)
	st, err := ws.ask("stats", "stats")
	if err != nil {
		return nil, err
	}
	grew := after.minus(before)
	e.logf("abuse: %d connections, %s: RSS/heap KiB %d/%d without them, %d/%d connected, %d/%d stalled (peak RSS %d), %d refused with 413, %d closed",
		o.users, name, idle.rss, idle.heap, before.rss, before.heap, after.rss, after.heap, peak, st.Refused, st.Closed)
	verdict := "ok (< 100 MB)"
	if max(grew.rss, grew.heap)*1024 >= 100e6 {
		verdict = "FAIL (≥ 100 MB)"
	}
	label := fmt.Sprintf("abuse: %d stalled frames", o.users)
	return []row{
		{label, name + ": server growth from the stall (stalled − connected)", grew.per(o.users), "target < 100 MB", verdict},
		{label, name + ": server growth with the connections themselves (stalled − none)",
			after.minus(idle).per(o.users) + fmt.Sprintf("; peak RSS %s", mib(peak)), "-", ""},
		{label, name + ": refused with 413 / closed", fmt.Sprintf("%d / %d", st.Refused, st.Closed), "-", ""},
	}, nil
}

// abuseNonReaders logs n clients in to a new node, which then stop reading, and
// floods the group from one more user until the node has cut every one of them
// off; the node's peak RSS must stay under n × -max-queue.
func (e *env) abuseNonReaders(ctx context.Context, redisAddr string, o *opts, n int, t abuseTask, senderID int) ([]row, error) {
	maxQueue := 4 << 20
	args := append(append([]string{}, abuseServerArgs...), o.serverArgs...)
	for i, a := range args {
		if a == "-max-queue" && i+1 < len(args) {
			maxQueue, _ = strconv.Atoi(args[i+1])
		}
	}
	an, err := e.startAbuseNode(ctx, redisAddr, "abuse-nonread", args, t, n)
	if err != nil {
		return nil, err
	}
	defer an.stop(e)
	s, pid, before := an.s, an.pid, an.connected.rss

	sender, err := dialClient(ctx, s.addr, "")
	if err != nil {
		return nil, err
	}
	defer sender.Close()
	if _, err := sender.login(senderID); err != nil {
		return nil, err
	}
	const content = 4000
	const inFlight = 32
	slots := make(chan struct{}, inFlight)
	for range inFlight {
		slots <- struct{}{}
	}
	go func() { // the sender reads its answers
		for {
			typ, _, err := sender.readFrame()
			if err != nil {
				return
			}
			if typ == message.SmsResMesType {
				slots <- struct{}{}
			}
		}
	}()
	start := time.Now()
	sent := 0
	overflows := 0.0
	for ; sent < 100000 && ctx.Err() == nil; sent++ {
		if sent%50 == 0 {
			if overflows = scrape(s.metrics, "chat_queue_overflows_total"); overflows >= float64(n) {
				break
			}
		}
		select {
		case <-slots:
		case <-time.After(30 * time.Second):
			return nil, errors.New("the sender's group messages are not answered")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := sender.send(message.SmsMesType, message.SmsMes{Content: makeContent("G", sent, content)}); err != nil {
			return nil, err
		}
	}
	took := time.Since(start)
	peak := peakRSSKiB(pid)
	e.logf("abuse: %d non-readers, %d group messages of %d bytes in %v: %v cut off; RSS before %d KiB, peak %d KiB",
		n, sent, content, took.Round(time.Millisecond), overflows, before, peak)
	bound := int64(n) * int64(maxQueue) / 1024
	verdict := "ok"
	if peak-before >= bound || overflows < float64(n) {
		verdict = "FAIL"
	}
	label := fmt.Sprintf("abuse: %d non-readers", n)
	return []row{
		{label, fmt.Sprintf("server peak RSS growth under group traffic (%d × %d-byte messages)", sent, content),
			fmt.Sprintf("%s (peak %s)", mib(peak-before), mib(peak)), fmt.Sprintf("%d × -max-queue %d = %s", n, maxQueue, mib(bound)), verdict},
		{label, "cut off as slow consumers", fmt.Sprintf("%.0f of %d", overflows, n), "all", ""},
	}, nil
}
