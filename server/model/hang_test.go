package model_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"chat/server/model"
)

// While Redis hangs (SIGSTOP), every store call ends when its context does: a
// request never waits for the connection's own read timeout, which is longer.
func TestCallsEndWithTheirContextWhileRedisHangs(t *testing.T) {
	inbox, rooms, r := storeOn(t, model.Retention{}, 2)
	pool := model.NewPool(model.PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	users := model.NewRedisUserStore(pool, 4)
	logins := model.NewRedisLoginLimiter(pool, time.Minute)
	ctx := context.Background()
	room, err := rooms.Create(ctx, 1, "hang", 10)
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Inbox.History", func(ctx context.Context) error { _, _, err := inbox.History(ctx, 1, 2, "", 10); return err }},
		{"Inbox.Read", func(ctx context.Context) error { _, err := inbox.Read(ctx, 1, "", 10); return err }},
		{"Rooms.History", func(ctx context.Context) error { _, _, _, err := rooms.History(ctx, room, 1, "", 10); return err }},
		{"Rooms.Create", func(ctx context.Context) error { _, err := rooms.Create(ctx, 1, "x", 10); return err }},
		{"Rooms.Join", func(ctx context.Context) error { _, err := rooms.Join(ctx, room, 2, 10, 10); return err }},
		{"Rooms.List", func(ctx context.Context) error { _, err := rooms.List(ctx, 1); return err }},
		{"Rooms.Members", func(ctx context.Context) error { _, _, err := rooms.Members(ctx, room, 1, 0, 10); return err }},
		{"Rooms.Memberships", func(ctx context.Context) error { _, err := rooms.Memberships(ctx, 1); return err }},
		{"Rooms.Read", func(ctx context.Context) error { _, err := rooms.Read(ctx, room, 1, "", 10); return err }},
		{"Users.IssueToken", func(ctx context.Context) error { _, err := users.IssueToken(ctx, 1, time.Hour); return err }},
		{"Logins.CheckToken", func(ctx context.Context) error {
			_, err := logins.CheckToken(ctx, 1, "x", "10.0.0.1", model.LoginLimits{PerUserAddr: 5})
			return err
		}},
	}
	// Warm the pools: each call has a connection at hand when Redis hangs.
	for _, c := range calls {
		c.call(ctx)
	}
	pid := r.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	const budget = 300 * time.Millisecond
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			start := time.Now()
			err := c.call(ctx)
			if took := time.Since(start); err == nil || took > budget+time.Second {
				t.Errorf("got %v after %v, want an error within %v of the context's end", err, took, time.Second)
			}
		})
	}
}
