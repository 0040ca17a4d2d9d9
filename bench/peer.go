package main

// The peer scenario: the chat server next to a well-known real-time server,
// Centrifugo, in the same run on the same machine, on the same kind of private
// Redis. Pairs send with one message in flight each: send, wait for the
// server's answer (Centrifugo's publish reply; the chat server's PrivateResMes
// to a proto-2 user), send the next. Receivers count what arrives.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"chat/internal/chattest"
)

// centrifugoVersion is the Centrifugo release the scenario compares with;
// scripts/centrifugo-install builds it into bin/.
const centrifugoVersion = "v6.9.1"

// peerTarget is the least one-in-flight rate of one chat node, as a multiple
// of Centrifugo's with its Redis engine.
const peerTarget = 1.0

type peerOpts struct {
	pairs      int
	messages   int
	centrifugo string
	twoNodes   bool
	rounds     int
}

func peerFlags(f *flag.FlagSet, p *peerOpts) {
	f.IntVar(&p.pairs, "peer-pairs", 1000, "peer: sender/receiver pairs")
	f.IntVar(&p.messages, "peer-messages", 40, "peer: messages each sender sends, one in flight")
	f.StringVar(&p.centrifugo, "centrifugo-bin", "", "peer: the Centrifugo binary (default: centrifugo-"+centrifugoVersion+" next to this binary; make bench-peer builds it)")
	f.IntVar(&p.rounds, "peer-rounds", 3, "peer: rounds of every system in turn; the table shows each system's median round")
	f.BoolVar(&p.twoNodes, "peer-two-nodes", true, "peer: also run the chat server on two nodes (receivers on the other node)")
}

// peerTimeout is the peer scenario's deadline: a round of the four systems is
// mostly logins and settling, which 300 s leave ample room for.
func peerTimeout(p peerOpts) time.Duration {
	return 60*time.Second + time.Duration(max(1, p.rounds))*300*time.Second
}

// peerRun is what one system measured.
type peerRun struct {
	system                       string     // in the log
	label                        string     // in the table, e.g. "1 node", "Redis engine"
	res                          pairResult // counts and send → receipt latencies
	answer                       *Hist      // send → answer
	answered                     int64
	dur                          time.Duration // from the first send to the last answer
	serverCPU, redisCPU, toolCPU time.Duration
	machine                      float64 // % of all cores busy meanwhile, other people's work included
	own                          float64 // % of all cores the server, Redis and the load tool used
}

func (r *peerRun) rate() float64 { return float64(r.answered) / max(r.dur.Seconds(), 1e-9) }

// perMessage is d per answered send (microsEach).
func (r *peerRun) perMessage(d time.Duration) float64 { return microsEach(d, r.answered) }

func (r *peerRun) String() string {
	errs := ""
	if r.res.err != "" {
		errs = "; first error: " + r.res.err
	}
	return fmt.Sprintf("%s: %d answered in %v: %.0f msg/s; send → answer p50 %s p99 %s, send → receipt p50 %s p99 %s; CPU per message: server %.1f µs, Redis %.1f µs, load tool %.1f µs; sent %d, received %d, lost %d, dup %d, unanswered %d, rejected %d, dropped conns %d; machine %.0f %% busy, %.0f %% by this run%s",
		r.system, r.answered, r.dur.Round(time.Millisecond), r.rate(), ms(r.answer.Quantile(.5)), ms(r.answer.Quantile(.99)),
		ms(r.res.hist.Quantile(.5)), ms(r.res.hist.Quantile(.99)), r.perMessage(r.serverCPU), r.perMessage(r.redisCPU), r.perMessage(r.toolCPU),
		r.res.sent, r.res.received, r.res.lost, r.res.dup, r.res.unanswered, r.res.rejected, r.res.dropped, r.machine, r.own, errs)
}

func scenarioPeer(ctx context.Context, e *env, o *opts) ([]row, error) {
	po := o.peer
	if po.pairs < 1 || po.messages < 1 || po.rounds < 1 {
		return nil, errors.New("peer needs -peer-pairs, -peer-messages and -peer-rounds ≥ 1")
	}
	bin, err := centrifugoBin(po.centrifugo)
	if err != nil {
		return nil, err
	}
	e.logf("peer: %d pairs, %d messages each, one in flight per sender, %d-byte contents; %d rounds of every system, one after the other",
		po.pairs, po.messages, o.size, po.rounds)
	type system struct {
		name string
		run  func() (*peerRun, error)
	}
	systems := []system{
		{"Centrifugo, Redis engine", func() (*peerRun, error) { return peerCentrifugo(ctx, e, o, bin, "redis") }},
		{"Centrifugo, memory engine", func() (*peerRun, error) { return peerCentrifugo(ctx, e, o, bin, "memory") }},
		{"chat server, 1 node", func() (*peerRun, error) { return peerChat(ctx, e, o, 1) }},
	}
	if po.twoNodes {
		systems = append(systems, system{"chat server, 2 nodes", func() (*peerRun, error) { return peerChat(ctx, e, o, 2) }})
	}
	// Rounds of every system in turn, so that what else the shared machine does
	// falls on all of them alike.
	runs := make([][]*peerRun, len(systems))
	for round := range po.rounds {
		for i, sys := range systems {
			r, err := sys.run()
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", sys.name, round+1, err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	return peerRows(po, o.size, runs[2:], runs[:2]), nil
}

// centrifugoBin finds the Centrifugo binary: name, or the one make bench-peer
// builds next to this binary.
func centrifugoBin(name string) (string, error) {
	if name == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		name = filepath.Join(filepath.Dir(exe), "centrifugo-"+centrifugoVersion)
	}
	if _, err := os.Stat(name); err != nil {
		return "", fmt.Errorf("%w (make bench-peer builds it with scripts/centrifugo-install, or name one with -centrifugo-bin)", err)
	}
	return name, nil
}

// centrifugoConfig is Centrifugo's configuration for the run: insecure client
// mode (no tokens; any client may subscribe and publish to any channel), on
// addr, with engine "memory" or "redis" on redisAddr.
func centrifugoConfig(addr, engine, redisAddr string) ([]byte, error) {
	host, p, ok := strings.Cut(addr, ":")
	port, err := strconv.Atoi(p)
	if !ok || err != nil {
		return nil, fmt.Errorf("bad address %q", addr)
	}
	eng := map[string]any{"type": engine}
	if engine == "redis" {
		eng["redis"] = map[string]any{"address": []string{"redis://" + redisAddr}}
	}
	return json.MarshalIndent(map[string]any{
		"client":      map[string]any{"insecure": true},
		"http_server": map[string]any{"address": host, "port": port},
		"engine":      eng,
		"log":         map[string]any{"level": "warn"},
	}, "", "  ")
}

// peerCentrifugo runs the load against one Centrifugo node with engine, on a
// private Redis for the Redis engine.
func peerCentrifugo(ctx context.Context, e *env, o *opts, bin, engine string) (*peerRun, error) {
	defer e.stopAll(10 * time.Second)
	var redisAddr string
	var redisPID int
	if engine == "redis" {
		r, err := e.startRedis()
		if err != nil {
			return nil, err
		}
		redisAddr, redisPID = r.Addr, r.Pid()
	}
	addr, err := chattest.PickAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := centrifugoConfig(addr, engine, redisAddr)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(e.tmp, "centrifugo-"+engine+".json")
	if err := os.WriteFile(file, cfg, 0o644); err != nil {
		return nil, err
	}
	p, err := chattest.Launch(chattest.Spec{Bin: bin, Args: []string{"--config", file}, Addr: addr,
		LogPath: filepath.Join(e.tmp, "centrifugo-"+engine+".log")})
	if err != nil {
		return nil, err
	}
	e.track(p.Stop)
	deadline, _ := ctx.Deadline()
	var tasks []Task
	first := 1
	for i, n := range splitUsers(2*o.peer.pairs, max(2, o.workers), 9000) {
		tasks = append(tasks, Task{Kind: "centrifugo", Addrs: []string{addr}, SrcIPs: o.srcIPs, First: first, N: n, Node0: i,
			LoginConc: 32, DrainMs: o.drain.Milliseconds(), Deadline: deadline.UnixMilli()})
		first += n
	}
	e.logf("peer: Centrifugo, %s engine, at %s: %d clients connect, the receivers subscribe (the log's \"registered\" and \"logged in\")", engine, addr, 2*o.peer.pairs)
	ws, err := startWorkersAs(e, "centrifugo-worker", tasks)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	if _, _, err := loginPhase(ctx, e, ws, 2*o.peer.pairs); err != nil {
		return nil, err
	}
	label := map[string]string{"redis": "Redis engine", "memory": "memory engine"}[engine]
	return runPeerLoad(ctx, e, o, ws, "Centrifugo "+centrifugoVersion+", "+label, label, []int{p.Pid()}, redisPID)
}

// peerChat runs the load against the chat server on nodes nodes on a private
// Redis, senders and receivers on different nodes when there are two.
func peerChat(ctx context.Context, e *env, o *opts, nodes int) (*peerRun, error) {
	defer e.stopAll(10 * time.Second)
	co := *o
	co.addrs, co.redis = nil, "" // always private: the same kind of Redis as Centrifugo's
	redisAddr, servers, redisPID, err := setup(e, &co, nodes, "peer-")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base, users := runBase(), 2*o.peer.pairs
	tasks := pairTasks(&co, addrsOf(servers), users, max(2, o.workers), base, deadline)
	co.users = users
	if err := prefillUsers(ctx, e, &co, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	ws, err := startLoggedIn(ctx, e, "worker", tasks, users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	if err := settleAll(ctx, e, ws, users, "pair users connected"); err != nil {
		return nil, err
	}
	var pids []int
	for _, s := range servers {
		pids = append(pids, serverPID(&co, s))
	}
	label := "1 node"
	if nodes > 1 {
		label = fmt.Sprintf("%d nodes", nodes)
	}
	return runPeerLoad(ctx, e, o, ws, "chat server, "+label, label, pids, redisPID)
}

// runPeerLoad starts the closed loop on the workers ws, connected, and merges
// their reports; the CPU of the servers, Redis and the load tool counts from
// the start until every report is in.
func runPeerLoad(ctx context.Context, e *env, o *opts, ws *workers, system, label string, servers []int, redisPID int) (*peerRun, error) {
	sm, rm, tm := newCPUMeter(servers...), newCPUMeter(redisPID), newCPUMeter(append(ws.pids(), os.Getpid())...)
	mm, t0 := newMachineMeter(), time.Now()
	c := peerCmd{Cmd: "peer", Messages: o.peer.messages, Size: o.size, WaitMs: o.drain.Milliseconds()}
	for _, w := range ws.ws {
		w.sendValue(c)
	}
	rs, err := ws.collect(ctx, "result", nil)
	if err != nil {
		return nil, err
	}
	r := &peerRun{system: system, label: label, answer: NewHist(), serverCPU: sm.used(), redisCPU: rm.used(), toolCPU: tm.used(), machine: mm.percent()}
	r.own = 100 * float64(r.serverCPU+r.redisCPU+r.toolCPU) / float64(time.Since(t0)) / float64(runtime.NumCPU())
	var start, end int64
	for _, ev := range rs {
		var pr peerReport
		if err := json.Unmarshal(ev.Raw, &pr); err != nil {
			return nil, fmt.Errorf("worker %d: %w", ev.W, err)
		}
		r.answer.Merge(pr.Answer)
		if start == 0 || pr.StartNs < start {
			start = pr.StartNs
		}
		end = max(end, pr.EndNs)
	}
	r.res = mergeResults(rs, 0)
	r.answered = r.res.accepted + r.res.rejected
	r.dur = time.Duration(end - start)
	e.logf("peer: %s", r)
	return r, nil
}

// median is the run of median rate of rounds.
func median(rounds []*peerRun) *peerRun {
	s := slices.Clone(rounds)
	slices.SortFunc(s, func(a, b *peerRun) int { return cmp.Compare(a.rate(), b.rate()) })
	return s[(len(s)-1)/2]
}

// peerRows is the peer part of the table: the chat server's rounds (one node
// first) against Centrifugo's (the Redis engine first); each system shows its
// median round, and the rates of all.
func peerRows(po peerOpts, size int, ours, theirs [][]*peerRun) []row {
	name := fmt.Sprintf("peer %d pairs × %d msgs, one in flight, %d B, %d rounds", po.pairs, po.messages, size, po.rounds)
	cell := func(systems [][]*peerRun, f func(r *peerRun) string) string {
		var parts []string
		for _, rounds := range systems {
			r := median(rounds)
			parts = append(parts, r.label+": "+f(r))
		}
		return strings.Join(parts, "; ")
	}
	ref := func(f func(r *peerRun) string) string {
		return "Centrifugo " + centrifugoVersion + " " + cell(theirs, f)
	}
	metric := func(m string, f func(r *peerRun) string) row {
		return row{name, m, cell(ours, f), ref(f), ""}
	}
	rates := func(systems [][]*peerRun) string {
		var parts []string
		for _, rounds := range systems {
			var rs []string
			for _, r := range rounds {
				rs = append(rs, fmt.Sprintf("%.0f", r.rate()))
			}
			parts = append(parts, fmt.Sprintf("%s: %.0f (%s)", rounds[0].label, median(rounds).rate(), strings.Join(rs, ", ")))
		}
		return strings.Join(parts, "; ")
	}
	lat := func(h *Hist) string { return ms(h.Quantile(.5)) + " / " + ms(h.Quantile(.99)) }
	counts := func(r *peerRun) string {
		return fmt.Sprintf("%d / %d / %d / %d / %d", r.res.lost, r.res.dup, r.res.unanswered, r.res.rejected, r.res.dropped)
	}
	var lost [5]int64
	failed := false
	for _, rounds := range ours {
		for _, r := range rounds {
			for i, n := range []int64{r.res.lost, r.res.dup, r.res.unanswered, r.res.rejected, int64(r.res.dropped)} {
				lost[i] += n
			}
			failed = failed || r.answered == 0
		}
	}
	lostVerdict := "ok"
	if failed || lost != [5]int64{} {
		lostVerdict = "FAIL"
	}
	var ratios []string
	for i := range ours[0] {
		ratios = append(ratios, fmt.Sprintf("%.2f", ours[0][i].rate()/max(theirs[0][i].rate(), 1e-9)))
	}
	ratio := median(ours[0]).rate() / max(median(theirs[0]).rate(), 1e-9)
	verdict := fmt.Sprintf("not met (< %.1f×)", peerTarget)
	if ratio >= peerTarget {
		verdict = fmt.Sprintf("ok (≥ %.1f×)", peerTarget)
	}
	return []row{
		{name, "answered sends/s: median (each round)", rates(ours), "Centrifugo " + centrifugoVersion + " " + rates(theirs), ""},
		metric("send → answer p50 / p99", func(r *peerRun) string { return lat(r.answer) }),
		metric("send → receipt p50 / p99", func(r *peerRun) string { return lat(r.res.hist) }),
		metric("CPU per message: server / Redis / load tool", func(r *peerRun) string {
			return fmt.Sprintf("%.1f / %.1f / %.1f µs", r.perMessage(r.serverCPU), r.perMessage(r.redisCPU), r.perMessage(r.toolCPU))
		}),
		metric("machine busy (all cores) / by this run's processes", func(r *peerRun) string { return fmt.Sprintf("%.0f / %.0f %%", r.machine, r.own) }),
		{name, "lost / duplicated / unanswered / rejected / dropped connections, all rounds", fmt.Sprintf("%d / %d / %d / %d / %d", lost[0], lost[1], lost[2], lost[3], lost[4]),
			ref(counts) + " (median round)", lostVerdict},
		{name, "one-in-flight rate vs Centrifugo (Redis engine)", fmt.Sprintf("%.2f× (medians %.0f vs %.0f msg/s, 1 node; rounds %s)", ratio, median(ours[0]).rate(), median(theirs[0]).rate(), strings.Join(ratios, ", ")),
			fmt.Sprintf("target ≥ %.1f×", peerTarget), verdict},
	}
}
