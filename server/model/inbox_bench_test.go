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
// the Redis cost of a private message.
func BenchmarkPrivateSend(b *testing.B) {
	r := redistest.Start(b)
	pool := model.NewPool(model.PoolConfig{Addr: r.Addr})
	defer pool.Close()
	for id := 1; id <= 200; id++ {
		r.Do(b, "HSET", "users", id, `{"userName":"u"}`)
	}
	inbox := model.NewRedisInbox(pool, time.Hour, model.Retention{})
	content := string(make([]byte, 100))
	ctx := context.Background()
	b.SetParallelism(16)
	r.Do(b, "CONFIG", "RESETSTAT")
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			from := 1 + i%100
			if _, err := inbox.Send(ctx, from, "u", from+100, content, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// Redis's own time per message, which the machine's other load disturbs less
	// than the wall clock.
	stats, _ := redis.String(r.Do(b, "INFO", "commandstats"), nil)
	for _, line := range strings.Split(stats, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:"); ok {
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
					us, _ := strconv.ParseFloat(v, 64)
					b.ReportMetric(us, "redis-µs/msg")
				}
			}
		}
	}
}
