package main

// The reconnect storm: nodes full of logged-in users exchanging private
// messages; one node is killed with SIGKILL and its users come back on the
// other nodes the way the terminal client does (backoff with full jitter, the
// next node of its list, a login with the session token, 505 retryAfter
// honoured), while the messages keep flowing.
//
// Placement (pair g = sender 2g, receiver 2g+1, g counted over all workers):
// senders sit on surviving nodes only, so that every send has an answer; the
// receivers of even pairs sit on the node that will die, those of odd pairs on
// a surviving node, the sender's own for a third of them and another for the
// rest. With 4 nodes that is a quarter of the users on each node.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chat/common/message"
)

// StormTask is the storm part of a worker's task.
type StormTask struct {
	Victim     int   `json:"victim"`     // index in Addrs of the node that is killed
	PairBase   int   `json:"pairBase"`   // global index of the worker's first pair
	IntervalMs int64 `json:"intervalMs"` // between two messages of one pair
}

// StormReport is what a worker saw of the storm.
type StormReport struct {
	Victims   int   `json:"victims"`   // users placed on the node that is killed
	Back      int   `json:"back"`      // of them, logged in again elsewhere
	FirstBack int64 `json:"firstBack"` // unix ns of the first and last of those logins
	LastBack  int64 `json:"lastBack"`
	PerSec    []int `json:"perSec"` // logins again per second since the "storm" command
	Down      *Hist `json:"down"`   // per login again: connection lost → logged in

	Attempts   int64  `json:"attempts"`   // reconnection attempts (dials)
	DialFails  int64  `json:"dialFails"`  // of them, refused or timed out
	Busy       int64  `json:"busy"`       // answered 505 with retryAfter
	Refused    int64  `json:"refused"`    // token refused (403): logged in with the password
	OtherDrops int64  `json:"otherDrops"` // connections lost on a node that was not killed
	SendErrs   int64  `json:"sendErrs"`   // senders stopped by a failed write
	LoginErrs  int64  `json:"loginErrs"`  // attempts that failed otherwise (no answer, other codes)
	LoginErr   string `json:"loginErr,omitempty"`

	// Messages still missing once the drain time was over, and the receivers
	// that were then logged in again to get them as offline messages.
	MissedLive int64 `json:"missedLive"`
	Relogged   int   `json:"relogged"`

	// Message latencies: of receivers on surviving nodes before the kill and
	// during the storm, of receivers that were on the killed node during the
	// storm, and of all receivers after it (until "calm").
	Before, During, ToVictims, After *Hist
}

// stormWorker is a worker's side of the storm.
type stormWorker struct {
	t       StormTask
	n       int // nodes
	victims int

	mu         sync.Mutex
	stormAt    time.Time // when the "storm" command came
	back       int
	firstBack  int64
	lastBack   int64
	perSec     []int
	down       *Hist
	before     *Hist
	during     *Hist
	toVictims  *Hist
	after      *Hist
	stop       context.CancelFunc // ends the senders
	missedLive int64
	relogged   int

	attempts, dialFails, busy, refused, otherDrops, sendErrs, loginErrs atomic.Int64

	loginErr atomic.Value
	forced   []atomic.Bool // receivers whose connection relogin closed
}

func newStormWorker(t Task) *stormWorker {
	if t.Storm == nil {
		return nil
	}
	s := &stormWorker{t: *t.Storm, n: len(t.Addrs), forced: make([]atomic.Bool, t.N), down: NewHist(), before: NewHist(), during: NewHist(), toVictims: NewHist(), after: NewHist()}
	for j := 0; j < t.N; j++ {
		if s.nodeOf(j) == s.t.Victim {
			s.victims++
		}
	}
	return s
}

// nodeOf is the node user j of the worker first logs in to (see the top of the file).
func (s *stormWorker) nodeOf(j int) int {
	g := s.t.PairBase + j/2
	alive := s.n - 1
	k := g / 2
	switch {
	case j%2 == 0:
		return s.survivor(k % alive)
	case g%2 == 0:
		return s.t.Victim
	}
	return s.survivor((k + (k/alive)%alive) % alive)
}

func (s *stormWorker) survivor(i int) int {
	if i >= s.t.Victim {
		return i + 1
	}
	return i
}

func (s *stormWorker) toVictim(pair int) bool { return (s.t.PairBase+pair)%2 == 0 }

// listNode is entry pos of user j's list of nodes: its first node, then the
// others in an order of its own, so that the users of a dead node spread evenly.
func (s *stormWorker) listNode(w *worker, j, pos int) int {
	home := w.nodeOf(j)
	k := pos % s.n
	if k == 0 {
		return home
	}
	return (home + 1 + (j+k-1)%(s.n-1)) % s.n
}

// backoff is the wait before reconnection attempt k (0 for the first), the
// terminal client's policy: uniformly random in [0, min(30 s, 1 s·2^k)).
func backoff(k int) time.Duration {
	ceil := time.Second
	for ; k > 0 && ceil < 30*time.Second; k-- {
		ceil *= 2
	}
	return rand.N(min(ceil, 30*time.Second))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve reads what c gets until the connection ends; in a storm, the user then
// reconnects and goes on reading on the new connection.
func (w *worker) serve(ctx context.Context, j int, c *client) {
	pos := 0
	for {
		w.readLoop(j, c)
		if w.storm == nil || w.quitOn.Load() || ctx.Err() != nil {
			return
		}
		if c, pos = w.storm.reconnect(ctx, w, j, pos); c == nil {
			return
		}
	}
}

// reconnect logs user j in again after its connection at list entry pos ended,
// as the terminal client does, and returns the new connection and its entry.
func (s *stormWorker) reconnect(ctx context.Context, w *worker, j, pos int) (*client, int) {
	lost := time.Now()
	forced := s.forced[j].Swap(false)
	victim := s.listNode(w, j, pos) == s.t.Victim && !forced
	if !victim && !forced {
		s.otherDrops.Add(1)
	}
	id := w.t.First + j
	attempt := 0
	wait := backoff(0)
	for !w.quitOn.Load() && sleepCtx(ctx, wait) {
		pos++
		attempt++
		wait = backoff(attempt)
		s.attempts.Add(1)
		c, err := dialClient(ctx, w.t.Addrs[s.listNode(w, j, pos)], w.srcOf(j))
		if err != nil {
			s.dialFails.Add(1)
			continue
		}
		r, err := c.loginWith(message.LoginMes{UserID: id, Token: w.tokens[j], Proto: message.ProtoAck})
		switch {
		case err == nil:
		case r.Code == message.CodeServerError && r.RetryAfter > 0:
			s.busy.Add(1)
			wait = retryWait(r.RetryAfter)
		case r.Code == message.CodeWrongPassword:
			s.refused.Add(1) // the terminal client asks for the password
			r, err = c.login(id)
		}
		if err != nil && r.RetryAfter <= 0 {
			s.loginErrs.Add(1)
			s.loginErr.Store(err.Error())
		}
		if err != nil {
			c.Close()
			continue
		}
		if r.Token != "" {
			w.tokens[j] = r.Token
		}
		if !forced { // a relogin after the drain is no part of the storm
			s.returned(victim, lost)
		}
		p := w.pairs[j/2]
		p.mu.Lock()
		if j%2 == 0 {
			p.s = c
		} else {
			p.r = c
		}
		p.mu.Unlock()
		w.clients[j] = c
		w.connected.Add(1)
		return c, pos
	}
	return nil, pos
}

func (s *stormWorker) returned(victim bool, lost time.Time) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Record(now.Sub(lost))
	if !s.stormAt.IsZero() {
		sec := int(now.Sub(s.stormAt) / time.Second)
		for len(s.perSec) <= sec {
			s.perSec = append(s.perSec, 0)
		}
		s.perSec[sec]++
	}
	if !victim {
		return
	}
	s.back++
	ns := now.UnixNano()
	if s.firstBack == 0 || ns < s.firstBack {
		s.firstBack = ns
	}
	s.lastBack = max(s.lastBack, ns)
}

// stormCmd handles the parent's storm commands: "storm" (the node was just
// killed: the latencies so far are the calm before), "stormstats" (progress),
// "back" (everyone is back: the latencies so far are the storm's) and "calm"
// (the senders stop and runStorm reports).
func (w *worker) stormCmd(cmd string) {
	s := w.storm
	switch cmd {
	case "storm":
		s.mu.Lock()
		s.stormAt = time.Now()
		s.mu.Unlock()
		surv, _ := s.takeLatencies(w)
		s.mu.Lock()
		s.before.Merge(surv)
		s.mu.Unlock()
	case "stormstats":
		w.emit(Event{Ev: "stormstats", Connected: int(w.connected.Load()), Storm: s.report()})
	case "back":
		surv, vict := s.takeLatencies(w)
		s.mu.Lock()
		s.during.Merge(surv)
		s.toVictims.Merge(vict)
		s.mu.Unlock()
	case "calm":
		surv, vict := s.takeLatencies(w)
		s.mu.Lock()
		s.after.Merge(surv)
		s.after.Merge(vict)
		stop := s.stop
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
}

// takeLatencies returns the latencies the pairs recorded since the last call,
// of receivers on surviving nodes and of those on the killed node.
func (s *stormWorker) takeLatencies(w *worker) (surv, vict *Hist) {
	surv, vict = NewHist(), NewHist()
	for i, p := range w.pairs {
		p.mu.Lock()
		h := p.hist
		p.hist = NewHist()
		p.mu.Unlock()
		if s.toVictim(i) {
			vict.Merge(h)
		} else {
			surv.Merge(h)
		}
	}
	return surv, vict
}

func (s *stormWorker) report() *StormReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &StormReport{Victims: s.victims, Back: s.back, FirstBack: s.firstBack, LastBack: s.lastBack,
		PerSec: append([]int(nil), s.perSec...), Down: copyHist(s.down),
		Attempts: s.attempts.Load(), DialFails: s.dialFails.Load(), Busy: s.busy.Load(), Refused: s.refused.Load(),
		OtherDrops: s.otherDrops.Load(), SendErrs: s.sendErrs.Load(), LoginErrs: s.loginErrs.Load(), LoginErr: loadString(&s.loginErr),
		MissedLive: s.missedLive, Relogged: s.relogged,
		Before: copyHist(s.before), During: copyHist(s.during), ToVictims: copyHist(s.toVictims), After: copyHist(s.after)}
}

// copyHist is a packed copy of h, safe to encode while h goes on recording.
func copyHist(h *Hist) *Hist {
	c := NewHist()
	c.Merge(h)
	return c.Pack()
}

// runStorm sends private messages at a steady pace on every pair (each pair
// every IntervalMs, phases spread at random) until "calm", then waits for the
// messages in flight and reports.
func (w *worker) runStorm(ctx context.Context) {
	s := w.storm
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	s.mu.Lock()
	s.stop = stop
	s.mu.Unlock()
	t0 := time.Now()
	winFrom := t0.Add(time.Duration(w.t.WarmupMs) * time.Millisecond).UnixNano()
	interval := time.Duration(max(1, s.t.IntervalMs)) * time.Millisecond
	var wg sync.WaitGroup
	var sent atomic.Int64
	var sendErr atomic.Value
	for _, p := range w.pairs {
		p.arm(winFrom, math.MaxInt64, max(1, w.t.InFlight))
		if p.s == nil || p.r == nil {
			continue
		}
		wg.Go(func() {
			next := t0.Add(rand.N(interval))
			p.sendLoop(sctx, time.UnixMilli(w.t.Deadline), &sent, func(seq int) error {
				if !sleepCtx(sctx, time.Until(next)) {
					return sctx.Err()
				}
				next = next.Add(interval)
				p.mu.Lock()
				c := p.s
				p.mu.Unlock()
				err := c.send(message.PrivateMesType, message.PrivateMes{ToUserID: p.rid,
					Content: makeContent("S", seq, w.t.Size), ClientMsgID: strconv.Itoa(seq)})
				if err != nil {
					s.sendErrs.Add(1)
					sendErr.Store(err.Error())
				}
				return err
			})
		})
	}
	wg.Wait()
	e := w.drainPairs(ctx, sent.Load())
	if e.Lost > 0 {
		// Still missing after the drain time: kept in the store but never
		// delivered live? A login brings every kept message as an offline one.
		n := s.relogin(w)
		fmt.Fprintf(os.Stderr, "worker: %d accepted messages missing after the drain; their %d receivers log in again\n", e.Lost, n)
		s.mu.Lock()
		s.missedLive, s.relogged = e.Lost, n
		s.mu.Unlock()
		e = w.drainPairs(ctx, sent.Load())
	}
	e.Ms = time.Since(t0).Milliseconds()
	if v, ok := sendErr.Load().(string); ok {
		e.Err = v
	}
	e.Storm = s.report()
	w.emit(w.withDropErr(e))
}

// relogin closes the connection of every receiver that misses a message, so
// that it logs in again (serve), and returns how many it closed.
func (s *stormWorker) relogin(w *worker) int {
	n := 0
	for i, p := range w.pairs {
		p.mu.Lock()
		if len(p.missing(1)) > 0 && p.r != nil {
			s.forced[2*i+1].Store(true)
			p.r.Close()
			n++
		}
		p.mu.Unlock()
	}
	return n
}

func loadString(v *atomic.Value) string {
	s, _ := v.Load().(string)
	return s
}

// ---------------- parent side ----------------

type stormOpts struct {
	perNode int
	rate    float64
	before  time.Duration
	after   time.Duration
	longest time.Duration
}

func stormFlags(f *flag.FlagSet, s *stormOpts) {
	f.IntVar(&s.perNode, "storm-users", 10000, "storm: logged-in users per node (-nodes nodes, at least 2)")
	f.Float64Var(&s.rate, "storm-rate", 1000, "storm: private messages per second over all pairs (each pair sends at an even pace)")
	f.DurationVar(&s.before, "storm-before", 10*time.Second, "storm: messages flow this long (after -warmup) before the node is killed")
	f.DurationVar(&s.after, "storm-after", 10*time.Second, "storm: messages go on flowing this long once everyone is back (past the killed node's heartbeat expiry)")
	f.DurationVar(&s.longest, "storm-max", 120*time.Second, "storm: longest wait for the users of the killed node to be back")
}

// mergeStorm adds the reports of the workers.
func mergeStorm(evs []Event) StormReport {
	m := StormReport{Down: NewHist(), Before: NewHist(), During: NewHist(), ToVictims: NewHist(), After: NewHist()}
	for _, ev := range evs {
		r := ev.Storm
		if r == nil {
			continue
		}
		m.Victims += r.Victims
		m.Back += r.Back
		if r.FirstBack != 0 && (m.FirstBack == 0 || r.FirstBack < m.FirstBack) {
			m.FirstBack = r.FirstBack
		}
		m.LastBack = max(m.LastBack, r.LastBack)
		for i, n := range r.PerSec {
			for len(m.PerSec) <= i {
				m.PerSec = append(m.PerSec, 0)
			}
			m.PerSec[i] += n
		}
		m.Attempts += r.Attempts
		m.DialFails += r.DialFails
		m.Busy += r.Busy
		m.Refused += r.Refused
		m.OtherDrops += r.OtherDrops
		m.SendErrs += r.SendErrs
		m.LoginErrs += r.LoginErrs
		if m.LoginErr == "" {
			m.LoginErr = r.LoginErr
		}
		m.MissedLive += r.MissedLive
		m.Relogged += r.Relogged
		m.Down.Merge(r.Down)
		m.Before.Merge(r.Before)
		m.During.Merge(r.During)
		m.ToVictims.Merge(r.ToVictims)
		m.After.Merge(r.After)
	}
	return m
}

func scenarioStorm(ctx context.Context, e *env, o *opts) ([]row, error) {
	so := o.storm
	if o.nodes < 2 || so.perNode < 2 || so.rate <= 0 {
		return nil, errors.New("storm needs -nodes ≥ 2, -storm-users ≥ 2 and -storm-rate > 0")
	}
	if len(o.addrs) > 0 {
		return nil, errors.New("storm starts its own nodes (it kills one): no -addr")
	}
	users := o.nodes * so.perNode / 2 * 2
	o.users = users
	const victim = 0
	redisAddr, servers, redisPID, err := setup(e, o, o.nodes, "storm")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base := runBase()
	tasks := pairTasks(o, addrsOf(servers), users, max(1, o.workers), base, deadline)
	interval := time.Duration(float64(users/2) / so.rate * float64(time.Second))
	pairBase := 0
	for i := range tasks {
		tasks[i].MsgIDs = true
		tasks[i].Storm = &StormTask{Victim: victim, PairBase: pairBase, IntervalMs: max(1, interval.Milliseconds())}
		pairBase += tasks[i].N / 2
	}
	if err := prefillUsers(ctx, e, o, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	e.logf("storm: %d nodes × %d users in %d workers, %d pairs each sending every %v (%.0f messages/s), source addresses %v",
		o.nodes, so.perNode, len(tasks), users/2, interval, so.rate, o.srcIPs)
	ws, err := startLoggedIn(ctx, e, "worker", tasks, users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	if err := settleAll(ctx, e, ws, users, "users connected"); err != nil {
		return nil, err
	}
	ws.broadcast("run")
	e.logf("storm: messages flow for %v (warm-up and -storm-before) before the kill", o.warmup+so.before)
	if !sleepCtx(ctx, o.warmup+so.before) {
		return nil, ctx.Err()
	}
	var survivors []int
	for i, s := range servers {
		if i != victim {
			survivors = append(survivors, s.p.Pid())
		}
	}
	e.logf("storm: SIGKILL node %s", servers[victim].addr)
	var tool []int
	for _, w := range ws.ws {
		tool = append(tool, w.p.cmd.Process.Pid)
	}
	cpu := newCPUMeter(survivors...)
	redisCPU := newCPUMeter(redisPID)
	toolCPU := newCPUMeter(tool...)
	mach := newMachineMeter()
	killAt := time.Now()
	servers[victim].p.Kill()
	ws.broadcast("storm")
	var profile sync.WaitGroup
	defer profile.Wait()
	if o.cpuprofile != "" {
		profileInBackground(e, &profile, servers[(victim+1)%len(servers)].metrics, 10, o.cpuprofile,
			"cpu profile of a surviving node's first 10 s of the storm written to "+o.cpuprofile)
	}
	var st StormReport
	online, lastLog := 0, time.Now()
	for {
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return nil, ctx.Err()
		}
		ws.broadcast("stormstats")
		evs, err := ws.collect(ctx, "stormstats", nil)
		if err != nil {
			return nil, err
		}
		st, online = mergeStorm(evs), 0
		for _, ev := range evs {
			online += ev.Connected
		}
		all := st.Back >= st.Victims && online == users
		if all || time.Since(killAt) > so.longest || time.Since(lastLog) >= 2*time.Second {
			e.logf("storm: %v after the kill: %d of %d back, %d online of %d, %d attempts, %d refused dials, %d busy",
				time.Since(killAt).Round(time.Millisecond), st.Back, st.Victims, online, users, st.Attempts, st.DialFails, st.Busy)
			lastLog = time.Now()
		}
		if all || time.Since(killAt) > so.longest {
			break
		}
	}
	stormCPU, stormRedis, stormTool, stormWall := cpu.used(), redisCPU.used(), toolCPU.used(), time.Since(killAt)
	busy := mach.percent()
	ws.broadcast("back")
	e.logf("storm: messages flow for another %v (-storm-after) with everyone back", so.after)
	if !sleepCtx(ctx, so.after) {
		return nil, ctx.Err()
	}
	ws.broadcast("calm")
	rs, err := ws.collect(ctx, "result", nil)
	if err != nil {
		return nil, err
	}
	res := mergeResults(rs, time.Since(killAt))
	st = mergeStorm(rs)
	logPairs(e, "storm", res)

	name := fmt.Sprintf("storm %d×%d", o.nodes, so.perNode)
	allBack := time.Duration(st.LastBack - killAt.UnixNano())
	backVerdict := "FAIL (≥ 20 s)"
	if st.Back == st.Victims && allBack < 20*time.Second {
		backVerdict = "ok (< 20 s)"
	} else if st.Back < st.Victims {
		backVerdict = fmt.Sprintf("FAIL (%d not back)", st.Victims-st.Back)
	}
	peak := 0
	for _, n := range st.PerSec {
		peak = max(peak, n)
	}
	span := time.Duration(st.LastBack - st.FirstBack)
	// A message the killed node wrote to its recipient but whose AckMes it
	// never passed on comes again at the next login (at-least-once, same msgId,
	// docs/PROTOCOL.md): a repeat is allowed, a loss is not.
	lv := "ok"
	if res.lost > 0 || res.unanswered > 0 {
		lv = "FAIL"
	}
	mv := "ok"
	if st.MissedLive > 0 {
		mv = "FAIL"
	}
	dv := "ok"
	if st.OtherDrops > 0 || st.SendErrs > 0 {
		dv = "FAIL"
	}
	e.logf("storm: all back %v after the kill; per second: %v; downtime p50 %s p99 %s; survivors' latency before p50 %s p99 %s, during p50 %s p99 %s; to the killed node's users p50 %s p99 %s max %s; all after the storm p50 %s p99 %s",
		allBack.Round(time.Millisecond), st.PerSec, ms(st.Down.Quantile(.5)), ms(st.Down.Quantile(.99)),
		ms(st.Before.Quantile(.5)), ms(st.Before.Quantile(.99)), ms(st.During.Quantile(.5)), ms(st.During.Quantile(.99)),
		ms(st.ToVictims.Quantile(.5)), ms(st.ToVictims.Quantile(.99)), ms(time.Duration(st.ToVictims.Max)*time.Microsecond),
		ms(st.After.Quantile(.5)), ms(st.After.Quantile(.99)))
	return []row{
		{name, "users of the killed node online again (all / last after the kill)", fmt.Sprintf("%d of %d / %.1f s", st.Back, st.Victims, allBack.Seconds()), "target < 20 s", backVerdict},
		{name, "token logins/s in the storm (first to last / peak second)", fmt.Sprintf("%.0f / %d", float64(st.Back)/max(span.Seconds(), 1e-3), peak), "-", ""},
		{name, "downtime per user p50 / p99 (connection lost → logged in)", ms(st.Down.Quantile(.5)) + " / " + ms(st.Down.Quantile(.99)), "backoff: full jitter, 1 s, cap 30 s", ""},
		{name, "attempts / refused dials / 505 busy / token refused / other failures", fmt.Sprintf("%d / %d / %d / %d / %d %s",
			st.Attempts, st.DialFails, st.Busy, st.Refused, st.LoginErrs, st.LoginErr), "-", ""},
		{name, "surviving nodes' messages p50 / p99: before the kill", ms(st.Before.Quantile(.5)) + " / " + ms(st.Before.Quantile(.99)), fmt.Sprintf("%.0f messages/s", so.rate), ""},
		{name, "surviving nodes' messages p50 / p99: during the storm", ms(st.During.Quantile(.5)) + " / " + ms(st.During.Quantile(.99)), "-", ""},
		{name, "messages to the killed node's users p50 / p99 / max", ms(st.ToVictims.Quantile(.5)) + " / " + ms(st.ToVictims.Quantile(.99)) + " / " +
			ms(time.Duration(st.ToVictims.Max)*time.Microsecond), "arrive (offline messages)", ""},
		{name, "all messages p50 / p99: after the storm", ms(st.After.Quantile(.5)) + " / " + ms(st.After.Quantile(.99)), fmt.Sprintf("for %v", so.after), ""},
		{name, "lost / unanswered / rejected / repeated", fmt.Sprintf("%d / %d / %d / %d of %d sent", res.lost, res.unanswered, res.rejected, res.dup, res.sent), "0 acknowledged lost (repeats: at-least-once)", lv},
		{name, "missing after the drain time (their receivers then log in again)", fmt.Sprintf("%d (%d receivers logged in again)", st.MissedLive, st.Relogged), "0", mv},
		{name, "other connections lost / senders stopped", fmt.Sprintf("%d / %d", st.OtherDrops, st.SendErrs), "0", dv},
		{name, "CPU in the storm: surviving nodes / Redis / load tool", fmt.Sprintf("%.0f %% / %.0f %% / %.0f %% of a core",
			100*stormCPU.Seconds()/stormWall.Seconds(), 100*stormRedis.Seconds()/stormWall.Seconds(), 100*stormTool.Seconds()/stormWall.Seconds()), "-", ""},
		{name, "machine CPU busy in the storm, all processes", fmt.Sprintf("%.0f %%", busy), "2 cores, shared", ""},
	}, nil
}
