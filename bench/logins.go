package main

// Login throughput with a full node: while many users stay logged in on one
// node, the load tool logs other users in and out as fast as the node answers,
// with a session token and with a password whose stored hash has bcrypt cost 4
// or the default cost, and compares the rates.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"chat/common/message"
)

type loginOpts struct {
	online   int           // users that stay logged in
	users    int           // users logged in and out with the password at cost 4, then with their tokens
	slow     int           // users logged in and out with the password at slowCost
	slowCost int           // bcrypt cost of the slow users' hashes
	conc     int           // logins in flight
	duration time.Duration // each phase lasts at least this long
}

func loginFlags(f *flag.FlagSet, l *loginOpts) {
	f.IntVar(&l.online, "logins-online", 19000, "logins: users that stay logged in on the node")
	f.IntVar(&l.users, "logins-users", 2000, "logins: users that log in with the password (cost 4), then again and again with their session token")
	f.IntVar(&l.slow, "logins-slow", 300, "logins: users whose password hash has -logins-cost")
	f.IntVar(&l.slowCost, "logins-cost", bcrypt.DefaultCost, "logins: bcrypt cost compared with cost 4 (the server's default)")
	f.IntVar(&l.conc, "logins-conc", 64, "logins: logins in flight")
	f.DurationVar(&l.duration, "logins-duration", 10*time.Second, "logins: length of each measured phase")
}

// loginRun is one measured phase.
type loginRun struct {
	ok, failed int64
	busy       int64 // answered 505 with retryAfter (and tried again)
	gaveUp     int64 // still busy after loginWait: the client gave up
	firstErr   string
	hist       *Hist // first attempt → logged in
	wall       time.Duration
	serverCPU  time.Duration
	redisCPU   time.Duration
	toolCPU    time.Duration // this process: dials, logins, closes
	machine    float64       // % of all CPUs busy, whoever used them
}

func (r loginRun) rate() float64 { return float64(r.ok) / r.wall.Seconds() }

func (r loginRun) cpuPerLogin() string {
	per := func(d time.Duration) float64 { return microsEach(d, r.ok) }
	return fmt.Sprintf("%.0f / %.0f / %.0f µs", per(r.serverCPU), per(r.redisCPU), per(r.toolCPU))
}

// runLogins logs ids in, conc at a time, each on a new connection that it
// closes once the login is answered (the user goes offline, its token stays
// valid), cycling over ids until d has passed and, if all, every id has logged
// in once. cred gives the LoginMes of id index i; a token in the answer is kept
// in tokens[i] unless tokens is nil. Busy answers are honoured.
func runLogins(ctx context.Context, addr string, srcIPs []string, ids []int, cred func(i int) message.LoginMes,
	tokens []string, conc int, d time.Duration, all bool, pids ...int) loginRun {
	var r loginRun
	r.hist = NewHist()
	var mu sync.Mutex
	var next atomic.Int64
	busy0 := busyAnswers.Load()
	cpu := newCPUMeter(pids[0])
	rcpu := newCPUMeter(pids[1:]...)
	tcpu := newCPUMeter(os.Getpid())
	mach := newMachineMeter()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if time.Since(start) >= d && (!all || k >= len(ids)) {
					return
				}
				i := k % len(ids)
				src := ""
				if len(srcIPs) > 0 {
					src = srcIPs[k%len(srcIPs)]
				}
				t0 := time.Now()
				c, err := dialClient(ctx, addr, src)
				var res message.LoginResMes
				if err == nil {
					res, err = c.loginPatiently(cred(i))
					c.Close()
				}
				mu.Lock()
				if err != nil && res.RetryAfter > 0 {
					r.gaveUp++
				} else if err != nil {
					r.failed++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
				} else {
					r.ok++
					r.hist.Record(time.Since(t0))
					if tokens != nil && res.Token != "" {
						tokens[i] = res.Token
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.wall = time.Since(start)
	r.serverCPU, r.redisCPU, r.toolCPU, r.machine = cpu.used(), rcpu.used(), tcpu.used(), mach.percent()
	r.busy = busyAnswers.Load() - busy0
	return r
}

func scenarioLogins(ctx context.Context, e *env, o *opts) ([]row, error) {
	lo := o.logins
	if lo.online < 0 || lo.users < 1 || lo.slow < 1 || lo.conc < 1 {
		return nil, errors.New("logins needs -logins-online ≥ 0, -logins-users, -logins-slow and -logins-conc ≥ 1")
	}
	redisAddr, srv, redisPID, err := oneNode(e, o, "logins")
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	base := runBase()
	o.users = lo.online
	// The online users log in through workers (the tool's own connections at
	// once are few), from 127.0.0.1; the measured logins come from o.srcIPs.
	lo2 := *o
	lo2.srcIPs = nil
	tasks, first := listenTasks(&lo2, srv.addr, base, 3, deadline)
	if err := prefillUsers(ctx, e, o, redisAddr, base, tasks); err != nil {
		return nil, err
	}
	fast := make([]int, lo.users)
	slow := make([]int, lo.slow)
	for i := range fast {
		fast[i] = first + i
	}
	for i := range slow {
		slow[i] = first + lo.users + i
	}
	// Users registered at a cost: the hash a node with -bcrypt-cost c stores.
	for _, set := range []struct {
		ids  []int
		cost int
	}{{fast, 4}, {slow, lo.slowCost}} {
		h, err := bcrypt.GenerateFromPassword([]byte(benchPassword), set.cost)
		if err != nil {
			return nil, err
		}
		if err := prefill(ctx, redisAddr, set.ids[0], len(set.ids), string(h)); err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
	}
	ws, err := startLoggedIn(ctx, e, "worker", tasks, lo.online)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	if err := settleAll(ctx, e, ws, lo.online, "users online"); err != nil {
		return nil, err
	}
	pids := []int{serverPID(o, srv), redisPID}
	password := func(ids []int) func(int) message.LoginMes {
		return func(i int) message.LoginMes {
			return message.LoginMes{UserID: ids[i], UserPwd: benchPassword, Proto: message.ProtoAck}
		}
	}
	tokens := make([]string, len(fast))
	logRun := func(what string, r loginRun) {
		e.logf("logins: %s: %d logins in %v = %.0f/s (%d failed, %d busy answers, %d given up), p50 %s p99 %s, CPU per login server / Redis / load tool %s, machine %.0f %% busy %s",
			what, r.ok, r.wall.Round(time.Millisecond), r.rate(), r.failed, r.busy, r.gaveUp, ms(r.hist.Quantile(.5)), ms(r.hist.Quantile(.99)), r.cpuPerLogin(), r.machine, r.firstErr)
	}
	e.logf("logins: %d online; password logins at cost 4 (%d users, each at least once; their tokens are kept)", lo.online, lo.users)
	pw := runLogins(ctx, srv.addr, o.srcIPs, fast, password(fast), tokens, lo.conc, lo.duration, true, pids...)
	logRun("password, cost 4", pw)
	var profile sync.WaitGroup
	if o.cpuprofile != "" && srv.metrics != "" {
		secs := max(1, int(lo.duration.Seconds())-1)
		profileInBackground(e, &profile, srv.metrics, secs, o.cpuprofile,
			fmt.Sprintf("cpu profile of %ds of token logins written to %s", secs, o.cpuprofile))
	}
	tok := runLogins(ctx, srv.addr, o.srcIPs, fast, func(i int) message.LoginMes {
		return message.LoginMes{UserID: fast[i], Token: tokens[i], Proto: message.ProtoAck}
	}, nil, lo.conc, lo.duration, false, pids...)
	profile.Wait()
	logRun("token", tok)
	sl := runLogins(ctx, srv.addr, o.srcIPs, slow, password(slow), nil, lo.conc, lo.duration, false, pids...)
	logRun(fmt.Sprintf("password, cost %d", lo.slowCost), sl)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	after, err := connectedNow(ctx, ws)
	if err != nil {
		return nil, err
	}

	name := fmt.Sprintf("logins, %d online", lo.online)
	tv := "FAIL (< 3,000/s)"
	if tok.rate() >= 3000 {
		tv = "ok (≥ 3,000/s)"
	}
	fv := "ok"
	if pw.failed+tok.failed+sl.failed > 0 || after != lo.online {
		fv = "FAIL"
	}
	three := func(f func(loginRun) string) string { return f(tok) + " / " + f(pw) + " / " + f(sl) }
	return []row{
		{name, "token logins/s", fmt.Sprintf("%.0f", tok.rate()), "target ≥ 3,000/s", tv},
		{name, fmt.Sprintf("logins/s: token / password cost 4 / password cost %d", lo.slowCost),
			three(func(r loginRun) string { return fmt.Sprintf("%.0f", r.rate()) }), fmt.Sprintf("%d in flight, %v each", lo.conc, lo.duration), ""},
		{name, "login p50 / p99 (dial → LoginResMes; same order)",
			three(func(r loginRun) string { return ms(r.hist.Quantile(.5)) + ", " + ms(r.hist.Quantile(.99)) }), "-", ""},
		{name, "CPU per login, server / Redis / load tool (same order)", three(loginRun.cpuPerLogin), "-", ""},
		{name, "machine CPU busy, all processes (same order)", three(func(r loginRun) string { return fmt.Sprintf("%.0f %%", r.machine) }), "2 cores, shared", ""},
		{name, "505 busy answers / logins given up after 20 s of them (same order)", three(func(r loginRun) string { return fmt.Sprintf("%d, %d", r.busy, r.gaveUp) }), "busy answers honoured", ""},
		{name, "failed logins / online after", fmt.Sprintf("%d / %d", pw.failed+tok.failed+sl.failed, after), fmt.Sprintf("0 / %d", lo.online), fv},
	}, nil
}

// oneNode starts (or names, with -addr) the one node of scenario name, with
// extra flags, and Redis, which the scenario needs to add its users.
func oneNode(e *env, o *opts, name string, extra ...string) (redisAddr string, srv *server, redisPID int, err error) {
	redisAddr, servers, redisPID, err := setup(e, o, 1, name+"-", extra...)
	if err != nil {
		return "", nil, 0, err
	}
	if redisAddr == "" {
		return "", nil, 0, fmt.Errorf("%s adds its users to Redis: give -redis with -addr", name)
	}
	return redisAddr, servers[0], redisPID, nil
}

// machineMeter measures how busy all CPUs of the machine were (from /proc/stat),
// other people's processes included.
type machineMeter struct{ busy, total int64 }

func newMachineMeter() machineMeter { return readMachine() }

func readMachine() machineMeter {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineMeter{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var m machineMeter
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		m.total += v
		if i != 3 && i != 4 { // idle, iowait
			m.busy += v
		}
	}
	return m
}

// percent is the share of CPU time that was busy since m, in percent of all CPUs.
func (m machineMeter) percent() float64 {
	now := readMachine()
	if now.total == m.total {
		return 0
	}
	return 100 * float64(now.busy-m.busy) / float64(now.total-m.total)
}
