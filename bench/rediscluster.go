package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"chat/internal/redistest"
)

// scenarioRedisCluster runs p2p across two nodes twice in one run: on one Redis,
// then on a Redis Cluster of 3 primaries with a replica each. It reports the
// messages/s of both and the Redis CPU per message: one Redis's, and the
// cluster's summed over the primaries and per primary (what the scripts split
// into per-slot steps cost), with the replicas' apart; then, on a fresh cluster,
// what -redis-wait-replicas 1 costs.
func scenarioRedisCluster(ctx context.Context, e *env, o *opts) ([]row, error) {
	one, err := clusterP2P(ctx, e, o, false)
	if err != nil {
		return nil, fmt.Errorf("on one Redis: %w", err)
	}
	e.stopAll(5 * time.Second) // the second run gets the cores to itself
	many, err := clusterP2P(ctx, e, o, true)
	if err != nil {
		return nil, fmt.Errorf("on the cluster: %w", err)
	}
	e.stopAll(5 * time.Second)
	waited, err := clusterP2P(ctx, e, o, true, "-redis-wait-replicas", "1")
	if err != nil {
		return nil, fmt.Errorf("on the cluster with WAIT: %w", err)
	}
	perMsg := func(d time.Duration, r pairResult) float64 { return microsEach(d, r.delivered) }
	oneCPU := perMsg(one.primaries(), one.res)
	manyCPU := perMsg(many.primaries(), many.res)
	var per []string
	for _, d := range many.perPrimary {
		per = append(per, fmt.Sprintf("%.1f µs", perMsg(d, many.res)))
	}
	ratio := 0.0
	if oneCPU > 0 {
		ratio = manyCPU / oneCPU
	}
	verdict := "ok"
	if ratio == 0 || ratio > 1.5 {
		verdict = "FAIL"
	}
	faults := "ok"
	for _, r := range []pairResult{one.res, many.res, waited.res} {
		if r.lost > 0 || r.dup > 0 || r.reordered > 0 || r.unanswered > 0 {
			faults = "FAIL"
		}
	}
	r := many.res
	return []row{
		{"rediscluster", "delivered/s, one Redis → cluster", fmt.Sprintf("%.0f → %.0f", one.res.rate(), many.res.rate()), "reference", ""},
		{"rediscluster", "Redis CPU per message, one Redis → cluster's primaries summed", fmt.Sprintf("%.1f µs → %.1f µs (%.2f×)", oneCPU, manyCPU, ratio), "target ≤ 1.5×", verdict},
		{"rediscluster", "Redis CPU per message, per primary", strings.Join(per, ", "), "", ""},
		{"rediscluster", "Redis CPU per message, the replicas", fmt.Sprintf("%.1f µs", perMsg(many.replicas, many.res)), "", ""},
		{"rediscluster", "with -redis-wait-replicas 1: delivered/s, Redis CPU per message (primaries), latency p50 / p99",
			fmt.Sprintf("%.0f, %.1f µs, %s / %s (without: %s / %s)", waited.res.rate(), perMsg(waited.primaries(), waited.res),
				ms(waited.res.hist.Quantile(.5)), ms(waited.res.hist.Quantile(.99)), ms(r.hist.Quantile(.5)), ms(r.hist.Quantile(.99))), "", ""},
		{"rediscluster", "lost / duplicated / out of order / unanswered / rejected, on the cluster", fmt.Sprintf("%d / %d / %d / %d / %d of %d sent",
			r.lost, r.dup, r.reordered, r.unanswered, r.rejected, r.sent), "0 / 0 / 0 / 0 (all three runs)", faults},
	}, nil
}

// clusterRun is one p2p run of scenarioRedisCluster.
type clusterRun struct {
	res        pairResult
	perPrimary []time.Duration // Redis CPU in the window, per primary
	replicas   time.Duration   // summed over the replicas
}

func (c clusterRun) primaries() time.Duration {
	var d time.Duration
	for _, p := range c.perPrimary {
		d += p
	}
	return d
}

// clusterP2P starts one Redis or a 3×1 cluster, two nodes on it, and runs p2p
// with the pairs across the nodes.
func clusterP2P(ctx context.Context, e *env, o *opts, cluster bool, nodeArgs ...string) (clusterRun, error) {
	var primaries, replicas []int
	var servers []*server
	start := func(redisAddr, node string, extra ...string) error {
		s, err := e.startServer(redisAddr, node, append(append([]string{}, o.serverArgs...), extra...)...)
		if err == nil {
			servers = append(servers, s)
		}
		return err
	}
	if cluster {
		dir, err := os.MkdirTemp(e.tmp, "rediscluster-")
		if err != nil {
			return clusterRun{}, err
		}
		c, err := redistest.LaunchCluster(redistest.ClusterConfig{Dir: dir,
			Args: []string{"--appendfsync", "everysec", "--maxclients", "20000"}})
		if err != nil {
			return clusterRun{}, err
		}
		e.track(func(time.Duration) {
			if err := c.Close(); err != nil {
				e.logf("%v", err)
			}
		})
		ps, err := c.PrimaryServers()
		if err != nil {
			return clusterRun{}, err
		}
		for _, n := range c.Nodes {
			primary := false
			for _, p := range ps {
				primary = primary || p == n
			}
			if primary {
				primaries = append(primaries, n.Pid())
			} else {
				replicas = append(replicas, n.Pid())
			}
		}
		seeds := strings.Join(c.Seeds(), ",")
		for i := 1; i <= 2; i++ {
			if err := start("", fmt.Sprintf("rc-%d", i), append([]string{"-redis-cluster", seeds}, nodeArgs...)...); err != nil {
				return clusterRun{}, err
			}
		}
	} else {
		r, err := e.startRedis()
		if err != nil {
			return clusterRun{}, err
		}
		primaries = []int{r.Pid()}
		for i := 1; i <= 2; i++ {
			if err := start(r.Addr, fmt.Sprintf("r1-%d", i)); err != nil {
				return clusterRun{}, err
			}
		}
	}
	deadline, _ := ctx.Deadline()
	ws, err := startLoggedIn(ctx, e, "worker", pairTasks(o, addrsOf(servers), 2*o.users, max(1, o.workers), runBase(), deadline), 2*o.users)
	if err != nil {
		return clusterRun{}, err
	}
	defer ws.quit(e)
	what := "one Redis"
	if cluster {
		what = "3×1 cluster"
	}
	if len(nodeArgs) > 0 {
		what += " " + strings.Join(nodeArgs, " ")
	}
	e.logf("rediscluster on %s: %d pairs across 2 nodes, %d in flight each, warm-up %v, measure %v", what, o.users, o.inflight, o.warmup, o.measure)
	// The Redis processes are metered here, over runPairsLoad's window, one by one.
	run := clusterRun{perPrimary: make([]time.Duration, len(primaries))}
	metered := make(chan struct{})
	go func() {
		defer close(metered)
		select {
		case <-time.After(o.warmup):
		case <-ctx.Done():
			return
		}
		ms := make([]*cpuMeter, len(primaries))
		for i, p := range primaries {
			ms[i] = newCPUMeter(p)
		}
		rm := newCPUMeter(replicas...)
		select {
		case <-time.After(o.measure):
		case <-ctx.Done():
			return
		}
		for i, m := range ms {
			run.perPrimary[i] = m.used()
		}
		run.replicas = rm.used()
	}()
	var pids []int
	for _, s := range servers {
		pids = append(pids, serverPID(o, s))
	}
	run.res, err = runPairsLoad(ctx, e, o, ws, pids, 0, "")
	<-metered
	run.res.redisCPU = run.primaries()
	logPairs(e, "rediscluster on "+what, run.res)
	return run, err
}
