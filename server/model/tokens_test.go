package model

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
	"chat/internal/redistest"
)

// newUserStore registers user 1 ("password") in a fresh Redis; its pool is
// the store's.
func newUserStore(tb testing.TB, cost int) (*RedisUserStore, *redis.Pool) {
	tb.Helper()
	r := redistest.Start(tb)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	tb.Cleanup(func() { pool.Close() })
	s := NewRedisUserStore(pool, cost)
	if err := s.Register(context.Background(), message.User{UserID: 1, UserPwd: "password", UserName: "ann"}); err != nil {
		tb.Fatal(err)
	}
	return s, pool
}

// BenchmarkLoginCheck compares the store's work for one login: a session token
// against a password at bcrypt cost 4 and at the default cost 10.
func BenchmarkLoginCheck(b *testing.B) {
	ctx := context.Background()
	b.Run("token", func(b *testing.B) {
		s, pool := newUserStore(b, 4)
		logins := NewRedisLoginLimiter(pool, time.Minute)
		lim := LoginLimits{PerUserAddr: 5, PerUser: 50, PerAddr: 100}
		token, err := s.IssueToken(ctx, 1, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := logins.CheckToken(ctx, 1, token, "10.0.0.1", lim); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cost := range []int{4, 10} {
		b.Run("password-cost-"+strconv.Itoa(cost), func(b *testing.B) {
			s, _ := newUserStore(b, cost)
			for b.Loop() {
				if _, err := s.Authenticate(ctx, 1, "password"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
