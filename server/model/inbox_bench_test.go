package model

import (
	"context"
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
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := int(n.Add(1))
			from, to := i%users+1, (i/users)%users+1
			if _, err := inbox.Send(ctx, from, "u", to, "a message of some length", strconv.Itoa(i), lim); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
