package main

// The realistic scenario: traffic as people make it. Many sender/receiver pairs
// over two nodes (every message crosses nodes), each sender with one message in
// flight, sending at random times (openloop.go) at a fixed offered rate; then,
// while they go on chatting, a wave of users logs in within a second, with
// presence at the nodes' default. The same shape runs on Redis streams alone
// (streams_inflight.go), in the same run, as the baseline of the CPU a durable
// message costs.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"
)

type realOpts struct {
	pairs      int
	tenK       bool
	rate       float64
	waveRate   float64
	wave       int
	waveSpread time.Duration
	waveChat   time.Duration
}

func realFlags(f *flag.FlagSet, r *realOpts) {
	f.IntVar(&r.pairs, "real-pairs", 1000, "realistic: sender/receiver pairs (the receiver on the other node)")
	f.BoolVar(&r.tenK, "real-10k", false, "realistic: the 10,000-user shape, 5,000 pairs (instead of -real-pairs); at the nodes' default presence limit their logins send 12.5 M notices, and the wave none")
	f.Float64Var(&r.rate, "real-rate", 4000, "realistic: offered messages per second, all senders together")
	f.IntVar(&r.wave, "real-wave", 1000, "realistic: users logging in while the pairs chat (0: no wave)")
	f.Float64Var(&r.waveRate, "real-wave-rate", 1000, "realistic: offered messages per second, all senders together, in the wave's run (once the measured run has arrived)")
	f.DurationVar(&r.waveSpread, "real-wave-spread", time.Second, "realistic: the wave's logins start evenly over this time")
	f.DurationVar(&r.waveChat, "real-wave-chat", 10*time.Second, "realistic: how long the pairs go on chatting from the wave's start")
}

// Targets of the realistic scenario.
const (
	realCPURatio   = 1.5                    // total CPU per message / the streams baseline's Redis CPU per message
	realP99Rate    = 4000                   // the p99 target holds at this offered rate…
	realP99Senders = 1000                   // …by at least this many senders
	realP99        = 50 * time.Millisecond  // …on two nodes
	realWaveP99    = 250 * time.Millisecond // messages while the wave logs in
	realWaveTime   = 5 * time.Second        // until the wave's users are all logged in
)

// realTimeout is the realistic scenario's deadline: the 10,000-user shape logs
// in five times as many users.
func realTimeout(r realOpts) time.Duration {
	if r.tenK {
		return 1200 * time.Second
	}
	return 600 * time.Second
}

// between runs begin at from and the function it returns at to, in the
// background; the function between returns, to be called once, waits for that
// and gives its value.
func between[T any](from, to time.Time, begin func() func() T) func() T {
	ch := make(chan T, 1)
	go func() {
		time.Sleep(time.Until(from))
		end := begin()
		time.Sleep(time.Until(to))
		ch <- end()
	}()
	return func() T { return <-ch }
}

// cpuBetween measures the CPU time pids use from from to to (between).
func cpuBetween(from, to time.Time, pids ...int) func() time.Duration {
	return between(from, to, func() func() time.Duration { return newCPUMeter(pids...).used })
}

// wavePatience is how long a user of the wave goes on waiting as busy answers
// tell it to, as a person at the terminal client would, so that the wave's time
// is how long it takes them all to get in, not when the load tool gives up.
const wavePatience = 60 * time.Second

// waveGap is how long the pairs chat at the wave's rate before the wave.
const waveGap = 2 * time.Second

// realSchedule is a run of the realistic load from now: the schedules start in
// half a second (so that every sender has its command) and send at rate (all
// senders together) for run.
func realSchedule(rate float64, o *opts, pairs int, run time.Duration) realCmd {
	start := time.Now().Add(500 * time.Millisecond)
	end := start.Add(run)
	return realCmd{Cmd: "real", StartNs: start.UnixNano(), EndNs: end.UnixNano(), StopNs: end.Add(10 * time.Second).UnixNano(),
		Rate: rate / float64(pairs), Size: o.size, Seed: rand.Uint64()}
}

// realMeters measure, in the background, the CPU of the processes of a run and
// how busy the machine is, over the measured window of the schedule c.
type realMeters struct {
	nodes, redis, tool func() time.Duration
	machine            func() float64
}

func startMeters(c realCmd, o *opts, nodes []int, redisPID int, tool []int) realMeters {
	start := time.Unix(0, c.StartNs)
	from, to := start.Add(o.warmup), start.Add(o.warmup+o.measure)
	return realMeters{cpuBetween(from, to, nodes...), cpuBetween(from, to, redisPID), cpuBetween(from, to, tool...),
		between(from, to, func() func() float64 { return newMachineMeter().percent })}
}

// fill waits for the window's end and gives r what was measured in it.
func (m realMeters) fill(r *realRun) {
	r.nodeCPU, r.redisCPU, r.toolCPU, r.machine = m.nodes(), m.redis(), m.tool(), m.machine()
}

func scenarioRealistic(ctx context.Context, e *env, o *opts) ([]row, error) {
	ro := o.real
	pairs := ro.pairs
	if ro.tenK {
		pairs = 5000
	}
	if pairs < 1 || ro.rate <= 0 || ro.waveRate <= 0 || ro.wave < 0 {
		return nil, errors.New("realistic needs -real-pairs ≥ 1, -real-rate and -real-wave-rate > 0, and -real-wave ≥ 0")
	}
	redisAddr, servers, redisPID, err := setup(e, o, o.nodes, "real-")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base, users := runBase(), 2*pairs
	tasks := pairTasks(o, addrsOf(servers), users, max(2, o.workers), base, deadline)
	o.users = users + ro.wave // the wave's users are prefilled too
	if err := prefillUsers(ctx, e, o, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	var waveTasks []Task
	first := base + users
	for i, n := range splitUsers(ro.wave, 1, 9000) {
		waveTasks = append(waveTasks, Task{Kind: "listen", Addrs: addrsOf(servers), SrcIPs: o.srcIPs, First: first, N: n, Node0: i,
			Register: tasks[0].Register, RegConc: 8, LoginConc: n, SpreadMs: ro.waveSpread.Milliseconds(),
			LoginWaitMs: wavePatience.Milliseconds(), Deadline: deadline.UnixMilli()})
		first += n
	}
	e.logf("realistic: %d pairs over %d nodes in %d workers, %.0f messages/s offered, one in flight per sender; a wave of %d logins over %v",
		pairs, len(servers), len(tasks), ro.rate, ro.wave, ro.waveSpread)
	pws, err := startLoggedIn(ctx, e, "worker", tasks, users)
	if err != nil {
		return nil, err
	}
	var quitOnce sync.Once
	var wws *workers
	quit := func() {
		quitOnce.Do(func() {
			pws.quit(e)
			if wws != nil {
				wws.quit(e)
			}
		})
	}
	defer quit()
	if err := settleAll(ctx, e, pws, users, "pair users connected"); err != nil {
		return nil, err
	}
	if len(waveTasks) > 0 {
		if wws, err = startWorkersAs(e, "worker", waveTasks); err != nil {
			return nil, err
		}
	}
	var pids []int
	for _, s := range servers {
		if pid := serverPID(o, s); !slices.Contains(pids, pid) { // -addr: one -server-pid for all
			pids = append(pids, pid)
		}
	}
	chat, err := realChat(ctx, e, o, pairs, pws, wws, pids, redisPID, servers[0].metrics)
	if err != nil {
		return nil, err
	}
	e.logf("realistic: %s", chat)
	if chat.waveRan {
		e.logf("realistic: %s", chat.waveString())
	}
	quit()

	var streams *realRun
	if !o.noBaseline && redisAddr != "" {
		c := realSchedule(ro.rate, o, pairs, o.warmup+o.measure)
		m := startMeters(c, o, nil, redisPID, []int{os.Getpid()})
		if streams, err = streamsOneInFlight(ctx, redisAddr, pairs, c, o.drain); err != nil {
			return nil, fmt.Errorf("streams baseline: %w", err)
		}
		streams.offered = ro.rate
		streams.window(o.warmup, o.measure)
		m.fill(streams)
		e.logf("realistic: streams baseline: %s", streams)
	}
	name := fmt.Sprintf("realistic %d pairs, %d nodes", pairs, len(servers))
	e.res.add(nil, chat.series(name, systemOurs))
	if streams != nil {
		e.res.add(nil, streams.series(name, systemStreams))
	}
	return realRows(name, pairs, ro, chat, streams), nil
}

// realChat runs the realistic load on the pairs' workers pws, logged in and
// settled: the measured run at the offered rate; then, if wws (the wave's users'
// workers) is not nil, once all of it has arrived, a run at the wave's rate
// during which the wave logs in. nodes are the pids of the chat nodes; with
// -cpuprofile, the node whose metrics listen at metrics is profiled over the
// measured window.
func realChat(ctx context.Context, e *env, o *opts, pairs int, pws, wws *workers, nodes []int, redisPID int, metrics string) (*realRun, error) {
	ro := o.real
	settled, err := statsNow(ctx, pws)
	if err != nil {
		return nil, err
	}
	c := realSchedule(ro.rate, o, pairs, o.warmup+o.measure)
	m := startMeters(c, o, nodes, redisPID, append(pws.pids(), os.Getpid()))
	var profile sync.WaitGroup
	defer profile.Wait()
	if o.cpuprofile != "" && metrics != "" {
		profile.Go(func() {
			if sleepCtx(ctx, time.Until(time.Unix(0, c.StartNs).Add(o.warmup))) {
				secs := max(1, int(o.measure.Seconds())-1)
				profileInBackground(e, &profile, metrics, secs, o.cpuprofile,
					fmt.Sprintf("cpu profile of %ds of a node under the realistic load written to %s", secs, o.cpuprofile))
			}
		})
	}
	chat := &realRun{offered: ro.rate, wave: ro.wave}
	if chat.res, chat.tl, chat.unsent, err = realLoad(ctx, pws, c); err != nil {
		return nil, err
	}
	chat.window(o.warmup, o.measure)
	m.fill(chat)
	if wws == nil {
		return chat, nil
	}

	c = realSchedule(ro.waveRate, o, pairs, waveGap+ro.waveChat)
	start := time.Unix(0, c.StartNs)
	waveDone := make(chan struct{})
	go func() {
		defer close(waveDone)
		if !sleepCtx(ctx, time.Until(start.Add(waveGap))) {
			return
		}
		e.logf("realistic: the wave of %d logins starts", ro.wave)
		chat.waveFrom, chat.waveRan = time.Since(start), true
		chat.waveTime, chat.waveLogins, chat.waveErr = loginPhase(ctx, e, wws, ro.wave)
		chat.waveConnected = ro.wave
		if chat.waveErr != nil {
			chat.waveTime = time.Since(start) - chat.waveFrom
			chat.waveConnected, _ = connectedNow(ctx, wws)
		}
	}()
	res, tl, unsent, err := realLoad(ctx, pws, c)
	<-waveDone
	if err != nil {
		return nil, err
	}
	chat.res, chat.unsent = res, chat.unsent+unsent // the counts are of both runs
	if !chat.waveRan {
		return nil, fmt.Errorf("the wave did not start: %w", ctx.Err())
	}
	chat.waveLatency = tl.latency(chat.waveFrom, chat.waveFrom+chat.waveTime)
	// The pairs stay logged in, so every notice they got since the settle is
	// the wave's, as is every notice its own users got.
	after, err := statsNow(ctx, pws)
	if err != nil {
		return nil, err
	}
	wave, err := statsNow(ctx, wws)
	if err != nil {
		return nil, err
	}
	chat.waveNotices = after.Notices - settled.Notices + wave.Notices
	return chat, nil
}

// realLoad runs the load c on the pairs' workers pws and merges their reports:
// the counts of every run so far, the timeline of this one, and the messages
// that were behind schedule at its end.
func realLoad(ctx context.Context, pws *workers, c realCmd) (pairResult, *timeline, int64, error) {
	for _, w := range pws.ws {
		w.sendValue(c)
	}
	rs, err := pws.collect(ctx, "result", nil)
	if err != nil {
		return pairResult{}, nil, 0, err
	}
	tl := newTimeline(time.Unix(0, c.StartNs))
	var unsent int64
	for _, ev := range rs {
		var r realReport
		if err := json.Unmarshal(ev.Raw, &r); err != nil {
			return pairResult{}, nil, 0, fmt.Errorf("worker %d: %w", ev.W, err)
		}
		tl.merge(r.Timeline)
		unsent += r.Unsent
	}
	return mergeResults(rs, 0), tl, unsent, nil
}
