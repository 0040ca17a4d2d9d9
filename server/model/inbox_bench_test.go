package model

import (
	"context"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"chat/internal/redistest"
)

// BenchmarkInboxSend measures one private message's store work, the send path of
// the server: the send script in pipelines shared by concurrent senders.
func BenchmarkInboxSend(b *testing.B) {
	const users = 100
	r := redistest.Start(b)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	b.Cleanup(func() { pool.Close() })
	conn := pool.Get()
	for id := 1; id <= users; id++ {
		conn.Send("HSET", usersKey, id, `{"userId":`+strconv.Itoa(id)+`}`)
	}
	if _, err := conn.Do(""); err != nil {
		b.Fatal(err)
	}
	conn.Close()
	inbox := NewRedisInbox(pool, time.Minute)
	// Limits that are checked on every send but never reached.
	lim := SendLimits{Rate: Limit{Rate: 100000, Burst: 1 << 30}, InboxMax: 1 << 30}
	runParallel(b, r, func(ctx context.Context, i int) error {
		from, to := i%users+1, (i/users)%users+1
		_, err := inbox.Send(ctx, from, "u", to, "a message of some length", strconv.Itoa(i), lim)
		return err
	})
}

// runParallel runs op b.N times from 16 goroutines per CPU, as a busy node's
// connections would, with i counting the calls, then reports Redis's own time
// per script call, which the load of the machine running the benchmark changes
// less than the wall clock.
func runParallel(b *testing.B, r *redistest.Server, op func(ctx context.Context, i int) error) {
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := op(ctx, int(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	info, _ := r.Do(b, "INFO", "commandstats").([]byte)
	if m := evalshaStats.FindSubmatch(info); m != nil {
		us, _ := strconv.ParseFloat(string(m[1]), 64)
		b.ReportMetric(us, "redis-µs/call")
	}
}

// evalshaStats is the line of INFO commandstats for the calls of scripts.
var evalshaStats = regexp.MustCompile(`cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([0-9.]+)`)

// BenchmarkRateLimiterAllow measures the check a group message makes: one
// script call in pipelines shared by concurrent callers.
func BenchmarkRateLimiterAllow(b *testing.B) {
	r := redistest.Start(b)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	b.Cleanup(func() { pool.Close() })
	rl := NewRedisRateLimiter(pool)
	lim := Limit{Rate: 100000, Burst: 1 << 30}
	runParallel(b, r, func(ctx context.Context, i int) error {
		_, err := rl.Allow(ctx, RateGroup, strconv.Itoa(i%100), lim)
		return err
	})
}
