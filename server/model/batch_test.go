package model

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/redistest"
)

// Calls whose callers gave up while they waited behind a round trip (Redis hung)
// are not run once Redis answers again: their callers were told they failed.
func TestBatcherDropsCallsNobodyWaitsFor(t *testing.T) {
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	b := newBatcher(pool, redis.NewScript(1, `return redis.call('INCR', KEYS[1])`), 1)
	if _, err := b.do(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	idle := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.leading == 0
	}
	waitFor(t, "the first leader to end", idle)
	pid := r.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	// The leader's round trip hangs with one patient caller.
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := b.do(ctx, "n"); err != nil {
			t.Errorf("patient call: %v", err)
		}
	})
	waitFor(t, "the leader to take the patient call", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.leading == 1 && len(b.queued) == 0
	})
	// Impatient callers queue behind it and give up.
	const impatient = 20
	var gaveUp sync.WaitGroup
	for range impatient {
		gaveUp.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if _, err := b.do(ctx, "n"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("impatient call: got %v, want the deadline", err)
			}
		})
	}
	gaveUp.Wait()
	syscall.Kill(pid, syscall.SIGCONT)
	resumed = true
	wg.Wait()
	waitFor(t, "the leader to end", idle)
	if got := r.Do(t, "GET", "n"); string(got.([]byte)) != "2" {
		t.Errorf("counter: got %s, want 2 (the first call and the patient one only)", got)
	}
}
