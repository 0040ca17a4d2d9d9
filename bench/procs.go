package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
)

// env owns every process and file a run starts, and removes them in cleanup.
type env struct {
	tmp       string
	serverBin string
	mu        sync.Mutex
	procs     []*proc
	verbose   bool
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func newEnv(serverBin string) (*env, error) {
	tmp, err := os.MkdirTemp("", "chat-load-")
	if err != nil {
		return nil, err
	}
	if serverBin == "" {
		if exe, err := os.Executable(); err == nil {
			serverBin = filepath.Join(filepath.Dir(exe), "chat-server")
		}
	}
	return &env{tmp: tmp, serverBin: serverBin}, nil
}

func (e *env) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

// start runs a child that dies with us (Pdeathsig) and is killed by cleanup.
func (e *env) start(name string, cmd *exec.Cmd, logFile string) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() { cmd.Wait(); close(p.done) }()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) tail() string {
	if p.log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// stopAll stops the given processes (all when nil) concurrently.
func (e *env) stopAll(ps []*proc, grace time.Duration) {
	if ps == nil {
		e.mu.Lock()
		ps = append([]*proc(nil), e.procs...)
		e.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); p.stop(grace) }(p)
	}
	wg.Wait()
}

func (e *env) cleanup() {
	e.stopAll(nil, 5*time.Second)
	os.RemoveAll(e.tmp)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitTCP(ctx context.Context, addr string, p *proc) error {
	for i := 0; i < 300; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not answer at %s", p.name, addr)
}

// startRedis runs a private redis-server with AOF in a temp dir.
func (e *env) startRedis(ctx context.Context) (string, *proc, error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(e.tmp, "redis")
	os.MkdirAll(dir, 0o755)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--appendonly", "yes", "--save", "", "--daemonize", "no", "--maxclients", "20000")
	p, err := e.start("redis", cmd, filepath.Join(dir, "redis.log"))
	if err != nil {
		return "", nil, fmt.Errorf("redis-server: %w (install it with make redis-install)", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(ctx, addr, p); err != nil {
		return "", nil, err
	}
	for i := 0; i < 100; i++ { // loading the AOF
		if c, err := redis.Dial("tcp", addr); err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, p, nil
}

type server struct {
	addr, metrics string
	p             *proc
}

// startServer runs one chat-server node with bcrypt cost 4 and no rate limits.
func (e *env) startServer(ctx context.Context, redisAddr, node string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", port), metrics: fmt.Sprintf("127.0.0.1:%d", mport)}
	args := append([]string{"-addr", s.addr, "-redis", redisAddr, "-node", node, "-bcrypt-cost", "4",
		"-rate-private", "0", "-rate-group", "0", "-log-level", "warn", "-metrics-addr", s.metrics, "-grace", "3s"}, extra...)
	cmd := exec.Command(e.serverBin, args...)
	s.p, err = e.start("chat-server "+node, cmd, filepath.Join(e.tmp, node+".log"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (build it with make build)", e.serverBin, err)
	}
	if err := waitTCP(ctx, s.addr, s.p); err != nil {
		return nil, err
	}
	return s, nil
}

// procStatus reads VmRSS (KiB) of pid.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return -1
}

// cpuTime is the user+system CPU time of pid.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

// forceGC asks the server's runtime for a collection (pprof heap?gc=1 on -metrics-addr).
func forceGC(metrics string) {
	c := http.Client{Timeout: 10 * time.Second}
	if r, err := c.Get("http://" + metrics + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
}

// settledRSS forces a GC, then waits until RSS changes by less than 0.5 % over 2 s.
func settledRSS(ctx context.Context, s *server, max time.Duration) int64 {
	forceGC(s.metrics)
	end := time.Now().Add(max)
	prev := rssKiB(s.p.cmd.Process.Pid)
	for time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(2 * time.Second)
		forceGC(s.metrics)
		cur := rssKiB(s.p.cmd.Process.Pid)
		d := cur - prev
		if d < 0 {
			d = -d
		}
		if d*200 < prev {
			return cur
		}
		prev = cur
	}
	return prev
}

// ---- workers ----

type wproc struct {
	i   int
	p   *proc
	in  io.WriteCloser
	enc *json.Encoder
	mu  sync.Mutex
}

func (w *wproc) send(cmd string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(Cmd{Cmd: cmd})
}

type workers struct {
	ws     []*wproc
	events chan Event
}

// startWorkers runs one worker process of this binary per task.
func (e *env) startWorkers(tasks []Task) (*workers, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ws := &workers{events: make(chan Event, 1024)}
	for i, t := range tasks {
		cmd := exec.Command(exe, "worker")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		p, err := e.start(fmt.Sprintf("worker %d", i), cmd, "")
		if err != nil {
			return nil, err
		}
		w := &wproc{i: i, p: p, in: in, enc: json.NewEncoder(in)}
		w.enc.Encode(t)
		ws.ws = append(ws.ws, w)
		go func(i int) {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var ev Event
				if json.Unmarshal(sc.Bytes(), &ev) == nil {
					ev.W = i
					ws.events <- ev
				}
			}
			ws.events <- Event{Ev: "exit", W: i}
		}(i)
	}
	return ws, nil
}

func (ws *workers) broadcast(cmd string) {
	for _, w := range ws.ws {
		w.send(cmd)
	}
}

var errWorkerFailed = errors.New("worker failed")

// collect waits for one event of kind ev from every worker; other events go to other.
func (ws *workers) collect(ctx context.Context, ev string, other func(Event)) ([]Event, error) {
	got := make([]Event, len(ws.ws))
	seen := 0
	for seen < len(ws.ws) {
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("waiting for %q from %d/%d workers: %w", ev, len(ws.ws)-seen, len(ws.ws), ctx.Err())
		case e := <-ws.events:
			switch {
			case e.Ev == ev:
				got[e.W] = e
				seen++
			case e.Ev == "fatal":
				return got, fmt.Errorf("worker %d: %s", e.W, e.Err)
			case e.Ev == "exit":
				return got, fmt.Errorf("worker %d exited while waiting for %q: %w", e.W, ev, errWorkerFailed)
			case other != nil:
				other(e)
			}
		}
	}
	return got, nil
}

func (ws *workers) quit(e *env) {
	ws.broadcast("quit")
	ps := make([]*proc, len(ws.ws))
	for i, w := range ws.ws {
		ps[i] = w.p
		w.in.Close()
	}
	e.stopAll(ps, 10*time.Second)
}
