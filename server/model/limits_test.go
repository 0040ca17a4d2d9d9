package model

import (
	"context"
	"strconv"
	"strings"
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

// A rate limit's key expires once its intervals have passed: an idle limit costs
// nothing. (What it allows is the stores' contract, testRateLimiter.)
func TestRateKeyExpires(t *testing.T) {
	r, pool := newTestPool(t)
	rl := NewRedisRateLimiter(pool)
	lim := Limit{Rate: 10, Burst: 3} // one every 100 ms
	for range 10 {
		if _, err := rl.Allow(context.Background(), RateGroup, "1", lim); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := r.Do(t, "PTTL", rateKey(RateGroup, "1")).(int64); ttl <= 0 || ttl > 300 {
		t.Errorf("PTTL %d, want the key gone once its 3 intervals have passed (1..300 ms)", ttl)
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

// Acks of many inboxes cost one script call, not one each.
func TestDeleteManyInboxesInOneCall(t *testing.T) {
	r, pool := newTestPool(t)
	inbox := NewRedisInbox(pool, time.Minute, Retention{})
	ctx := context.Background()
	ids := map[int][]string{}
	for user := 1; user <= 10; user++ {
		r.Do(t, "HSET", usersKey, user, `{"userId":1}`)
		sent, err := inbox.SendOne(ctx, 100, "u", user, "hi", "", SendLimits{})
		if err != nil {
			t.Fatal(err)
		}
		ids[user] = []string{sent.MsgID}
	}
	before := evalshaStat(t, r, "calls=")
	if failed, err := inbox.Delete(ctx, ids); failed != 0 || err != nil {
		t.Fatalf("got %d, %v, want every inbox done", failed, err)
	}
	if calls := evalshaStat(t, r, "calls=") - before; calls != 1 {
		t.Errorf("acks of 10 inboxes: got %v script calls, want 1", calls)
	}
	for user := range ids {
		if n := r.Do(t, "XLEN", inboxKey(user)).(int64); n != 0 {
			t.Errorf("inbox of %d: %d messages left, want none", user, n)
		}
	}
}

// evalshaStat is a figure of EVALSHA in Redis's INFO commandstats, named by
// its prefix ("calls=", "usec_per_call="); 0 if none.
func evalshaStat(tb testing.TB, r *redistest.Server, name string) float64 {
	tb.Helper()
	stats, _ := redis.String(r.Do(tb, "INFO", "commandstats"), nil)
	for _, line := range strings.Split(stats, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, name); ok {
					f, _ := strconv.ParseFloat(v, 64)
					return f
				}
			}
		}
	}
	return 0
}
