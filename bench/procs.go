package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// env owns every process and file a run starts, and removes them in cleanup.
type env struct {
	tmp       string
	serverBin string
	mu        sync.Mutex
	running   []func(grace time.Duration) // stops one process each; see stopAll
	res       results                     // what the scenarios measured
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

// track records how to stop a process this run started.
func (e *env) track(stop func(grace time.Duration)) {
	e.mu.Lock()
	e.running = append(e.running, stop)
	e.mu.Unlock()
}

// stopAll stops every process started so far, concurrently. Stopping a process
// that has already stopped does nothing, so it may run after each scenario and
// again at cleanup.
func (e *env) stopAll(grace time.Duration) {
	e.mu.Lock()
	stops := slices.Clone(e.running)
	e.mu.Unlock()
	stopConcurrently(stops, grace)
}

func stopConcurrently(stops []func(time.Duration), grace time.Duration) {
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(func() { stop(grace) })
	}
	wg.Wait()
}

func (e *env) cleanup() {
	e.stopAll(5 * time.Second)
	os.RemoveAll(e.tmp)
}

// proc is a worker process: this binary in worker mode.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startWorker runs cmd in its own process group, so that a Ctrl-C reaches only
// this process, which then stops the workers in order; the kernel kills the
// worker if this process dies (Pdeathsig).
func (e *env) startWorker(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	e.track(p.stop)
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

// startRedis runs a private redis-server in a fresh directory under the run's
// temp dir, with the persistence of production (AOF, fsync every second) and room
// for the connections of every node's pool. It returns once Redis answers PING.
func (e *env) startRedis() (*redistest.Server, error) {
	dir, err := os.MkdirTemp(e.tmp, "redis-")
	if err != nil {
		return nil, err
	}
	r, err := redistest.Launch(redistest.Config{Dir: dir,
		Args: []string{"--appendfsync", "everysec", "--maxclients", "20000"}})
	if err != nil {
		return nil, err
	}
	e.track(func(time.Duration) {
		if err := r.Close(); err != nil {
			e.logf("%v", err)
		}
	})
	return r, nil
}

type server struct {
	addr, metrics string
	p             *chattest.Process // nil for a server this run did not start
}

// startServer runs one chat-server node with bcrypt cost 4 and no rate limits, and
// returns once it accepts connections.
func (e *env) startServer(redisAddr, node string, extra ...string) (*server, error) {
	addr, err := chattest.PickAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := chattest.PickAddr()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(e.serverBin); err != nil {
		return nil, fmt.Errorf("%w (build it with make build, or name it with -server-bin)", err)
	}
	s := &server{addr: addr, metrics: metrics}
	s.p, err = chattest.Launch(chattest.Spec{
		Bin: e.serverBin,
		Args: append([]string{"-addr", addr, "-redis", redisAddr, "-node", node, "-bcrypt-cost", "4",
			"-rate-private", "0", "-rate-group", "0", "-registrations-per-address", "0", "-logins-per-user", "0", "-log-level", "warn", "-metrics-addr", metrics, "-grace", "3s"}, extra...),
		Addr:    addr,
		LogPath: filepath.Join(e.tmp, node+".log"),
	})
	if err != nil {
		return nil, err
	}
	e.track(s.p.Stop)
	return s, nil
}

// rssKiB reads VmRSS, the RSS of pid now.
func rssKiB(pid int) int64 { return procStatusKiB(pid, "VmRSS") }

// peakRSSKiB reads VmHWM, the most RSS pid ever had.
func peakRSSKiB(pid int) int64 { return procStatusKiB(pid, "VmHWM") }

// procStatusKiB reads the field (in KiB) of pid's /proc status, -1 where unknown.
func procStatusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
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

// goMemory is what a server's Go runtime holds, in bytes, as its /metrics report it.
type goMemory struct{ heap, stacks float64 }

func (m goMemory) ok() bool { return m.heap > 0 && m.stacks > 0 }

// readGoMemory reads the heap in use (live objects and the free space of their
// spans) and the goroutine stacks of a server; zero where metrics is not served.
func readGoMemory(metrics string) goMemory {
	if metrics == "" {
		return goMemory{}
	}
	return goMemory{heap: scrape(metrics, "go_memstats_heap_inuse_bytes"), stacks: scrape(metrics, "go_memstats_stack_inuse_bytes")}
}

// scrape reads an unlabelled metric of a server's /metrics.
func scrape(metrics, name string) float64 {
	c := http.Client{Timeout: 10 * time.Second}
	r, err := c.Get("http://" + metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return -1
}

// settledRSS forces a GC, then waits until RSS changes by less than 0.5 % over 2 s.
func settledRSS(ctx context.Context, s *server, pid int, max time.Duration) int64 {
	forceGC(s.metrics)
	end := time.Now().Add(max)
	prev := rssKiB(pid)
	for time.Now().Before(end) && ctx.Err() == nil {
		time.Sleep(2 * time.Second)
		forceGC(s.metrics)
		cur := rssKiB(pid)
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

func (w *wproc) send(cmd string) { w.sendValue(Cmd{Cmd: cmd}) }

// sendValue writes v as one JSON line to the worker.
func (w *wproc) sendValue(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(v)
}

type workers struct {
	ws     []*wproc
	events chan Event
}

// startWorkerProc runs this binary as the worker command mode (such as "worker")
// with task as the first line of its stdin, and returns the process, its stdin
// and its stdout.
func (e *env) startWorkerProc(mode string, task any) (*proc, io.WriteCloser, io.ReadCloser, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(exe, mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := e.startWorker(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := json.NewEncoder(in).Encode(task); err != nil {
		return nil, nil, nil, err // p is stopped with the others at cleanup
	}
	return p, in, out, nil
}

// startWorkers runs one worker process of this binary per task.
func (e *env) startWorkers(tasks []Task) (*workers, error) {
	return startWorkersAs(e, "worker", tasks)
}

// startWorkersAs runs this binary in mode (a worker command) once per task, the
// task its first stdin line; every stdout line comes back as an Event.
func startWorkersAs[T any](e *env, mode string, tasks []T) (*workers, error) {
	ws := &workers{events: make(chan Event, 1024)}
	for i, t := range tasks {
		p, in, out, err := e.startWorkerProc(mode, t)
		if err != nil {
			return nil, err
		}
		w := &wproc{i: i, p: p, in: in, enc: json.NewEncoder(in)}
		ws.ws = append(ws.ws, w)
		go func(i int) {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var ev Event
				if json.Unmarshal(sc.Bytes(), &ev) == nil {
					ev.W = i
					ev.Raw = append(json.RawMessage(nil), sc.Bytes()...)
					ws.events <- ev
				}
			}
			ws.events <- Event{Ev: "exit", W: i}
		}(i)
	}
	return ws, nil
}

// pids returns the workers' process ids.
func (ws *workers) pids() []int {
	out := make([]int, len(ws.ws))
	for i, w := range ws.ws {
		out[i] = w.p.cmd.Process.Pid
	}
	return out
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
	stops := make([]func(time.Duration), len(ws.ws))
	for i, w := range ws.ws {
		stops[i] = w.p.stop
		w.in.Close()
	}
	stopConcurrently(stops, 10*time.Second)
}
