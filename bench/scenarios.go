package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// row is one line of the results table.
type row struct {
	Scenario string `json:"scenario"`
	Metric   string `json:"metric"`
	Ours     string `json:"ours"`
	Ref      string `json:"baselineOrTarget"`
	Verdict  string `json:"verdict"` // "", "ok …" or "FAIL …": a FAIL makes the run exit 1
}

type opts struct {
	addrs      []string // existing server nodes; empty: start our own
	redis      string   // existing Redis (baseline); empty: start our own
	serverPID  int      // existing server's pid, for RSS and CPU
	metrics    string   // existing server's -metrics-addr, for a forced GC
	nodes      int
	workers    int
	users      int // pairs for p2p
	inflight   int
	size       int
	warmup     time.Duration
	measure    time.Duration
	drain      time.Duration
	timeout    time.Duration
	srcIPs     []string
	serverArgs []string
	cpuprofile string
	msgIDs     bool
	messages   int
	fanWarmup  int
	noBaseline bool
	register   bool // register users over the protocol even where prefill is the default
	storm      stormOpts
	logins     loginOpts
	loginStorm loginStormOpts
	real       realOpts
	peer       peerOpts
}

func runBase() int { return 10_000_000 + rand.IntN(2_000_000_000-20_000_000)/1000*1000 }

// microsEach is d shared out over n (messages, logins), in microseconds; 0
// when there are none.
func microsEach[N int | int64](d time.Duration, n N) float64 {
	if n <= 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// setup starts Redis and n server nodes unless o names existing ones. redisPID is
// 0 when Redis does not run on this machine.
func setup(e *env, o *opts, n int, prefix string, extra ...string) (redisAddr string, servers []*server, redisPID int, err error) {
	redisAddr = o.redis
	if redisAddr != "" {
		redisPID = localRedisPID(redisAddr)
	}
	if len(o.addrs) > 0 {
		for _, a := range o.addrs {
			servers = append(servers, &server{addr: a, metrics: o.metrics})
		}
		return redisAddr, servers, redisPID, nil
	}
	if redisAddr == "" {
		r, err := e.startRedis()
		if err != nil {
			return "", nil, 0, err
		}
		redisAddr, redisPID = r.Addr, r.Pid()
	}
	for i := 0; i < n; i++ {
		s, err := e.startServer(redisAddr, fmt.Sprintf("%s%d", prefix, i+1), append(append([]string{}, o.serverArgs...), extra...)...)
		if err != nil {
			return redisAddr, servers, redisPID, err
		}
		servers = append(servers, s)
	}
	return redisAddr, servers, redisPID, nil
}

func serverPID(o *opts, s *server) int {
	if s.p != nil {
		return s.p.Pid()
	}
	return o.serverPID
}

// splitUsers divides total users over workers of at most perWorker each, even counts.
func splitUsers(total, minWorkers, perWorker int) []int {
	w := max(minWorkers, (total+perWorker-1)/perWorker)
	per := (total + w - 1) / w
	if per%2 == 1 {
		per++
	}
	var out []int
	for left := total; left > 0; left -= per {
		out = append(out, min(per, left))
	}
	return out
}

// prefill adds users first..first+n-1 straight to the Redis hash "users" with
// stored password pwd. With benchPassword in plaintext, the course's way of adding
// users (docs/PROTOCOL.md, Storage compatibility), the first login checks the
// plaintext and stores a bcrypt hash, so a login costs one bcrypt as usual, and the
// slow registration phase is skipped.
func prefill(ctx context.Context, redisAddr string, first, n int, pwd string) error {
	c, err := redis.Dial("tcp", redisAddr, redis.DialConnectTimeout(5*time.Second),
		redis.DialReadTimeout(30*time.Second), redis.DialWriteTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < n && ctx.Err() == nil; i += 1000 {
		k := min(1000, n-i)
		args := redis.Args{"users"}
		for id := first + i; id < first+i+k; id++ {
			args = append(args, id, fmt.Sprintf(`{"userId":%d,"userPwd":%q,"userName":"u%d","userStatus":0,"sex":""}`, id, pwd, id))
		}
		if _, err := c.Do("HSET", args...); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func pairTasks(o *opts, addrs []string, users, minWorkers int, base int, deadline time.Time) []Task {
	var ts []Task
	first := base
	for i, n := range splitUsers(users, minWorkers, 9000) {
		ts = append(ts, Task{Kind: "pairs", Addrs: addrs, SrcIPs: o.srcIPs, First: first, N: n, Node0: i,
			Register: true, RegConc: 8, LoginConc: 32, InFlight: o.inflight, Size: o.size, MsgIDs: o.msgIDs,
			WarmupMs: o.warmup.Milliseconds(), MeasureMs: o.measure.Milliseconds(), DrainMs: o.drain.Milliseconds(),
			Deadline: deadline.UnixMilli()})
		first += n
	}
	return ts
}

func addrsOf(ss []*server) []string {
	var a []string
	for _, s := range ss {
		a = append(a, s.addr)
	}
	return a
}

// startLoggedIn runs the workers of tasks in mode (startWorkersAs) and waits until
// their want users are logged in. The caller quits the workers.
func startLoggedIn[T any](ctx context.Context, e *env, mode string, tasks []T, want int) (*workers, error) {
	ws, err := startWorkersAs(e, mode, tasks)
	if err != nil {
		return nil, err
	}
	if _, _, err := loginPhase(ctx, e, ws, want); err != nil {
		ws.quit(e)
		return nil, err
	}
	return ws, nil
}

// loginPhase registers (already done by the workers at start), logs everyone in and
// returns the merged ready events and the wall time of the login phase.
func loginPhase(ctx context.Context, e *env, ws *workers, want int) (time.Duration, *Hist, error) {
	regStart := time.Now()
	regs, err := ws.collect(ctx, "registered", nil)
	if err != nil {
		return 0, nil, err
	}
	var regRetries int64
	for _, r := range regs {
		regRetries += r.Retries
	}
	e.logf("registered %d users in %v (%d attempts repeated); ulimit -n in the workers: %d", want, time.Since(regStart).Round(time.Millisecond), regRetries, regs[0].Nofile)
	start := time.Now()
	ws.broadcast("login")
	// Progress every 15 s, and how far it got if the deadline comes first.
	connected := make([]int, len(ws.ws))
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	go func() {
		for {
			select {
			case <-tick.C:
				ws.broadcast("stats")
			case <-tctx.Done():
				return
			}
		}
	}()
	onStats := func(ev Event) {
		if ev.Ev == "stats" {
			connected[ev.W] = ev.Connected
			if ev.W == len(ws.ws)-1 {
				sum := 0
				for _, c := range connected {
					sum += c
				}
				e.logf("login progress: %d of %d connected after %v", sum, want, time.Since(start).Round(time.Second))
			}
		}
	}
	rs, err := ws.collect(ctx, "ready", onStats)
	tcancel()
	if err != nil {
		sum := 0
		for _, c := range connected {
			sum += c
		}
		return 0, nil, fmt.Errorf("%w (%d of %d connected at the last progress report, %v after the logins started)", err, sum, want, time.Since(start).Round(time.Second))
	}
	// Stats answers that were still on their way.
	for drained := false; !drained; {
		select {
		case ev := <-ws.events:
			if ev.Ev != "stats" {
				ws.events <- ev
				drained = true
			}
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}
	d := time.Since(start)
	h := NewHist()
	ok, fail, firstErr := 0, 0, ""
	var logRetries int64
	for _, r := range rs {
		logRetries += r.Retries
		ok += r.OK
		fail += r.Fail
		if firstErr == "" {
			firstErr = r.Err
		}
		h.Merge(r.Hist)
	}
	e.logf("logged in %d users (%d failed, %d attempts repeated incl. registration) in %v: %.0f logins/s, login p50 %s p99 %s",
		ok, fail, logRetries, d.Round(time.Millisecond), float64(ok)/d.Seconds(), ms(h.Quantile(.5)), ms(h.Quantile(.99)))
	if fail > 0 {
		return d, h, fmt.Errorf("%d of %d logins failed, first: %s", fail, want, firstErr)
	}
	return d, h, nil
}

type pairResult struct {
	sent, accepted, rejected, delivered, received, lost, dup int64
	reordered                                                int64
	unanswered                                               int64
	dropped                                                  int
	err                                                      string
	hist                                                     *Hist
	window                                                   time.Duration
	serverCPU, redisCPU                                      time.Duration
}

func (r pairResult) rate() float64 { return float64(r.delivered) / r.window.Seconds() }

func mergeResults(rs []Event, window time.Duration) pairResult {
	out := pairResult{hist: NewHist(), window: window}
	for _, r := range rs {
		out.sent += r.Sent
		out.accepted += r.Accepted
		out.rejected += r.Rejected
		out.delivered += r.Delivered
		out.received += r.Received
		out.lost += r.Lost
		out.unanswered += r.Unanswered
		out.dup += r.Dup
		out.reordered += r.Reordered
		out.dropped += r.Dropped
		if out.err == "" {
			out.err = r.Err
		}
		out.hist.Merge(r.Hist)
	}
	return out
}

// cpuMeter sums CPU time of pids between start and stop.
type cpuMeter struct {
	pids []int
	at   []time.Duration
}

func newCPUMeter(pids ...int) *cpuMeter {
	m := &cpuMeter{}
	for _, p := range pids {
		if p > 0 {
			m.pids = append(m.pids, p)
		}
	}
	for _, p := range m.pids {
		m.at = append(m.at, cpuTime(p))
	}
	return m
}

func (m *cpuMeter) used() time.Duration {
	var d time.Duration
	for i, p := range m.pids {
		d += cpuTime(p) - m.at[i]
	}
	return d
}

// runPairsLoad runs the p2p shape over the workers and measures server and Redis CPU
// inside the measured window.
func runPairsLoad(ctx context.Context, e *env, o *opts, ws *workers, serverPIDs []int, redisPID int, profileFrom string) (pairResult, error) {
	ws.broadcast("run")
	var sm, rm *cpuMeter
	var sCPU, rCPU time.Duration
	var wg sync.WaitGroup
	measured := make(chan struct{}) // closed once sCPU and rCPU are read, or ctx ended
	go func() {
		defer close(measured)
		select {
		case <-time.After(o.warmup):
		case <-ctx.Done():
			return
		}
		sm, rm = newCPUMeter(serverPIDs...), newCPUMeter(redisPID)
		if profileFrom != "" && o.cpuprofile != "" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				secs := int(o.measure.Seconds()) - 1
				if err := fetchProfile(profileFrom, secs, o.cpuprofile); err != nil {
					e.logf("cpu profile: %v", err)
				} else {
					e.logf("cpu profile of %ds written to %s", secs, o.cpuprofile)
				}
			}()
		}
		select {
		case <-time.After(o.measure):
		case <-ctx.Done():
			return
		}
		sCPU, rCPU = sm.used(), rm.used()
	}()
	rs, err := ws.collect(ctx, "result", nil)
	<-measured
	wg.Wait()
	res := mergeResults(rs, o.measure)
	res.serverCPU, res.redisCPU = sCPU, rCPU
	return res, err
}

// profileInBackground fetches a CPU profile of secs seconds from the server whose
// metrics listen at metrics into file, in the background under wg, and logs done
// when it is written.
func profileInBackground(e *env, wg *sync.WaitGroup, metrics string, secs int, file, done string) {
	wg.Go(func() {
		if err := fetchProfile(metrics, secs, file); err != nil {
			e.logf("cpu profile: %v", err)
		} else {
			e.logf("%s", done)
		}
	})
}

func fetchProfile(metrics string, secs int, file string) error {
	c := http.Client{Timeout: time.Duration(secs+20) * time.Second}
	r, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metrics, secs))
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		return fmt.Errorf("status %s", r.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, r.Body)
	return err
}

// ---------------- p2p ----------------

func scenarioP2P(ctx context.Context, e *env, o *opts) ([]row, error) {
	redisAddr, servers, redisPID, err := setup(e, o, 1, "p2p-")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base := runBase()
	ws, err := startLoggedIn(ctx, e, "worker", pairTasks(o, addrsOf(servers), 2*o.users, max(1, o.workers), base, deadline), 2*o.users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	e.logf("p2p: %d pairs, %d in flight each, %d-byte contents, warm-up %v, measure %v", o.users, o.inflight, o.size, o.warmup, o.measure)
	res, err := runPairsLoad(ctx, e, o, ws, []int{serverPID(o, servers[0])}, redisPID, servers[0].metrics)
	if err != nil {
		return nil, err
	}
	logPairs(e, "p2p", res)
	var pubsub, streams *pairResult
	if !o.noBaseline && redisAddr != "" {
		b, err := redisBaseline(ctx, redisAddr, o, redisPID)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		logPairs(e, "redis pub/sub baseline", b)
		pubsub = &b
		sb, err := streamsBaseline(ctx, redisAddr, o, redisPID)
		if err != nil {
			return nil, fmt.Errorf("streams baseline: %w", err)
		}
		logPairs(e, "redis streams baseline", sb)
		streams = &sb
	}
	e.res.add(nil, pairSeries("p2p", systemOurs, res))
	for _, b := range []struct {
		name string
		r    *pairResult
	}{{systemStreams, streams}, {systemPubSub, pubsub}} {
		if b.r != nil {
			e.res.add(nil, pairSeries("p2p", b.name, *b.r))
		}
	}
	return p2pRows(res, streams, pubsub), nil
}

// pairSeries is what the charts draw of a p2p-shaped run: its rate, its latency
// distribution, and the CPU per message of the server and Redis together (of
// Redis alone for a baseline).
func pairSeries(scenario, system string, r pairResult) series {
	s := series{Scenario: scenario, System: system, Rate: r.rate(), Latency: "send → receipt", Quantiles: histQuantiles(r.hist)}
	if r.delivered > 0 {
		s.CPUPerMsg = microsEach(r.serverCPU+r.redisCPU, r.delivered)
		s.CPUOf = "Redis"
		if system == systemOurs {
			s.CPUOf = "server + Redis"
		}
	}
	return s
}

func logPairs(e *env, name string, r pairResult) {
	cpu := "redis CPU not measured (not a process of this machine)"
	if r.redisCPU > 0 {
		cpu = fmt.Sprintf("redis CPU %v", r.redisCPU.Round(time.Millisecond))
	}
	if r.serverCPU > 0 {
		cpu = fmt.Sprintf("server CPU %v, %s", r.serverCPU.Round(time.Millisecond), cpu)
	}
	errs := ""
	if r.err != "" {
		errs = "; first error: " + r.err
	}
	e.logf("%s: sent %d, accepted %d, rejected %d, unanswered %d, delivered in window %d (%.0f/s), p50 %s p99 %s max %s, lost %d, dup %d, dropped conns %d, %s over the window%s",
		name, r.sent, r.accepted, r.rejected, r.unanswered, r.delivered, r.rate(), ms(r.hist.Quantile(.5)), ms(r.hist.Quantile(.99)),
		ms(time.Duration(r.hist.Max)*time.Microsecond), r.lost, r.dup, r.dropped, cpu, errs)
}

// redisBaseline runs the p2p shape on Redis PUBLISH/SUBSCRIBE: one publisher and one
// subscriber connection per pair, the same in-flight window and payload.
func redisBaseline(ctx context.Context, addr string, o *opts, redisPID int) (pairResult, error) {
	prefix := fmt.Sprintf("bench:%d:", rand.IntN(1<<30))
	n := o.users
	ps := make([]*pair, n)
	pubs := make([]redis.Conn, n)
	subConns := make([]redis.Conn, n)
	subs := make([]redis.PubSubConn, n)
	defer closeConns(pubs, subConns)
	for i := range n {
		var err error
		if pubs[i], err = dialRedis(addr); err != nil {
			return pairResult{}, err
		}
		if subs[i], err = subscribeTo(ctx, addr, prefix+strconv.Itoa(i), 5*time.Second); err != nil {
			return pairResult{}, err
		}
		subConns[i] = subs[i].Conn
		ps[i] = &pair{}
	}
	winTo := openWindow(ps, o)
	var sent atomic.Int64
	var wg, readers sync.WaitGroup
	var firstErr atomic.Value
	fail := func(err error) { firstErr.Store(err.Error()) }
	for i := range n {
		p := ps[i]
		readers.Add(1)
		go func(i int) { // subscriber
			defer readers.Done()
			for {
				switch v := subs[i].Receive().(type) {
				case redis.Message:
					p.receipt(nil, string(v.Data), time.Now())
				case error:
					return
				}
			}
		}(i)
		expect := make(chan struct{}, o.inflight+1)
		wg.Add(2)
		go func(i int) { // publish replies
			defer wg.Done()
			for range expect {
				nsub, err := redis.Int(pubs[i].Receive())
				if err != nil {
					fail(err)
				}
				p.response(err == nil && nsub == 1, "")
			}
		}(i)
		go func(i int) { // publisher
			defer wg.Done()
			defer close(expect)
			ch := prefix + strconv.Itoa(i)
			p.sendLoop(ctx, winTo, &sent, func(seq int) error {
				return sendExpected(pubs[i], expect, fail, "PUBLISH", ch, makeContent("P", seq, o.size))
			})
		}(i)
	}
	redisCPU := measureWindowCPU(ctx, o, redisPID)
	wg.Wait()
	waitSettled(ctx, ps, &sent, o.drain)
	for i := range n {
		subs[i].Conn.Close()
	}
	readers.Wait()
	return baselineResult(ps, &sent, o, redisCPU(), &firstErr), nil
}

// ---------------- fan-out ----------------

func scenarioFanout(ctx context.Context, e *env, o *opts) ([]row, error) {
	redisAddr, servers, redisPID, err := setup(e, o, 1, "fanout-")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base := runBase()
	tasks, senderID := listenTasks(o, servers[0].addr, base, 1, deadline)
	if err := prefillUsers(ctx, e, o, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	ws, err := startLoggedIn(ctx, e, "worker", tasks, o.users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	// The sender logs in last, then everyone waits for the presence notices to settle.
	sc, err := dialClient(ctx, servers[0].addr, "")
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	if err := sc.register(senderID); err != nil {
		return nil, err
	}
	if _, err := sc.login(senderID); err != nil {
		return nil, err
	}
	var smsErr atomic.Value
	go func() {
		for {
			typ, body, err := sc.readFrame()
			if err != nil {
				return
			}
			if typ == message.SmsResMesType {
				var r message.SmsResMes
				if unpack(body, &r) == nil && r.Code != message.CodeOK {
					smsErr.Store(fmt.Sprintf("SmsResMes %d %s", r.Code, r.Error))
				}
			}
		}
	}()
	if err := settleAll(ctx, e, ws, o.users, "receivers connected"); err != nil {
		return nil, err
	}
	e.logf("fan-out: %d broadcasts to %d receivers", o.messages, o.users)
	fr, err := fanRounds(ctx, ws, o, []int{serverPID(o, servers[0])}, func(content string) error {
		return sc.send(message.SmsMesType, message.SmsMes{Content: content})
	})
	if err != nil {
		return nil, err
	}
	e.logf("fan-out: %s", fr)
	if v, ok := smsErr.Load().(string); ok {
		e.logf("fan-out: a broadcast was refused: %s", v)
	}
	var rf *fanResult
	if !o.noBaseline && redisAddr != "" {
		if rf, err = redisFanout(ctx, e, o, redisAddr, redisPID, senderID); err != nil {
			return nil, fmt.Errorf("redis fan-out baseline: %w", err)
		}
		e.logf("redis fan-out baseline: %s", rf)
	}
	name := fmt.Sprintf("fan-out 1→%d", o.users)
	e.res.add(nil, fr.series(name, systemOurs)...)
	if rf != nil {
		e.res.add(nil, rf.series(name, systemRedisFan)...)
	}
	return fanRows(o, fr, rf), nil
}

// series is what the charts draw of a fan-out: the distribution of send → last
// receipt over the rounds (the target's measure) and of every single receipt.
func (r *fanResult) series(scenario, system string) []series {
	cpuOf := "server" // the sending side
	if system != systemOurs {
		cpuOf = "Redis"
	}
	return []series{
		{Scenario: scenario, System: system, Latency: "send → last receipt", Quantiles: sortedQuantiles(r.lasts), CPUPerMsg: float64(r.cpu.Microseconds()), CPUOf: cpuOf},
		{Scenario: scenario, System: system, Latency: "send → each receipt", Quantiles: histQuantiles(r.all)},
	}
}

// fanResult is what the rounds of a fan-out measured.
type fanResult struct {
	lasts      []time.Duration // send → last receipt of each complete round, sorted
	incomplete int             // rounds some receiver did not get within 10 s
	minRecv    int             // fewest receivers of a message
	all        *Hist           // every receipt
	receivers  int
	// CPU per measured round of the sender's side (the server nodes, or Redis for
	// the baseline) and of the receivers' processes.
	cpu, recvCPU time.Duration
}

func (r *fanResult) q(f float64) time.Duration {
	if len(r.lasts) == 0 {
		return 0
	}
	i := int(f*float64(len(r.lasts))+0.5) - 1
	return r.lasts[max(0, min(len(r.lasts)-1, i))]
}

func (r *fanResult) String() string {
	return fmt.Sprintf("send→last receipt over %d complete messages: p50 %s p99 %s max %s; per receipt p50 %s p99 %s; fewest receivers of a message %d/%d; incomplete %d; CPU per message: sender side %s, receivers %s",
		len(r.lasts), ms(r.q(.5)), ms(r.q(.99)), ms(r.q(1)), ms(r.all.Quantile(.5)), ms(r.all.Quantile(.99)), r.minRecv, r.receivers, r.incomplete, ms(r.cpu), ms(r.recvCPU))
}

// fanRounds sends o.messages contents, one at a time, with send, and waits for the
// workers' receivers to report each; then it collects their final counts. senders
// are the processes that do the sending side's work (server nodes, or Redis), whose
// CPU over the measured rounds it reports per round with the receivers'.
func fanRounds(ctx context.Context, ws *workers, o *opts, senders []int, send func(content string) error) (*fanResult, error) {
	r := &fanResult{receivers: o.users, all: NewHist()}
	var sm, rm *cpuMeter
	// Warm-up rounds have seqs up to 0 and a tag the receivers do not record.
	for seq := 1 - o.fanWarmup; seq <= o.messages; seq++ {
		tag := "F"
		if seq <= 0 {
			tag = warmupTag
		}
		if seq == 1 {
			sm, rm = newCPUMeter(senders...), newCPUMeter(ws.pids()...)
		}
		content := makeContent(tag, seq, o.size)
		_, sentNS, _ := parseContent(content)
		if err := send(content); err != nil {
			return nil, err
		}
		got := map[int]Event{}
		timeout := time.After(10 * time.Second)
	wait:
		for len(got) < len(ws.ws) {
			select {
			case ev := <-ws.events:
				if ev.Ev == "fan" && ev.Seq == seq {
					got[ev.W] = ev
				} else if ev.Ev == "exit" || ev.Ev == "fatal" {
					return nil, fmt.Errorf("worker %d: %s %s", ev.W, ev.Ev, ev.Err)
				}
			case <-timeout:
				r.incomplete++
				break wait
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var last int64
		for _, ev := range got {
			last = max(last, ev.Last)
		}
		if len(got) == len(ws.ws) && seq > 0 {
			r.lasts = append(r.lasts, time.Duration(last-sentNS))
		}
		if seq == o.messages && seq > 0 {
			r.cpu, r.recvCPU = sm.used()/time.Duration(seq), rm.used()/time.Duration(seq)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Final per-seq receipt counts and the per-receipt latency.
	ws.broadcast("report")
	recv := map[int]int{}
	rep, err := ws.collect(ctx, "report", func(ev Event) {
		if ev.Ev == "fanfinal" {
			recv[ev.Seq] += ev.N
		}
	})
	if err != nil {
		return nil, err
	}
	for _, x := range rep {
		r.all.Merge(x.Hist)
	}
	r.minRecv = o.users
	for seq := 1; seq <= o.messages; seq++ {
		r.minRecv = min(r.minRecv, recv[seq])
	}
	sort.Slice(r.lasts, func(i, j int) bool { return r.lasts[i] < r.lasts[j] })
	return r, nil
}

// settleAll settles (settle) and checks that the want clients, who, are all
// connected.
func settleAll(ctx context.Context, e *env, ws *workers, want int, who string) error {
	conn, err := settle(ctx, e, ws)
	if err != nil {
		return err
	}
	if conn != want {
		return fmt.Errorf("only %d of %d %s", conn, want, who)
	}
	return nil
}

// settle waits until presence notices stop arriving (bounded), and returns how
// many clients are connected.
func settle(ctx context.Context, e *env, ws *workers) (int, error) {
	e.logf("waiting for the presence notices of the logins to stop arriving (counted every 0.5 s until unchanged twice; at most 2 min)")
	var prev int64 = -1
	stable := 0
	for i := 0; i < 240; i++ {
		ws.broadcast("stats")
		st, err := ws.collect(ctx, "stats", nil)
		if err != nil {
			return 0, err
		}
		var notices int64
		conn, dropped, derr := 0, 0, ""
		for _, s := range st {
			notices += s.Notices
			conn += s.Connected
			dropped += s.Dropped
			if derr == "" {
				derr = s.Err
			}
		}
		if dropped > 0 {
			return conn, fmt.Errorf("%d connections dropped, e.g. %s", dropped, derr)
		}
		if notices == prev {
			stable++
			if stable >= 2 {
				e.logf("settled: %d connected, %d presence notices received", conn, notices)
				return conn, nil
			}
		} else {
			stable = 0
		}
		prev = notices
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return conn, ctx.Err()
		}
	}
	return 0, fmt.Errorf("presence notices did not settle")
}

// ---------------- idle ----------------

func scenarioIdle(ctx context.Context, e *env, o *opts) ([]row, error) {
	_, servers, _, err := setup(e, o, 1, "idle-")
	if err != nil {
		return nil, err
	}
	pid := serverPID(o, servers[0])
	deadline, _ := ctx.Deadline()
	var before int64 = -1
	var goBefore goMemory
	if pid > 0 {
		e.logf("idle: reading the server's RSS once it settles (forced collections 2 s apart until it moves < 0.5 %%; at most 10 s)")
		before = settledRSS(ctx, servers[0], pid, 10*time.Second)
		goBefore = readGoMemory(servers[0].metrics)
		e.logf("idle: server RSS before: %d KiB", before)
	}
	base := runBase()
	tasks, _ := listenTasks(o, servers[0].addr, base, 3, deadline)
	ws, err := e.startWorkers(tasks)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	cpu0 := newCPUMeter(pid)
	d, lh, err := loginPhase(ctx, e, ws, o.users)
	loginCPU := cpu0.used()
	if err != nil {
		return nil, err
	}
	conn, err := settle(ctx, e, ws)
	if err != nil {
		return nil, err
	}
	rows := []row{
		{fmt.Sprintf("idle %d", o.users), "logins/s (dial + LoginMes → LoginResMes)", fmt.Sprintf("%.0f", float64(o.users)/d.Seconds()), fmt.Sprintf("%d workers", len(ws.ws)), ""},
		{fmt.Sprintf("idle %d", o.users), "login latency p50 / p99", ms(lh.Quantile(.5)) + " / " + ms(lh.Quantile(.99)), "-", ""},
		{fmt.Sprintf("idle %d", o.users), "server CPU per login", fmt.Sprintf("%.0f µs", float64(loginCPU.Microseconds())/float64(o.users)), "-", ""},
	}
	if pid > 0 {
		e.logf("idle: reading the server's RSS once it settles (at most 30 s)")
		after := settledRSS(ctx, servers[0], pid, 30*time.Second)
		per := float64(after-before) / float64(conn)
		e.logf("idle: server RSS after %d connections: %d KiB (+%d KiB, %.2f KiB per connection)", conn, after, after-before, per)
		verdict := "FAIL (> 10 KiB)"
		if per <= 10 {
			verdict = "ok (≤ 10 KiB)"
		}
		rows = append(rows, row{fmt.Sprintf("idle %d", o.users), "server RSS growth per connection",
			fmt.Sprintf("%.2f KiB (%d → %d MiB)", per, before>>10, after>>10), "target ≤ 10 KiB", verdict})
		if goAfter := readGoMemory(servers[0].metrics); goBefore.ok() && goAfter.ok() {
			perConn := func(b, a float64) float64 { return (a - b) / 1024 / float64(conn) }
			e.logf("idle: Go heap in use %.0f → %.0f MiB, stacks %.0f → %.0f MiB", goBefore.heap/(1<<20), goAfter.heap/(1<<20), goBefore.stacks/(1<<20), goAfter.stacks/(1<<20))
			rows = append(rows, row{fmt.Sprintf("idle %d", o.users), "of which Go heap in use / goroutine stacks, per connection",
				fmt.Sprintf("%.2f / %.2f KiB", perConn(goBefore.heap, goAfter.heap), perConn(goBefore.stacks, goAfter.stacks)),
				"the rest: heap the runtime has not yet returned, runtime structures", ""})
		}
	}
	connVerdict := "ok"
	if conn != o.users {
		connVerdict = "FAIL"
	}
	rows = append(rows, row{fmt.Sprintf("idle %d", o.users), "connected after settle", fmt.Sprintf("%d", conn), fmt.Sprintf("%d", o.users), connVerdict})
	return rows, nil
}

// ---------------- cluster ----------------

func scenarioCluster(ctx context.Context, e *env, o *opts) ([]row, error) {
	redisAddr, servers, redisPID, err := setup(e, o, o.nodes, "node")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base := runBase()
	tasks := pairTasks(o, addrsOf(servers), o.users, max(1, o.workers), base, deadline)
	if err := prefillUsers(ctx, e, o, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	e.logf("cluster: %d nodes, %d users in %d workers, source addresses %v", len(servers), o.users, len(tasks), o.srcIPs)
	ws, err := e.startWorkers(tasks)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	d, _, err := loginPhase(ctx, e, ws, o.users)
	if err != nil {
		return nil, err
	}
	conn, err := settle(ctx, e, ws)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, s := range servers {
		if s.p != nil {
			pids = append(pids, s.p.Pid())
		}
	}
	e.logf("cluster: %d connected; %d pairs across nodes, %d in flight each, measure %v", conn, o.users/2, o.inflight, o.measure)
	res, err := runPairsLoad(ctx, e, o, ws, pids, redisPID, "")
	if err != nil {
		return nil, err
	}
	logPairs(e, "cluster", res)
	after, err := connectedNow(ctx, ws)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("cluster %d×%d", len(servers), o.users/max(1, len(servers)))
	cv := "ok"
	if conn != o.users || after != o.users {
		cv = "FAIL"
	}
	// A rejection is an answered 505 (the node shed load after waiting for Redis):
	// reported, but only what was lost or never answered fails.
	lv := "ok"
	if res.lost > 0 || res.dup > 0 || res.unanswered > 0 {
		lv = "FAIL"
	}
	rows := []row{
		{name, "connected (after login / after run)", fmt.Sprintf("%d / %d", conn, after), fmt.Sprintf("%d", o.users), cv},
		{name, "logins/s", fmt.Sprintf("%.0f", float64(o.users)/d.Seconds()), "-", ""},
		{name, "cross-node private delivered/s", fmt.Sprintf("%.0f", res.rate()), fmt.Sprintf("%d in flight per sender", o.inflight), ""},
		{name, "latency p50 / p99", ms(res.hist.Quantile(.5)) + " / " + ms(res.hist.Quantile(.99)), "-", ""},
		{name, "lost / duplicated / unanswered / rejected (505)", fmt.Sprintf("%d / %d / %d / %d of %d sent", res.lost, res.dup, res.unanswered, res.rejected, res.sent), "0 / 0 / 0 / any", lv},
	}
	if res.delivered > 0 && res.serverCPU > 0 {
		rows = append(rows, row{name, "CPU per message: servers / redis", fmt.Sprintf("%.1f / %.1f µs",
			float64(res.serverCPU.Microseconds())/float64(res.delivered), float64(res.redisCPU.Microseconds())/float64(res.delivered)), "-", ""})
	}
	return rows, nil
}

// connectedNow asks the workers how many of their clients are connected.
func connectedNow(ctx context.Context, ws *workers) (int, error) {
	st, err := statsNow(ctx, ws)
	return st.Connected, err
}

// statsNow asks the workers how many of their clients are connected and how many
// presence notices they got so far, and sums their answers.
func statsNow(ctx context.Context, ws *workers) (Event, error) {
	ws.broadcast("stats")
	st, err := ws.collect(ctx, "stats", nil)
	sum := Event{Ev: "stats"}
	for _, s := range st {
		sum.Connected += s.Connected
		sum.Notices += s.Notices
	}
	return sum, err
}

// prefillUsers adds the scenario's users to the Redis hash "users" with plaintext
// passwords (the course's way; the first login stores a hash), so that the workers
// only log in, unless -register asks for RegisterMes.
func prefillUsers(ctx context.Context, e *env, o *opts, redisAddr string, base int, tasks []Task) error {
	if o.register || redisAddr == "" {
		return nil
	}
	t0 := time.Now()
	if err := prefill(ctx, redisAddr, base, o.users, benchPassword); err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	e.logf("prefilled %d users (plaintext, hashed at first login) in %v", o.users, time.Since(t0).Round(time.Millisecond))
	for i := range tasks {
		tasks[i].Register = false
	}
	return nil
}

// listenTasks spreads o.users users with ids from base over at least minWorkers
// workers (at most 9,000 each) that log in to addr and read what comes. It also
// returns the first id after them.
func listenTasks(o *opts, addr string, base, minWorkers int, deadline time.Time) ([]Task, int) {
	var tasks []Task
	first := base
	for i, n := range splitUsers(o.users, max(minWorkers, o.workers), 9000) {
		tasks = append(tasks, Task{Kind: "listen", Addrs: []string{addr}, SrcIPs: o.srcIPs, First: first, N: n, Node0: i,
			Register: true, RegConc: 8, LoginConc: 32, Deadline: deadline.UnixMilli()})
		first += n
	}
	return tasks, first
}
