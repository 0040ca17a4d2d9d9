package model

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/redistest"
)

func newTestPool(t *testing.T) (*redistest.Server, *redis.Pool) {
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	return r, pool
}

// Parallel reservations never pass a limit: the check and the count are one step.
func TestLoginReserveIsAtomic(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		pool := r.pool
		l := NewRedisLoginLimiter(pool, time.Minute)
		lim := LoginLimits{PerUserAddr: 5, PerUser: 8}
		reserve := func(addr string, n int) int {
			var mu sync.Mutex
			var wg sync.WaitGroup
			got := 0
			for range n {
				wg.Go(func() {
					ok, err := l.Reserve(context.Background(), 1, addr, lim)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						got++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			return got
		}
		if got := reserve("10.0.0.1", 100); got != 5 {
			t.Errorf("100 parallel reservations from one address: %d passed, want 5", got)
		}
		if err := l.Release(context.Background(), 1, "10.0.0.1", lim); err != nil {
			t.Fatal(err)
		}
		if got := reserve("10.0.0.1", 10); got != 1 {
			t.Errorf("after one release: %d passed, want 1", got)
		}
		if got := reserve("10.0.0.2", 100); got != 3 {
			t.Errorf("from a second address: %d passed, want the 3 left of the user's 8", got)
		}
		if ok, _ := l.Reserve(context.Background(), 2, "10.0.0.1", lim); !ok {
			t.Errorf("another user from the same address: refused, want a reservation")
		}
	})
}

// A release after the window ended leaves no counter behind without a TTL.
func TestLoginReleaseAfterTheWindow(t *testing.T) {
	r, pool := newTestPool(t)
	const window = time.Second
	l := NewRedisLoginLimiter(pool, window)
	lim := LoginLimits{PerUserAddr: 5, PerUser: 8, PerAddr: 10}
	if ok, err := l.Reserve(context.Background(), 1, "10.0.0.1", lim); !ok || err != nil {
		t.Fatalf("got %v, %v, want a reservation", ok, err)
	}
	for _, key := range []string{loginFailPairKey(1, "10.0.0.1"), loginFailUserKey(1)} {
		if ttl := r.Do(t, "PTTL", key).(int64); ttl <= 0 || ttl > window.Milliseconds() {
			t.Errorf("%s: PTTL %d, want 1..%d ms", key, ttl, window.Milliseconds())
		}
	}
	waitFor(t, "the counters to expire", func() bool { return r.Do(t, "DBSIZE").(int64) == 0 })
	if err := l.Release(context.Background(), 1, "10.0.0.1", lim); err != nil {
		t.Fatal(err)
	}
	if n := r.Do(t, "DBSIZE").(int64); n != 0 {
		t.Errorf("a release after the window left %d keys, want none", n)
	}
}

// An address's count over all user ids grows with known failures only, not with
// logins whose password is being checked, and stops every user id at its limit.
func TestLoginFailuresPerAddress(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		pool := r.pool
		const window = time.Minute
		l := NewRedisLoginLimiter(pool, window)
		ctx := context.Background()
		lim := LoginLimits{PerUserAddr: 5, PerUser: 8, PerAddr: 3}
		for id := 1; id <= 10; id++ { // ten logins in flight at once
			if ok, err := l.Reserve(ctx, id, "10.0.0.1", lim); !ok || err != nil {
				t.Fatalf("login %d in flight: got %v, %v, want a reservation", id, ok, err)
			}
		}
		if n := r.do(t, "EXISTS", loginFailAddrKey("10.0.0.1")).(int64); n != 0 {
			t.Errorf("logins in flight counted as the address's failures")
		}
		for range 3 {
			if err := l.Failed(ctx, "10.0.0.1", lim); err != nil {
				t.Fatal(err)
			}
		}
		if ttl := r.do(t, "PTTL", loginFailAddrKey("10.0.0.1")).(int64); ttl <= 0 || ttl > window.Milliseconds() {
			t.Errorf("the address's count: PTTL %d, want 1..%d ms", ttl, window.Milliseconds())
		}
		if ok, _ := l.Reserve(ctx, 11, "10.0.0.1", lim); ok {
			t.Errorf("a new user id from an address at its limit: reserved, want refused")
		}
		if ok, _ := l.Reserve(ctx, 11, "10.0.0.2", lim); !ok {
			t.Errorf("the same user id from another address: refused, want a reservation")
		}
	})
}

func TestRateLimiterGCRA(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		pool := r.pool
		rl := NewRedisRateLimiter(pool)
		ctx := context.Background()
		lim := Limit{Rate: 10, Burst: 3} // one every 100 ms
		allowed := 0
		for range 10 {
			ok, err := rl.Allow(ctx, RateGroup, "1", lim)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				allowed++
			}
		}
		if allowed != 3 {
			t.Errorf("10 at once: %d allowed, want the burst of 3", allowed)
		}
		if ttl := r.do(t, "PTTL", rateKey(RateGroup, "1")).(int64); ttl <= 0 || ttl > 300 {
			t.Errorf("PTTL %d, want the key gone once its 3 intervals have passed (1..300 ms)", ttl)
		}
		if ok, _ := rl.Allow(ctx, RateGroup, "2", lim); !ok {
			t.Errorf("another user: refused, want allowed")
		}
		if ok, _ := rl.Allow(ctx, RateLogin, "1", lim); !ok {
			t.Errorf("another kind: refused, want allowed")
		}
		waitFor(t, "one interval to pass", func() bool {
			ok, _ := rl.Allow(ctx, RateGroup, "1", lim)
			return ok
		})
		if ok, _ := rl.Allow(ctx, RateGroup, "1", Limit{}); !ok {
			t.Errorf("no limit: refused, want allowed")
		}
	})
}

func TestSendLimits(t *testing.T) {
	r, pool := newTestPool(t)
	r.Do(t, "HSET", usersKey, 2, `{"userId":2}`)
	inbox := NewRedisInbox(pool, time.Minute, Retention{})
	ctx := context.Background()
	send := func(from int, lim SendLimits) error {
		_, err := inbox.SendOne(ctx, from, "u", 2, "hi", "", lim)
		return err
	}
	rated := SendLimits{Rate: Limit{Rate: 0.01, Burst: 2}}
	for i, want := range []error{nil, nil, ErrRateLimited, ErrRateLimited} {
		if err := send(1, rated); !errors.Is(err, want) {
			t.Errorf("send %d at 2 a burst: got %v, want %v", i+1, err, want)
		}
	}
	capped := SendLimits{InboxMax: 4}
	for i, want := range []error{nil, nil, ErrInboxFull} {
		if err := send(3, capped); !errors.Is(err, want) {
			t.Errorf("send %d to an inbox of 2 capped at 4: got %v, want %v", i+1, err, want)
		}
	}
	if n := r.Do(t, "XLEN", inboxKey(2)).(int64); n != 4 {
		t.Errorf("inbox holds %d, want 4: refused sends keep nothing", n)
	}
}

// An inbox emptied by acks expires, unless a message comes first.
func TestDeleteExpiresEmptiedInboxes(t *testing.T) {
	r, pool := newTestPool(t)
	r.Do(t, "HSET", usersKey, 2, `{"userId":2}`)
	inbox := NewRedisInbox(pool, time.Minute, Retention{})
	ctx := context.Background()
	first, err := inbox.SendOne(ctx, 1, "u", 2, "one", "", SendLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := inbox.Delete(ctx, map[int][]string{2: {first.MsgID, "1-0"}, 3: {"5-5"}}); failed != 0 || err != nil {
		t.Fatalf("got %d, %v, want every inbox done", failed, err)
	}
	if ttl := r.Do(t, "PTTL", inboxKey(2)).(int64); ttl <= 0 {
		t.Fatalf("emptied inbox: PTTL %d, want it set to expire", ttl)
	}
	if _, err := inbox.SendOne(ctx, 1, "u", 2, "two", "", SendLimits{}); err != nil {
		t.Fatal(err)
	}
	if ttl := r.Do(t, "PTTL", inboxKey(2)).(int64); ttl != -1 {
		t.Errorf("inbox with a new message: PTTL %d, want -1 (kept)", ttl)
	}
	// A failed inbox does not hide the others'.
	r.Do(t, "SET", inboxKey(4), "not a stream")
	failed, err := inbox.Delete(ctx, map[int][]string{2: {"1-1"}, 4: {"1-1"}})
	if failed != 1 || err == nil {
		t.Errorf("got %d, %v, want one failed inbox and its error", failed, err)
	}
}
