// Package redistest starts a real redis-server for tests, so that the code under
// test talks to the same Redis (AOF persistence, restarts, crashes) as in production
// instead of a fake that would hide what a restart or a kill does to the data.
package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

const (
	// readyTimeout is the default bound of the wait for PING after a start: an AOF
	// reload of test data takes milliseconds, so 10 s only trips on a redis that is
	// really stuck.
	readyTimeout = 10 * time.Second
	// exitTimeout bounds the wait for the process to exit after SHUTDOWN or SIGKILL.
	exitTimeout = 10 * time.Second
	// pollInterval is the pause between two readiness probes.
	pollInterval = 10 * time.Millisecond
	// startAttempts is how many free ports Start tries: another process may take the
	// port between the moment it is picked and the moment redis binds it.
	startAttempts = 5
	// logTailLines is how much of redis's log a failure message quotes.
	logTailLines = 20
)

var (
	// errExited means the redis-server process ended before it answered PING.
	errExited = errors.New("redis-server exited before it was ready")
	// errNotInstalled means there is no redis-server on PATH.
	errNotInstalled = errors.New("redis-server not found; `make redis-install` installs it")
)

// Server is a redis-server process owned by one test.
type Server struct {
	// Addr is host:port of the server, for redis.Dial or the code under test.
	Addr string
	// Dir is the server's working directory: AOF files and logs live there.
	Dir string

	bin          string
	args         []string      // Config.Args
	readyTimeout time.Duration // Config.ReadyTimeout, or readyTimeout
	port         int
	logPath      string // redis's own log file (--logfile)
	outPath      string // stdout and stderr, for errors printed before the log file is open

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil when no process runs
	done chan struct{} // closed when cmd has exited
}

// Config says how Launch runs redis-server.
type Config struct {
	// Dir is the server's working directory (AOF files and logs); it must exist.
	Dir string
	// Args are redis-server flags added after the defaults; for a setting given
	// twice the later one wins, so Args can override a default
	// ("--appendfsync", "everysec").
	Args []string
	// ReadyTimeout bounds the wait for PONG after the start; zero means 10 s.
	ReadyTimeout time.Duration
}

// Launch starts redis-server on a free loopback port in cfg.Dir with AOF on
// (appendonly yes, appendfsync always), no RDB save and no protected mode, then
// cfg.Args, and returns once it answers PING with PONG. If it does not, Launch
// stops it and returns an error that quotes the end of its log. The caller owns
// the server: Close (or Stop, Kill) ends it.
//
// Start is Launch for a test; Launch serves programs such as the load generator.
func Launch(cfg Config) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNotInstalled
	}
	s := &Server{
		Dir:          cfg.Dir,
		bin:          bin,
		args:         cfg.Args,
		readyTimeout: cfg.ReadyTimeout,
		logPath:      filepath.Join(cfg.Dir, "redis.log"),
		outPath:      filepath.Join(cfg.Dir, "redis.out"),
	}
	if s.readyTimeout <= 0 {
		s.readyTimeout = readyTimeout
	}
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		lastErr = s.start()
		if lastErr == nil {
			return s, nil
		}
		// A process that exited most likely lost the race for the port: try another.
		// Any other failure (a redis that hangs) will not get better with a new port.
		if !errors.Is(lastErr, errExited) {
			break
		}
	}
	return nil, fmt.Errorf("starting redis-server in %s: %w%s", cfg.Dir, lastErr, s.logTail())
}

// Start launches redis-server (see Launch) in tb.TempDir() and registers
// tb.Cleanup to stop it. It fails tb if redis-server is not installed or does not
// answer PING. In -short runs it skips tb instead: the fast tier starts no Redis
// (tests of the server's logic run on the memory stores of package model).
func Start(tb testing.TB) *Server {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs redis-server: skipped in -short")
	}
	s, err := Launch(Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	// Registered after TempDir, so it runs before the directory is removed.
	// SIGKILL rather than SHUTDOWN: the data dies with the temp dir anyway.
	tb.Cleanup(func() {
		if err := s.kill(); err != nil {
			tb.Errorf("redistest: stopping redis at %s: %v%s", s.Addr, err, s.logTail())
		}
	})
	return s
}

// Close shuts the server down gracefully, as Stop does, for a caller without a
// testing.TB. Closing a stopped server does nothing.
func (s *Server) Close() error {
	if err := s.stop(); err != nil {
		return fmt.Errorf("stopping redis at %s: %w%s", s.Addr, err, s.logTail())
	}
	return nil
}

// Pid is the process id of the running redis-server, or 0 when none runs.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop shuts the server down gracefully with SHUTDOWN, which flushes the AOF, and
// waits for the process to exit. Stopping a stopped server does nothing.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop(); err != nil {
		tb.Fatalf("redistest: stopping redis at %s: %v%s", s.Addr, err, s.logTail())
	}
}

// Kill ends the server with SIGKILL, as a crash would, and waits for the process to
// exit. Killing a stopped server does nothing.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	if err := s.kill(); err != nil {
		tb.Fatalf("redistest: killing redis at %s: %v%s", s.Addr, err, s.logTail())
	}
}

// Restart stops the server if it runs, then starts it again on the same port and
// directory, so that it reloads its AOF and clients reconnect to the same Addr.
// It returns once the server answers PING.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop(tb)
	var err error
	// The port was ours a moment ago, but a client's connect can race for it only in
	// theory; a few attempts make a flaky bind failure visible as such in the log.
	for range startAttempts {
		if err = s.start(); err == nil || !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: restarting redis at %s: %v%s", s.Addr, err, s.logTail())
	}
}

// Do runs one command on a fresh connection and returns its reply. It fails tb on
// any error, including an error reply.
func (s *Server) Do(tb testing.TB, cmd string, args ...any) any {
	tb.Helper()
	c, err := s.dial()
	if err != nil {
		tb.Fatalf("redistest: connecting to redis at %s: %v%s", s.Addr, err, s.logTail())
	}
	defer c.Close()
	reply, err := c.Do(cmd, args...)
	if err != nil {
		tb.Fatalf("redistest: %s %v: %v", cmd, args, err)
	}
	return reply
}

func (s *Server) dial() (redis.Conn, error) {
	return redis.Dial("tcp", s.Addr,
		redis.DialConnectTimeout(time.Second),
		redis.DialReadTimeout(readyTimeout),
		redis.DialWriteTimeout(readyTimeout))
}

// start launches redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	out, err := os.OpenFile(s.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close() // the child has its own copy of the descriptor

	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.Dir,
		"--logfile", s.logPath,
		"--daemonize", "no",
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--save", "",
		"--protected-mode", "no",
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status tells nothing the log does not
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	if err := s.waitReady(done); err != nil {
		_ = s.kill()
		return err
	}
	return nil
}

// waitReady polls PING until it gets PONG, the process exits or s.readyTimeout passes.
// A PING during the AOF reload gets a LOADING error, so only PONG counts.
func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.NewTimer(s.readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		if lastErr = s.ping(); lastErr == nil {
			return nil
		}
		select {
		case <-done:
			return errExited
		case <-deadline.C:
			return fmt.Errorf("no PONG within %v: %v", s.readyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

func (s *Server) ping() error {
	c, err := redis.Dial("tcp", s.Addr,
		redis.DialConnectTimeout(pollInterval*10),
		redis.DialReadTimeout(time.Second),
		redis.DialWriteTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	pong, err := redis.String(c.Do("PING"))
	if err != nil {
		return err
	}
	if pong != "PONG" {
		return fmt.Errorf("PING answered %q", pong)
	}
	return nil
}

// stop sends SHUTDOWN and waits for the exit. SHUTDOWN fsyncs the AOF before the
// process exits; SIGTERM would too, but only the command proves the server was
// reachable, and it is what production operators run.
func (s *Server) stop() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done: // it already exited (crashed, or killed by a signal from elsewhere)
		s.clear(cmd)
		return nil
	default:
	}
	if c, err := s.dial(); err == nil {
		// On success the server closes the connection, so the reply is an I/O error.
		_, _ = c.Do("SHUTDOWN")
		c.Close()
	} else {
		// Unreachable but alive: SIGTERM runs the same graceful shutdown.
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := waitExit(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		s.clear(cmd)
		return err
	}
	s.clear(cmd)
	return nil
}

// kill sends SIGKILL and waits for the exit.
func (s *Server) kill() error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Kill() // fails only if it already exited, which is what we want
	err := waitExit(done)
	s.clear(cmd)
	return err
}

// clear forgets cmd once it has exited, unless a newer process replaced it.
func (s *Server) clear(cmd *exec.Cmd) {
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd, s.done = nil, nil
	}
	s.mu.Unlock()
}

func waitExit(done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-time.After(exitTimeout):
		return fmt.Errorf("process still running %v after being told to stop", exitTimeout)
	}
}

// freePort returns a loopback port that was free a moment ago. The kernel does not
// hand the same ephemeral port out again right away, which makes the race with
// other processes rare; Start retries when it happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of redis's log and console output, formatted to be
// appended to a failure message, or "" when both are empty.
func (s *Server) logTail() string {
	var b bytes.Buffer
	for _, p := range []string{s.logPath, s.outPath} {
		if t := tail(p, logTailLines); t != "" {
			fmt.Fprintf(&b, "\n--- last lines of %s ---\n%s", p, t)
		}
	}
	return b.String()
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
