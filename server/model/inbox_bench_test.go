package model_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/redistest"
	"chat/server/model"
)

// BenchmarkPrivateSend keeps private messages of 100 bytes between 100 pairs of
// users, from parallel senders that share pipelines as a node's connections do:
// the Redis cost of a private message (its inbox entry and its history entry).
func BenchmarkPrivateSend(b *testing.B) {
	benchSends(b, func(pool *redis.Pool, r *redistest.Server) func(ctx context.Context, i int) error {
		inbox := model.NewRedisInbox(pool, time.Hour, model.Retention{})
		// Limits that are checked on every send but never reached.
		lim := model.SendLimits{Rate: model.Limit{Rate: 100000, Burst: 1 << 30}, InboxMax: 1 << 30}
		return func(ctx context.Context, i int) error {
			from := 1 + i%100
			_, err := inbox.SendOne(ctx, from, "u", from+100, benchContent, strconv.Itoa(i), lim)
			return err
		}
	})
}

// BenchmarkRoomSend is BenchmarkPrivateSend for room messages: 100 rooms of two
// members, each message stored once in its room.
func BenchmarkRoomSend(b *testing.B) {
	benchSends(b, func(pool *redis.Pool, r *redistest.Server) func(ctx context.Context, i int) error {
		rooms := model.NewRedisRooms(pool, time.Hour, model.Retention{})
		ids := make([]int, 100)
		for i := range ids {
			var err error
			if ids[i], err = rooms.Create(context.Background(), 1+i, "bench", 10); err != nil {
				b.Fatal(err)
			}
			if _, err := rooms.Join(context.Background(), ids[i], 101+i, 10, 10); err != nil {
				b.Fatal(err)
			}
		}
		return func(ctx context.Context, i int) error {
			_, err := rooms.Send(ctx, ids[i%100], 1+i%100, "u", benchContent, "", model.Limit{})
			return err
		}
	})
}

// BenchmarkRateLimiterAllow measures the check a group message makes: one
// script call in pipelines shared by concurrent callers.
func BenchmarkRateLimiterAllow(b *testing.B) {
	benchSends(b, func(pool *redis.Pool, r *redistest.Server) func(ctx context.Context, i int) error {
		rl := model.NewRedisRateLimiter(pool)
		lim := model.Limit{Rate: 100000, Burst: 1 << 30}
		return func(ctx context.Context, i int) error {
			_, err := rl.Allow(ctx, model.RateGroup, strconv.Itoa(i%100), lim)
			return err
		}
	})
}

var benchContent = strings.Repeat("x", 100)

// benchSends runs the sends that setup makes from 16 parallel senders on a new
// Redis with users 1..200, and reports Redis's own time per script call, which the
// machine's other load disturbs less than the wall clock.
func benchSends(b *testing.B, setup func(*redis.Pool, *redistest.Server) func(ctx context.Context, i int) error) {
	r := redistest.Start(b)
	pool := model.NewPool(model.PoolConfig{Addr: r.Addr})
	defer pool.Close()
	for id := 1; id <= 200; id++ {
		r.Do(b, "HSET", "users", id, `{"userName":"u"}`)
	}
	send := setup(pool, r)
	ctx := context.Background()
	b.SetParallelism(16)
	r.Do(b, "CONFIG", "RESETSTAT")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := send(ctx, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if us := model.EvalshaStat(b, r, "usec_per_call="); us > 0 {
		b.ReportMetric(us, "redis-µs/call")
	}
}
