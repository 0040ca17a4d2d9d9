package model

import (
	"context"
	"errors"
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

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newUserStore(t, 4)
	token, err := s.IssueToken(ctx, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.IssueToken(ctx, 1, time.Hour)
	if err != nil || other == token {
		t.Fatalf("two tokens: got %q and %q (%v), want two different ones", token, other, err)
	}
	for _, tc := range []struct {
		name  string
		user  int
		token string
		want  error
	}{
		{"own token", 1, token, nil},
		{"another user's token", 2, token, ErrBadToken},
		{"unknown token", 1, token + "x", ErrBadToken},
		{"empty token", 1, "", ErrBadToken},
	} {
		u, err := s.AuthenticateToken(ctx, tc.user, tc.token)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && (u.UserID != 1 || u.UserName != "ann" || u.UserPwd != "") {
			t.Errorf("%s: got user %+v, want ann (1) without her password hash", tc.name, u)
		}
	}
	if err := s.RevokeToken(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, 1, token); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoked token: got %v, want ErrBadToken", err)
	}
	if _, err := s.AuthenticateToken(ctx, 1, other); err != nil {
		t.Errorf("revoking one token ended the other: %v", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	ctx := context.Background()
	s := newUserStore(t, 4)
	token, err := s.IssueToken(ctx, 1, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, 1, token); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.AuthenticateToken(ctx, 1, token)
		if errors.Is(err, ErrBadToken) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("token still valid or error (%v) 10 s after its 200 ms TTL", err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
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
