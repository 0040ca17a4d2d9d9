package redistest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestStartDo(t *testing.T) {
	s := Start(t)
	if s.Addr == "" || s.Dir == "" {
		t.Fatalf("got Addr %q Dir %q, want both set", s.Addr, s.Dir)
	}
	tests := []struct {
		cmd  string
		args []any
		want string
	}{
		{"PING", nil, "PONG"},
		{"SET", []any{"k", "v"}, "OK"},
		{"GET", []any{"k"}, "v"},
		{"CONFIG", []any{"GET", "appendonly"}, "appendonly yes"},
		{"CONFIG", []any{"GET", "appendfsync"}, "appendfsync always"},
		{"CONFIG", []any{"GET", "save"}, "save "},
		{"CONFIG", []any{"GET", "protected-mode"}, "protected-mode no"},
	}
	for _, tt := range tests {
		reply := s.Do(t, tt.cmd, tt.args...)
		var got string
		if vs, err := redis.Strings(reply, nil); err == nil {
			got = vs[0] + " " + vs[1]
		} else if got, err = redis.String(reply, nil); err != nil {
			t.Fatalf("%s %v: reply %#v: %v", tt.cmd, tt.args, reply, err)
		}
		if got != tt.want {
			t.Errorf("%s %v: got %q, want %q", tt.cmd, tt.args, got, tt.want)
		}
	}
}

func TestServersAreIsolated(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr || a.Dir == b.Dir {
		t.Fatalf("got the same Addr or Dir for two servers: %q %q, %q %q", a.Addr, b.Addr, a.Dir, b.Dir)
	}
	a.Do(t, "SET", "k", "a")
	if got := b.Do(t, "EXISTS", "k"); got != int64(0) {
		t.Errorf("EXISTS k on the other server: got %v, want 0", got)
	}
}

func TestRestartKeepsData(t *testing.T) {
	tests := []struct {
		name string
		stop func(*Server, testing.TB)
	}{
		// Restart alone stops gracefully.
		{"graceful", func(*Server, testing.TB) {}},
		{"after Stop", (*Server).Stop},
		// appendfsync always: every acknowledged write is on disk before a crash.
		{"after Kill", (*Server).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t)
			addr := s.Addr
			s.Do(t, "HSET", "users", "100", `{"userId":100}`)
			tt.stop(s, t)
			s.Restart(t)
			if s.Addr != addr {
				t.Fatalf("got Addr %q after Restart, want %q", s.Addr, addr)
			}
			got, err := redis.String(s.Do(t, "HGET", "users", "100"), nil)
			if err != nil || got != `{"userId":100}` {
				t.Errorf("HGET after restart: got %q, %v, want %q", got, err, `{"userId":100}`)
			}
		})
	}
}

func TestStopAndKill(t *testing.T) {
	tests := []struct {
		name string
		stop func(*Server, testing.TB)
	}{
		{"Stop", (*Server).Stop},
		{"Kill", (*Server).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t)
			tt.stop(s, t)
			if _, err := redis.Dial("tcp", s.Addr); err == nil {
				t.Errorf("dial after %s: got no error, want connection refused", tt.name)
			}
			// Both are idempotent, and one after the other is harmless.
			tt.stop(s, t)
			s.Stop(t)
			s.Kill(t)
		})
	}
}

// fatalTB records the message of Fatalf and ends the goroutine as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (tb *fatalTB) Fatalf(format string, args ...any) {
	tb.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("Start skips in -short before it looks for redis-server")
	}
	t.Setenv("PATH", t.TempDir())
	tb := &fatalTB{TB: t}
	done := make(chan *Server)
	go func() {
		defer close(done)
		done <- Start(tb)
	}()
	if s := <-done; s != nil {
		t.Fatalf("got a server at %s, want a failure", s.Addr)
	}
	want := "redistest: redis-server not found; `make redis-install` installs it"
	if tb.msg != want {
		t.Errorf("got message %q, want %q", tb.msg, want)
	}
}

func TestLaunch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server: skipped in -short")
	}
	s, err := Launch(Config{Dir: t.TempDir(), Args: []string{"--appendfsync", "everysec", "--maxclients", "123"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Kill(t) })
	if s.Pid() <= 0 {
		t.Errorf("Pid: got %d, want the process id", s.Pid())
	}
	tests := []struct{ name, want string }{
		{"appendonly", "yes"},       // a default
		{"appendfsync", "everysec"}, // a default that Args override
		{"maxclients", "123"},       // an Args setting with no default
	}
	for _, tt := range tests {
		got, err := redis.Strings(s.Do(t, "CONFIG", "GET", tt.name), nil)
		if err != nil || len(got) != 2 || got[1] != tt.want {
			t.Errorf("CONFIG GET %s: got %q, %v, want %q", tt.name, got, err, tt.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s.Pid() != 0 {
		t.Errorf("Pid after Close: got %d, want 0", s.Pid())
	}
	if c, err := redis.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Errorf("dial after Close: got no error, want connection refused")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

// A redis that accepts connections but never answers PONG (here it wants a
// password) is a failed start, not a server to use.
func TestLaunchWithoutPong(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server: skipped in -short")
	}
	dir := t.TempDir()
	s, err := Launch(Config{Dir: dir, Args: []string{"--requirepass", "secret"}, ReadyTimeout: 300 * time.Millisecond})
	if err == nil {
		s.Kill(t)
		t.Fatalf("got a server at %s, want an error", s.Addr)
	}
	if !strings.Contains(err.Error(), "no PONG within 300ms") || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("got error %q, want it to say no PONG within 300ms and why (NOAUTH)", err)
	}
}
