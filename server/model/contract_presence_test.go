package model_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/model"
)

func session(node, id string, user int) model.Session {
	return model.Session{Node: node, ID: id, Name: "user " + strconv.Itoa(user)}
}

func testPresence(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{})
	p := st.Presence
	register(t, st, 2)
	if _, err := sendOne(st, 2, 1, "waiting", "", model.SendLimits{}); err != nil {
		t.Fatal(err)
	}
	waiting, err := st.Inbox.Read(ctx, 1, "", 10)
	if err != nil || len(waiting) != 1 {
		t.Fatalf("1's inbox: got %v, %v, want one message", waiting, err)
	}
	if _, err := st.Rooms.Create(ctx, 3, "lobby", 10); err != nil {
		t.Fatal(err)
	}
	claims := []struct {
		name         string
		user         int
		s            model.Session
		firstIDs     int
		wantReplaced bool
		wantPrevious model.Session
		wantCount    int
		wantIDs      []int
		wantLast     string
		wantInRooms  bool
	}{
		{"first login", 7, session("a", "s1", 7), 10, false, model.Session{}, 1, []int{7}, "", false},
		{"on another node", 7, session("b", "s2", 7), 10, true, session("a", "s1", 7), 1, []int{7}, "", false},
		{"again on that node", 7, session("b", "s3", 7), 10, true, session("b", "s2", 7), 1, []int{7}, "", false},
		{"another user, in a room", 3, session("a", "s4", 3), 10, false, model.Session{}, 2, []int{3, 7}, "", true},
		{"a user with a message waiting", 1, session("a", "s5", 1), 2, false, model.Session{}, 3, []int{1, 3}, waiting[0].ID, false},
	}
	for _, tt := range claims {
		c, err := p.Claim(ctx, tt.user, tt.s, tt.firstIDs)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.Replaced != tt.wantReplaced || c.Previous != tt.wantPrevious || c.OnlineCount != tt.wantCount ||
			!slices.Equal(c.FirstIDs, tt.wantIDs) || c.LastInboxID != tt.wantLast || c.InRooms != tt.wantInRooms {
			t.Errorf("%s: got %+v, want replaced %v (%+v), %d online, ids %v, last inbox id %q, in rooms %v",
				tt.name, c, tt.wantReplaced, tt.wantPrevious, tt.wantCount, tt.wantIDs, tt.wantLast, tt.wantInRooms)
		}
	}
	pages := []struct {
		offset, limit int
		want          []message.OnlineUser
	}{
		{0, 2, []message.OnlineUser{{UserID: 1, UserName: "user 1"}, {UserID: 3, UserName: "user 3"}}},
		{2, 5, []message.OnlineUser{{UserID: 7, UserName: "user 7"}}},
		{5, 5, []message.OnlineUser{}},
	}
	for _, tt := range pages {
		total, users, err := p.Page(ctx, tt.offset, tt.limit)
		if err != nil || total != 3 || !slices.Equal(users, tt.want) {
			t.Errorf("Page(%d, %d): got %d, %v, %v, want 3, %v", tt.offset, tt.limit, total, users, err, tt.want)
		}
	}
	releases := []struct {
		name         string
		user         int
		s            model.Session
		wantCount    int
		wantReleased bool
	}{
		{"a replaced session", 7, session("a", "s1", 7), 0, false},
		{"a session of the same node, replaced", 7, session("b", "s2", 7), 0, false},
		{"the current session", 7, session("b", "s3", 7), 2, true},
		{"again", 7, session("b", "s3", 7), 0, false},
		{"a user never online", 9, session("a", "s9", 9), 0, false},
	}
	for _, tt := range releases {
		n, released, err := p.Release(ctx, tt.user, tt.s)
		if err != nil || n != tt.wantCount || released != tt.wantReleased {
			t.Errorf("release %s: got %d, %v, %v, want %d, %v", tt.name, n, released, err, tt.wantCount, tt.wantReleased)
		}
	}
	if err := p.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// testReap: heartbeats, and what a dead node, a restarted node and a node back
// from a lapse do to the sessions.
func testReap(t *testing.T, open opener) {
	ctx := context.Background()
	p := open(t, options{}).Presence
	const ttl = 300 * time.Millisecond
	for i, want := range []bool{true, false} {
		if lapsed, err := p.Beat(ctx, "a", ttl); lapsed != want || err != nil {
			t.Errorf("beat %d of a: got lapsed %v, %v, want %v", i+1, lapsed, err, want)
		}
	}
	if _, err := p.Beat(ctx, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	if nodes, err := p.Nodes(ctx); !equalSet(nodes, []string{"a", "b"}) || err != nil {
		t.Errorf("Nodes: got %v, %v, want a and b", nodes, err)
	}
	for _, c := range []struct {
		user int
		s    model.Session
	}{{1, session("a", "r1-x", 1)}, {2, session("a", "r1-y", 2)}, {3, session("a", "r2-z", 3)}, {4, session("b", "r1-w", 4)}, {5, session("a", "r1-v", 5)}} {
		if _, err := p.Claim(ctx, c.user, c.s, 0); err != nil {
			t.Fatal(err)
		}
	}
	// User 5 moved to b: a's reap must leave it alone.
	if _, err := p.Claim(ctx, 5, session("b", "r1-u", 5), 0); err != nil {
		t.Fatal(err)
	}
	if gone, n, err := p.Reap(ctx, "a"); len(gone) != 0 || n != 0 || err != nil {
		t.Errorf("reap of a beating node: got %v, %d, %v, want nothing", gone, n, err)
	}
	// A restart of a under run r2: the sessions of run r1 go.
	gone, n, err := p.Reset(ctx, "a", "r2")
	if want := []model.Reaped{{UserID: 1, Name: "user 1"}, {UserID: 2, Name: "user 2"}}; !equalReaped(gone, want) || n != 3 || err != nil {
		t.Errorf("reset of a to run r2: got %v, %d, %v, want %v and 3 online", gone, n, err, want)
	}
	restored, err := p.Restore(ctx, "a", map[int]model.Session{
		1: session("a", "r2-x", 1), // taken offline: back
		3: session("a", "r2-z", 3), // still there
		5: session("a", "r1-v", 5), // replaced elsewhere since
	})
	if err != nil || !slices.Equal(restored.Back, []int{1}) || !slices.Equal(restored.Replaced, []int{5}) || restored.OnlineCount != 4 {
		t.Errorf("restore: got %+v, %v, want 1 back, 5 replaced, 4 online", restored, err)
	}
	waitUntil(t, "a's heartbeat to expire", func() bool {
		gone, n, err = p.Reap(ctx, "a")
		return len(gone) > 0 || err != nil
	})
	if want := []model.Reaped{{UserID: 1, Name: "user 1"}, {UserID: 3, Name: "user 3"}}; !equalReaped(gone, want) || n != 2 || err != nil {
		t.Errorf("reap of a dead a: got %v, %d, %v, want %v and 2 online", gone, n, err, want)
	}
	if nodes, _ := p.Nodes(ctx); !equalSet(nodes, []string{"b"}) {
		t.Errorf("Nodes after a's reap: got %v, want b", nodes)
	}
	if gone, _, _ := p.Reap(ctx, "a"); len(gone) != 0 {
		t.Errorf("a second reap: got %v, want nothing", gone)
	}
	if lapsed, _ := p.Beat(ctx, "a", ttl); !lapsed {
		t.Errorf("a's beat after its reap: not lapsed, want lapsed")
	}
	if err := p.Leave(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := p.Nodes(ctx); !equalSet(nodes, []string{"a"}) {
		t.Errorf("Nodes after b left: got %v, want a", nodes)
	}
	if lapsed, _ := p.Beat(ctx, "b", ttl); !lapsed {
		t.Errorf("b's beat after it left: not lapsed, want lapsed")
	}
}

func equalSet(got, want []string) bool {
	got = slices.Clone(got)
	slices.Sort(got)
	return slices.Equal(got, want)
}

func equalReaped(got, want []model.Reaped) bool {
	got = slices.Clone(got)
	slices.SortFunc(got, func(a, b model.Reaped) int { return a.UserID - b.UserID })
	return slices.Equal(got, want)
}
