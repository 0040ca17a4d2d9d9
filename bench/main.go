// Command chat-load is the load generator of the chat server.
//
//	chat-load bench                 every scenario end to end (own Redis and server nodes), then a table
//	chat-load p2p|fanout|idle|cluster|storm|logins|loginstorm|abuse|rooms|realistic|rediscluster [flags]   one scenario; -addr uses existing server node(s)
//	chat-load peer [flags]          the chat server next to Centrifugo (make bench-peer); not part of bench
//	chat-load chart [-in results.json -out dir]   the SVG charts of a results file (-json)
//
// Connections are spread over worker processes (this binary, "worker" mode, at most
// 9,000 connections each, because a process may hold 20,000 files), coordinated
// over stdin/stdout with JSON lines.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage: chat-load COMMAND [flags]

commands:
  bench     run every scenario (p2p to rediscluster) end to end, each with a private redis-server and server
            nodes, then print the table (-skip p2p,fanout,… leaves some out; -json FILE keeps the results)
  p2p       durable private messages between pairs, with the Redis streams (target)
            and pub/sub baselines
  fanout    one user broadcasts to many online users, with the Redis PUBLISH baseline
  idle      many logged-in idle connections: server RSS per connection, logins/s
  cluster   several nodes on one Redis, private messages across nodes
  storm     a node full of users is killed; they log in again elsewhere with their tokens
  logins    token and password logins/s with a full node
  loginstorm  private-message latency of logged-in pairs while 2,000 password logins are in flight
  abuse     stalled frames and non-reading clients: what they cost the server's memory
  rooms     room messages to members over two nodes, some members away and back
  realistic many pairs over two nodes, one message in flight each, open loop, with the Redis
            streams baseline; then a login wave while they chat
  rediscluster  p2p across two nodes on one Redis, then on a Redis Cluster of 3 primaries and
            3 replicas: messages/s and the Redis CPU per message, summed and per primary
  peer      one message in flight per sender, closed loop: the chat server (one node, two nodes)
            next to Centrifugo `+centrifugoVersion+` (Redis engine, memory engine), each on a private
            Redis; not part of bench (make bench-peer builds Centrifugo and runs it)
  chart     draw the SVG charts of a results file (-json of any command above)

run "chat-load COMMAND -h" for the flags of a command. The table printed at the end
is explained in BENCHMARKS.md (section "Method"); a FAIL verdict makes the exit status 1.
`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "worker":
		runWorker()
		return
	case "abuse-worker":
		runAbuseWorker()
		return
	case "loginstorm-worker":
		runLoginStormWorker()
		return
	case "rooms-worker":
		runRoomsWorker()
		return
	case "centrifugo-worker":
		runCentrifugoWorker()
		return
	case "chart":
		os.Exit(runChart(args))
	case "bench", "p2p", "fanout", "idle", "cluster", "storm", "logins", "loginstorm", "abuse", "rooms", "realistic", "rediscluster", "peer":
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	os.Exit(runCommand(cmd, args))
}

type flagSet struct {
	*flag.FlagSet
	o                             opts
	addrs, srcIPs, serverArgs     string
	serverBin                     string
	p2pPairs, fanUsers, idleUsers int
	clusterUsers                  int
	stalls, nonReaders            int
	skip, jsonOut                 string
	rooms                         roomOpts
}

func runCommand(cmd string, args []string) int {
	f := &flagSet{FlagSet: flag.NewFlagSet("chat-load "+cmd, flag.ContinueOnError)}
	o := &f.o
	f.StringVar(&f.addrs, "addr", "", "existing server node address(es), comma-separated; empty: start a private Redis and server nodes")
	f.StringVar(&o.redis, "redis", "", "existing Redis address (for the p2p baseline and the servers started); empty: start a private one")
	f.IntVar(&o.serverPID, "server-pid", 0, "pid of an existing server (-addr), for RSS and CPU figures")
	f.StringVar(&o.metrics, "metrics", "", "-metrics-addr of an existing server, for a forced GC before RSS readings")
	f.StringVar(&f.serverBin, "server-bin", "", "chat-server binary (default: chat-server next to this binary)")
	f.StringVar(&f.serverArgs, "server-args", "", "extra flags for the server nodes started, space-separated")
	f.IntVar(&o.workers, "workers", 0, "worker processes (default: the scenario's own; at most 9,000 connections each)")
	f.DurationVar(&o.timeout, "timeout", 0, "global deadline of the scenario (default per scenario)")
	f.StringVar(&f.srcIPs, "src", "", "source addresses to dial from, comma-separated (e.g. 127.0.0.2,127.0.0.3)")
	f.IntVar(&o.inflight, "inflight", 32, "p2p/cluster: unanswered messages in flight per sender")
	f.IntVar(&o.size, "size", 64, "content bytes")
	f.DurationVar(&o.warmup, "warmup", 2*time.Second, "p2p/cluster/realistic: warm-up before the measured window")
	f.DurationVar(&o.measure, "duration", 10*time.Second, "p2p/cluster/realistic: measured window")
	f.DurationVar(&o.drain, "drain", 60*time.Second, "p2p/cluster/realistic: longest wait for messages in flight after the window (it ends as soon as all arrived); peer: also for each answer")
	f.BoolVar(&o.msgIDs, "client-msg-id", false, "p2p/cluster: send a clientMsgId with each private message (server-side dedup)")
	f.BoolVar(&o.noBaseline, "no-baseline", false, "p2p, fanout, realistic: skip the Redis baselines (streams and pub/sub; PUBLISH to as many subscribers)")
	f.StringVar(&o.cpuprofile, "cpuprofile", "", "p2p, logins, storm, realistic: write a CPU profile of a server (from its /debug/pprof) taken during the window, the token logins, the storm")
	f.IntVar(&f.p2pPairs, "pairs", 100, "p2p: sender/receiver pairs")
	f.IntVar(&f.fanUsers, "receivers", 10000, "fanout: online receivers")
	f.IntVar(&o.messages, "messages", 20, "fanout: broadcasts")
	f.IntVar(&o.fanWarmup, "fan-warmup", 1, "fanout: broadcasts sent before the measured ones, to the server and to the Redis baseline alike, and not counted")
	f.IntVar(&f.idleUsers, "conns", 19000, "idle: logged-in connections")
	f.IntVar(&f.clusterUsers, "users", 60000, "cluster: users (half send, half receive, each on another node)")
	f.IntVar(&o.nodes, "nodes", 4, "cluster/storm: server nodes to start")
	f.IntVar(&f.stalls, "stalls", 10000, "abuse: connections that stall inside a frame")
	f.IntVar(&f.nonReaders, "nonreaders", 3000, "abuse: logged-in clients that stop reading under group traffic")
	f.BoolVar(&o.register, "register", false, "fanout/cluster: register users with RegisterMes instead of prefilling Redis (p2p and idle always register)")
	f.StringVar(&f.skip, "skip", "", "bench: scenarios to skip, comma-separated (p2p, fanout, idle, cluster, storm, logins, loginstorm, abuse, rooms, realistic)")
	f.StringVar(&f.jsonOut, "json", "", "also write the results (the table's rows and the figures the charts draw) to this JSON file; see make charts")
	stormFlags(f.FlagSet, &o.storm)
	loginFlags(f.FlagSet, &o.logins)
	loginStormFlags(f.FlagSet, &o.loginStorm)
	realFlags(f.FlagSet, &o.real)
	peerFlags(f.FlagSet, &o.peer)
	f.rooms.register(f.FlagSet)
	if err := f.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if f.addrs != "" {
		o.addrs = strings.Split(f.addrs, ",")
	}
	if f.srcIPs != "" {
		o.srcIPs = strings.Split(f.srcIPs, ",")
	}
	if f.serverArgs != "" {
		o.serverArgs = strings.Fields(f.serverArgs)
	}
	skip, err := parseSkip(f.skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	e, err := newEnv(f.serverBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.cleanup()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	type scen struct {
		name    string
		timeout time.Duration
		fn      func(context.Context, *env, *opts) ([]row, error)
		set     func(*opts)
	}
	all := []scen{
		{"p2p", 150 * time.Second, scenarioP2P, func(o *opts) { o.users = f.p2pPairs }},
		{"fanout", 300 * time.Second, scenarioFanout, func(o *opts) { o.users = f.fanUsers; o.workers = max(o.workers, 2) }},
		{"idle", 360 * time.Second, scenarioIdle, func(o *opts) { o.users = f.idleUsers }},
		{"cluster", 540 * time.Second, scenarioCluster, func(o *opts) {
			o.users = f.clusterUsers
			if f.o.inflight == 32 && !flagGiven(f.FlagSet, "inflight") {
				o.inflight = 1
			}
			if len(o.srcIPs) == 0 {
				o.srcIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
			}
			// The presence notices of the first logins (one to every online user per
			// login: 12.5 M for the first 5,000) are measured by idle and fan-out.
			// Here they would only starve the logins of 60,000 users on two cores
			// shared with seven client processes, so the nodes stop them at 1,000.
			// Under overload some sends are answered 505 yet kept (and delivered):
			// a clientMsgId per send tells exactly which were rejected.
			if !flagGiven(f.FlagSet, "client-msg-id") {
				o.msgIDs = true
			}
			limitPresence(o)
		}},
		{"storm", 480 * time.Second, scenarioStorm, func(o *opts) {
			if len(o.srcIPs) == 0 {
				o.srcIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
			}
			limitPresence(o) // as in cluster: 40,000 logins
		}},
		{"logins", 360 * time.Second, scenarioLogins, func(o *opts) {
			if len(o.srcIPs) == 0 { // tens of thousands of short connections
				o.srcIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
			}
			limitPresence(o) // the measured logins happen above either limit
		}},
		{"loginstorm", 180 * time.Second, scenarioLoginStorm, func(o *opts) {
			if len(o.srcIPs) == 0 { // thousands of connections at once
				o.srcIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
			}
			relaxLoginStormLimits(o)
		}},
		{"abuse", 600 * time.Second, func(ctx context.Context, e *env, o *opts) ([]row, error) {
			return scenarioAbuse(ctx, e, o, f.nonReaders)
		}, func(o *opts) { o.users = f.stalls }},
		{"rooms", 600 * time.Second, func(ctx context.Context, e *env, o *opts) ([]row, error) {
			return scenarioRooms(ctx, e, o, f.rooms)
		}, func(o *opts) {
			if !flagGiven(f.FlagSet, "nodes") {
				o.nodes = 2
			}
		}},
		{"realistic", realTimeout(f.o.real), scenarioRealistic, func(o *opts) {
			if !flagGiven(f.FlagSet, "nodes") {
				o.nodes = 2
			}
			if len(o.srcIPs) == 0 { // a wave of connections at once
				o.srcIPs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
			}
		}},
		{"rediscluster", 300 * time.Second, scenarioRedisCluster, func(o *opts) { o.users = f.p2pPairs }},
		{"peer", peerTimeout(f.o.peer), scenarioPeer, func(*opts) {}},
	}
	failed := false
	for _, s := range all {
		if cmd != "bench" && cmd != s.name {
			continue
		}
		if cmd == "bench" && s.name == "peer" { // needs Centrifugo: make bench-peer
			continue
		}
		if cmd == "bench" && skip[s.name] {
			e.logf("=== %s skipped (-skip)", s.name)
			continue
		}
		if cmd == "bench" {
			settleSockets(e)
		}
		so := *o
		s.set(&so)
		timeout := s.timeout
		if o.timeout > 0 {
			timeout = o.timeout
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		e.logf("=== %s (deadline %v)", s.name, timeout)
		start := time.Now()
		done := make(chan struct{})
		// Hard stop: if the scenario does not return within its deadline + 30 s, clean up and exit.
		go func() {
			select {
			case <-done:
			case <-time.After(timeout + 30*time.Second):
				fmt.Fprintf(os.Stderr, "%s: stuck past its deadline, killing everything\n", s.name)
				e.cleanup()
				os.Exit(1)
			}
		}()
		r, err := s.fn(sctx, e, &so)
		close(done)
		cancel()
		e.stopAll(5 * time.Second) // servers, redis and workers of this scenario
		if err != nil {
			e.logf("%s FAILED after %v: %v", s.name, time.Since(start).Round(time.Millisecond), err)
			r = append([]row{{s.name, "error", err.Error(), "-", "FAIL"}}, r...)
			failed = true
		} else {
			e.logf("%s done in %v", s.name, time.Since(start).Round(time.Millisecond))
		}
		e.res.add(r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Println()
	printTable(os.Stdout, e.res.Rows)
	if f.jsonOut != "" {
		if err := e.res.writeJSON(f.jsonOut); err != nil {
			fmt.Fprintf(os.Stderr, "-json: %v\n", err)
			failed = true
		} else {
			fmt.Fprintf(os.Stderr, "results written to %s (make charts draws them)\n", f.jsonOut)
		}
	}
	if failed || e.res.failed() || ctx.Err() != nil {
		return 1
	}
	return 0
}

// limitPresence starts the nodes with -presence-limit 1000 unless -server-args
// sets it.
func limitPresence(o *opts) {
	for _, a := range o.serverArgs {
		if strings.Contains(a, "-presence-limit") {
			return
		}
	}
	o.serverArgs = append(append([]string{}, o.serverArgs...), "-presence-limit", "1000")
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// settleSockets waits (at most settleMax) for the connections the previous scenario
// closed to leave TIME_WAIT. Tens of thousands of them make every connect() of the
// next scenario search the crowded port space, in the kernel, on the cores the server
// needs: a 60,000-user run after the 19,000-user one crawled where it runs in 2.5 min
// alone.
func settleSockets(e *env) {
	const settleMax, settleBelow, poll = 90 * time.Second, 1000, 5 * time.Second
	start := time.Now()
	said := false
	for {
		tw := timeWaitSockets()
		waited := time.Since(start).Round(time.Second)
		if tw < settleBelow {
			if said {
				e.logf("TIME_WAIT sockets down to %d after %v", tw, waited)
			}
			return
		}
		if waited >= settleMax {
			e.logf("still %d sockets in TIME_WAIT after %v; going on", tw, waited)
			return
		}
		if !said {
			e.logf("waiting up to %v for the %d sockets in TIME_WAIT the previous scenario left to drop below %d "+
				"(the kernel keeps a closed connection's port for 60 s; with tens of thousands held, every connect() of the next scenario searches for a free port on the cores the server needs)",
				settleMax, tw, settleBelow)
			said = true
		} else {
			e.logf("%d sockets in TIME_WAIT after %v", tw, waited)
		}
		time.Sleep(poll)
	}
}

// timeWaitSockets reads the TIME_WAIT count of /proc/net/sockstat (0 if unknown).
func timeWaitSockets() int {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for _, f := range strings.Split(string(b), "\n") {
		fields := strings.Fields(f)
		for i := 0; i+1 < len(fields); i++ {
			if fields[0] == "TCP:" && fields[i] == "tw" {
				n, _ := strconv.Atoi(fields[i+1])
				return n
			}
		}
	}
	return 0
}
