package model_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/model"
)

func testUserStore(t *testing.T, open opener) {
	st := open(t, options{})
	ctx := context.Background()
	register(t, st, 1)
	if err := st.Users.Register(ctx, message.User{UserID: 1, UserPwd: "x"}); !errors.Is(err, model.ErrUserExists) {
		t.Errorf("register a taken id: got %v, want ErrUserExists", err)
	}
	for _, tt := range []struct {
		id   int
		want bool
	}{{1, true}, {2, false}} {
		if got, err := st.Users.Exists(ctx, tt.id); got != tt.want || err != nil {
			t.Errorf("Exists(%d): got %v, %v, want %v", tt.id, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name     string
		id       int
		password string
		want     error
	}{
		{"right password", 1, "p1", nil},
		{"wrong password", 1, "p2", model.ErrWrongPassword},
		{"no such user", 2, "p2", model.ErrUserNotFound},
	} {
		u, err := st.Users.Authenticate(ctx, tt.id, tt.password)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && (u.UserID != 1 || u.UserName != "u1" || u.UserPwd != "") {
			t.Errorf("%s: got %+v, want u1 (1) without the password hash", tt.name, u)
		}
	}
}

func testTokens(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{})
	register(t, st, 1)
	s := st.Users
	check := func(user int, token string) (message.User, error) {
		return st.Logins.CheckToken(ctx, user, token, "10.0.0.1", model.LoginLimits{})
	}
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
		{"another user's token", 2, token, model.ErrBadToken},
		{"unknown token", 1, token + "x", model.ErrBadToken},
		{"empty token", 1, "", model.ErrBadToken},
	} {
		u, err := check(tc.user, tc.token)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
		if err == nil && (u.UserID != 1 || u.UserName != "u1" || u.UserPwd != "") {
			t.Errorf("%s: got user %+v, want u1 (1) without the password hash", tc.name, u)
		}
	}
	if err := s.RevokeToken(ctx, 1, token); err != nil {
		t.Fatal(err)
	}
	if _, err := check(1, token); !errors.Is(err, model.ErrBadToken) {
		t.Errorf("revoked token: got %v, want ErrBadToken", err)
	}
	if _, err := check(1, other); err != nil {
		t.Errorf("revoking one token ended the other: %v", err)
	}
	if err := s.RevokeToken(ctx, 1, token); err != nil {
		t.Errorf("revoking a token twice: %v, want no error", err)
	}

	short, err := s.IssueToken(ctx, 1, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := check(1, short); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	waitUntil(t, "the token's 200 ms TTL to end it", func() bool {
		_, err := check(1, short)
		return errors.Is(err, model.ErrBadToken)
	})
}

func testLoginLimiter(t *testing.T, open opener) {
	ctx := context.Background()
	t.Run("parallel reservations never pass a limit", func(t *testing.T) {
		l := open(t, options{}).Logins
		lim := model.LoginLimits{PerUserAddr: 5, PerUser: 8}
		reserve := func(addr string, n int) int {
			var mu sync.Mutex
			var wg sync.WaitGroup
			got := 0
			for range n {
				wg.Go(func() {
					ok, err := l.Reserve(ctx, 1, addr, lim)
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
		if err := l.Release(ctx, 1, "10.0.0.1", lim); err != nil {
			t.Fatal(err)
		}
		if got := reserve("10.0.0.1", 10); got != 1 {
			t.Errorf("after one release: %d passed, want 1", got)
		}
		if got := reserve("10.0.0.2", 100); got != 3 {
			t.Errorf("from a second address: %d passed, want the 3 left of the user's 8", got)
		}
		if ok, _ := l.Reserve(ctx, 2, "10.0.0.1", lim); !ok {
			t.Errorf("another user from the same address: refused, want a reservation")
		}
	})
	t.Run("an address counts known failures only", func(t *testing.T) {
		l := open(t, options{}).Logins
		lim := model.LoginLimits{PerUserAddr: 5, PerUser: 8, PerAddr: 3}
		for id := 1; id <= 10; id++ { // ten logins in flight at once
			if ok, err := l.Reserve(ctx, id, "10.0.0.1", lim); !ok || err != nil {
				t.Fatalf("login %d in flight: got %v, %v, want a reservation", id, ok, err)
			}
		}
		for range 3 {
			if err := l.Failed(ctx, "10.0.0.1", lim); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := l.Reserve(ctx, 11, "10.0.0.1", lim); ok {
			t.Errorf("a new user id from an address at its limit: reserved, want refused")
		}
		if ok, _ := l.Reserve(ctx, 11, "10.0.0.2", lim); !ok {
			t.Errorf("the same user id from another address: refused, want a reservation")
		}
	})
	t.Run("a window ends", func(t *testing.T) {
		l := open(t, options{loginWindow: 300 * time.Millisecond}).Logins
		lim := model.LoginLimits{PerUserAddr: 1}
		if ok, _ := l.Reserve(ctx, 1, "a", lim); !ok {
			t.Fatal("first reservation refused")
		}
		if ok, _ := l.Reserve(ctx, 1, "a", lim); ok {
			t.Fatal("a reservation past the limit passed")
		}
		waitUntil(t, "the window to end", func() bool {
			ok, _ := l.Reserve(ctx, 1, "a", lim)
			return ok
		})
		// Releases give back no more than was reserved.
		for range 2 {
			if err := l.Release(ctx, 1, "a", lim); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range []bool{true, false} {
			if ok, _ := l.Reserve(ctx, 1, "a", lim); ok != want {
				t.Errorf("reservation %d after two releases of one: got %v, want %v", i, ok, want)
			}
		}
	})
	t.Run("no limits", func(t *testing.T) {
		l := open(t, options{}).Logins
		for range 3 {
			if ok, err := l.Reserve(ctx, 1, "a", model.LoginLimits{}); !ok || err != nil {
				t.Errorf("no limits: got %v, %v, want a reservation", ok, err)
			}
		}
	})
}

// testTokenLogins checks CheckToken's counts: a wrong token is counted as a
// reservation that is never given back, a right one leaves the counts as they
// were, and a count at its limit turns even a right token away.
func testTokenLogins(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{})
	register(t, st, 1)
	token, err := st.Users.IssueToken(ctx, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Logins
	lim := model.LoginLimits{PerUserAddr: 3, PerUser: 5, PerAddr: 4}
	for i, tc := range []struct {
		token, addr string
		want        error
	}{
		{token, "10.0.0.1", nil}, // right tokens count nothing
		{token, "10.0.0.1", nil},
		{token, "10.0.0.1", nil},
		{token, "10.0.0.1", nil},
		{"wrong", "10.0.0.1", model.ErrBadToken},
		{"wrong", "10.0.0.1", model.ErrBadToken},
		{token, "10.0.0.1", nil},
		{"wrong", "10.0.0.1", model.ErrBadToken},
		{token, "10.0.0.1", model.ErrTooManyFailures}, // the pair is at 3
		{token, "10.0.0.2", nil},                      // the user is at 3 of 5
		{"wrong", "10.0.0.2", model.ErrBadToken},
		{"wrong", "10.0.0.2", model.ErrBadToken},
		{token, "10.0.0.3", model.ErrTooManyFailures}, // the user is at 5
	} {
		u, err := l.CheckToken(ctx, 1, tc.token, tc.addr, lim)
		if !errors.Is(err, tc.want) {
			t.Errorf("login %d (%s from %s): got %v, want %v", i, tc.token, tc.addr, err, tc.want)
		}
		if err == nil && u.UserName != "u1" {
			t.Errorf("login %d: got user %+v, want u1", i, u)
		}
	}

	t.Run("parallel guesses never pass a limit", func(t *testing.T) {
		l := open(t, options{}).Logins
		var mu sync.Mutex
		var wg sync.WaitGroup
		got := map[error]int{}
		for range 50 {
			wg.Go(func() {
				_, err := l.CheckToken(ctx, 2, "guess", "10.0.0.1", model.LoginLimits{PerUserAddr: 5})
				mu.Lock()
				got[err]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if want := (map[error]int{model.ErrBadToken: 5, model.ErrTooManyFailures: 45}); !maps.Equal(got, want) {
			t.Errorf("50 parallel guesses: got %v, want %v", got, want)
		}
	})
	t.Run("an address at its limit", func(t *testing.T) {
		st := open(t, options{})
		register(t, st, 1)
		token, err := st.Users.IssueToken(ctx, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		lim := model.LoginLimits{PerAddr: 2}
		for range 2 {
			if err := st.Logins.Failed(ctx, "10.0.0.9", lim); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Logins.CheckToken(ctx, 1, token, "10.0.0.9", lim); !errors.Is(err, model.ErrTooManyFailures) {
			t.Errorf("a right token from an address at its limit: got %v, want ErrTooManyFailures", err)
		}
		if _, err := st.Logins.CheckToken(ctx, 1, token, "10.0.0.8", lim); err != nil {
			t.Errorf("a right token from another address: got %v, want none", err)
		}
	})
}

func testRateLimiter(t *testing.T, open opener) {
	ctx := context.Background()
	rl := open(t, options{}).Rates
	lim := model.Limit{Rate: 10, Burst: 3} // one every 100 ms
	allowed := 0
	for range 10 {
		ok, err := rl.Allow(ctx, model.RateGroup, "1", lim)
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
	for _, tt := range []struct {
		name, kind, who string
		lim             model.Limit
	}{
		{"another user", model.RateGroup, "2", lim},
		{"another kind", model.RateLogin, "1", lim},
		{"no limit", model.RateGroup, "1", model.Limit{}},
	} {
		if ok, _ := rl.Allow(ctx, tt.kind, tt.who, tt.lim); !ok {
			t.Errorf("%s: refused, want allowed", tt.name)
		}
	}
	start := time.Now()
	waitUntil(t, "one interval to pass", func() bool {
		ok, _ := rl.Allow(ctx, model.RateGroup, "1", lim)
		return ok
	})
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the next event was allowed after %v, want about 100 ms", waited)
	}
	if ok, _ := rl.Allow(ctx, model.RateGroup, "1", lim); ok {
		t.Errorf("a second event within the interval: allowed, want refused")
	}
}
