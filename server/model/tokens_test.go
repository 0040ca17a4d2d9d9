package model

import (
	"context"
	"strconv"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/redistest"
)

// newUserStore registers user 1 ("password") in a fresh Redis.
func newUserStore(tb testing.TB, cost int) *RedisUserStore {
	tb.Helper()
	r := redistest.Start(tb)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	tb.Cleanup(func() { pool.Close() })
	s := NewRedisUserStore(pool, cost)
	if err := s.Register(context.Background(), message.User{UserID: 1, UserPwd: "password", UserName: "ann"}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkLoginCheck compares the store's work for one login: a session token
// against a password at bcrypt cost 4 and at the default cost 10.
func BenchmarkLoginCheck(b *testing.B) {
	ctx := context.Background()
	b.Run("token", func(b *testing.B) {
		s := newUserStore(b, 4)
		token, err := s.IssueToken(ctx, 1, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.AuthenticateToken(ctx, 1, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cost := range []int{4, 10} {
		b.Run("password-cost-"+strconv.Itoa(cost), func(b *testing.B) {
			s := newUserStore(b, cost)
			for b.Loop() {
				if _, err := s.Authenticate(ctx, 1, "password"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
