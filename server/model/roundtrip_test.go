package model

import (
	"context"
	"testing"
	"time"

	"chat/internal/redistest"
)

// waitFor polls cond until it holds or half the read timeout of a Redis
// connection passes: the code under test must not wait for that timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout / 2)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// contextWait is how long the tests give a request before its context ends.
const contextWait = 200 * time.Millisecond

// A round trip to a Redis that does not answer ends when its context does, not
// after the connection's read timeout, and the pool drops the connection it cut.
func TestRoundTripEndsWithContext(t *testing.T) {
	pool := NewPool(PoolConfig{Addr: redistest.Silent(t, "")})
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), contextWait)
	defer cancel()
	start := time.Now()
	err := NewRedisPresence(pool).Ping(ctx)
	if took := time.Since(start); err == nil || took > ioTimeout/2 {
		t.Fatalf("ping with a %v context: got %v after %v, want an error at about %v", contextWait, err, took, contextWait)
	}
	waitFor(t, "the cut connection to be given back", func() bool { return pool.ActiveCount() == 0 })
	if n := pool.IdleCount(); n != 0 {
		t.Errorf("got %d idle connections, want the cut one dropped, not kept", n)
	}
}

// A shared pipeline of sends ends once every caller in it has given up: no
// goroutine of the batcher waits on for a Redis that does not answer.
func TestSendBatchEndsWhenCallersGiveUp(t *testing.T) {
	pool := NewPool(PoolConfig{Addr: redistest.Silent(t, "")})
	defer pool.Close()
	inbox := NewRedisInbox(pool, time.Minute, Retention{})
	ctx, cancel := context.WithTimeout(context.Background(), contextWait)
	defer cancel()
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := inbox.SendOne(ctx, 1, "one", 2, "hello", string(rune('a'+i)), SendLimits{})
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err == nil {
			t.Errorf("send to a Redis that does not answer: got no error")
		}
	}
	waitFor(t, "the batcher's round trips to end", func() bool {
		inbox.sends.mu.Lock()
		defer inbox.sends.mu.Unlock()
		return inbox.sends.leading == 0
	})
	waitFor(t, "the pool's connections to be given back", func() bool { return pool.ActiveCount() == 0 })
}
