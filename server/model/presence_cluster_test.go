package model

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Presence keeps one session per user, the online list and each node's users
// as on one Redis: claims, releases, reaps of a dead node, resets of a
// restarted one, restores.
func TestPresenceBothLayouts(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		ctx := context.Background()
		p := NewRedisPresence(r.pool)
		members := func(node string) []int {
			t.Helper()
			var got []int
			for _, v := range r.do(t, "SMEMBERS", nodeUsersKey(node)).([]any) {
				got = append(got, int(v.([]byte)[0]-'0'))
			}
			slices.Sort(got)
			return got
		}
		claims := []struct {
			user         int
			s            Session
			wantReplaced string // the node of the session replaced
			wantCount    int
		}{
			{1, Session{"a", "x1", "one"}, "", 1},
			{2, Session{"a", "x2", "two"}, "", 2},
			{3, Session{"b", "y3", "three"}, "", 3},
			{1, Session{"b", "y1", "one"}, "a", 3},
		}
		for _, c := range claims {
			got, err := p.Claim(ctx, c.user, c.s, 2)
			if err != nil || got.Previous.Node != c.wantReplaced || got.OnlineCount != c.wantCount || len(got.FirstIDs) != min(2, c.wantCount) {
				t.Fatalf("claim %d on %s: got %+v, %v, want replaced from %q, %d online", c.user, c.s.Node, got, err, c.wantReplaced, c.wantCount)
			}
		}
		if got, want := members("a"), []int{2}; !slices.Equal(got, want) {
			t.Errorf("a's users: got %v, want %v", got, want)
		}
		if got, want := members("b"), []int{1, 3}; !slices.Equal(got, want) {
			t.Errorf("b's users: got %v, want %v", got, want)
		}
		total, page, err := p.Page(ctx, 1, 5)
		if err != nil || total != 3 || len(page) != 2 || page[0].UserID != 2 || page[0].UserName != "two" || page[1].UserName != "three" {
			t.Errorf("page from 1: got %d %+v, %v, want 3, two and three", total, page, err)
		}
		if _, released, err := p.Release(ctx, 1, Session{"a", "x1", "one"}); err != nil || released {
			t.Errorf("release of a replaced session: got %v, %v, want not released", released, err)
		}
		if n, released, err := p.Release(ctx, 1, Session{"b", "y1", "one"}); err != nil || !released || n != 2 {
			t.Errorf("release: got %d %v, %v, want released, 2 online", n, released, err)
		}
		if _, err := p.Beat(ctx, "a", time.Minute); err != nil {
			t.Fatal(err)
		}
		if gone, _, err := p.Reap(ctx, "a"); err != nil || len(gone) != 0 {
			t.Errorf("reap of a live node: got %v, %v, want nothing", gone, err)
		}
		r.do(t, "DEL", nodeAliveKey("a"))
		gone, n, err := p.Reap(ctx, "a")
		if err != nil || len(gone) != 1 || gone[0] != (Reaped{2, "two"}) || n != 1 {
			t.Errorf("reap of a dead node: got %v %d, %v, want user 2, 1 online", gone, n, err)
		}
		if nodes, _ := p.Nodes(ctx); slices.Contains(nodes, "a") {
			t.Errorf("nodes after the reap: got %v, want a gone", nodes)
		}
		if gone, _, err := p.Reap(ctx, "a"); err != nil || len(gone) != 0 {
			t.Errorf("second reap: got %v, %v, want nothing", gone, err)
		}
		if r.cluster != nil {
			// A reap cut short after it ended a session: the next takes the user
			// off the online list.
			if _, err := p.Claim(ctx, 5, Session{"d", "v5", "five"}, 2); err != nil {
				t.Fatal(err)
			}
			r.do(t, "DEL", sessionKey(5))
			if _, n, err := p.Reap(ctx, "d"); err != nil || n != 1 {
				t.Errorf("reap after a reap cut short: got %d online, %v, want 1", n, err)
			}
		}
		// b restarted under run "z": the session of run "y" goes, one of "z" stays.
		if _, err := p.Claim(ctx, 4, Session{"b", "z4", "four"}, 2); err != nil {
			t.Fatal(err)
		}
		gone, n, err = p.Reset(ctx, "b", "z")
		if err != nil || len(gone) != 1 || gone[0].UserID != 3 || n != 1 {
			t.Errorf("reset of b: got %v %d, %v, want user 3, 1 online", gone, n, err)
		}
		if got, want := members("b"), []int{4}; !slices.Equal(got, want) {
			t.Errorf("b's users after the reset: got %v, want %v", got, want)
		}
		// b restores what it holds: 3 is back, 4 was there, 2 has a newer session.
		if _, err := p.Claim(ctx, 2, Session{"c", "w2", "two"}, 2); err != nil {
			t.Fatal(err)
		}
		res, err := p.Restore(ctx, "b", map[int]Session{3: {"b", "y3", "three"}, 4: {"b", "z4", "four"}, 2: {"b", "old", "two"}})
		if err != nil || !slices.Equal(res.Back, []int{3}) || !slices.Equal(res.Replaced, []int{2}) || res.OnlineCount != 3 {
			t.Errorf("restore: got %+v, %v, want 3 back, 2 replaced, 3 online", res, err)
		}
		if got, want := members("b"), []int{3, 4}; !slices.Equal(got, want) {
			t.Errorf("b's users after the restore: got %v, want %v", got, want)
		}
	})
}
