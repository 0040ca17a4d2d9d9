package model

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/redistest"
)

// TestMigrateKeys seeds a Redis as the previous build left it (keys without
// hash tags, written with raw commands), migrates it, and reads it back through
// the stores.
func TestMigrateKeys(t *testing.T) {
	ctx := context.Background()
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	users := NewRedisUserStore(pool, 4)
	for _, u := range []message.User{{UserID: 1, UserName: "ann"}, {UserID: 2, UserName: "bob"}, {UserID: 7, UserName: "eve"}, {UserID: 8, UserName: "max"}} {
		u.UserPwd = "password"
		if err := users.Register(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	inbox := NewRedisInbox(pool, time.Minute, Retention{})
	rooms := NewRedisRooms(pool, time.Minute, Retention{})

	// Ids of this millisecond: history reads stop at the retention's age.
	ms := strconv.FormatInt(time.Now().UnixMilli(), 10)
	id := func(seq int) string { return ms + "-" + strconv.Itoa(seq) }
	stored := func(seq, from int, name, content string) Stored {
		return Stored{ID: id(seq), From: from, FromName: name, Content: content, SentAt: IDTime(id(seq))}
	}
	const token = "the-token"
	for _, cmd := range [][]any{
		{"XADD", "inbox:7", id(1), "f", 1, "n", "ann", "c", "hello"},
		{"XADD", "inbox:7", id(2), "f", 2, "n", "bob", "c", "hi"},
		{"XADD", "hist:1:2", id(1), "f", 1, "n", "ann", "c", "to bob"},
		{"HSET", "room:5", "n", "lobby", "o", 7},
		{"ZADD", "room:5:members", 7, 7},
		{"XADD", "room:5:log", id(3), "f", 7, "n", "eve", "c", "in the room"},
		{"HSET", "rooms:7", 5, "0-0"},
		{"SET", "room:seq", 5},
		{"SET", "token:7:" + hashToken(token), 1, "PX", time.Hour.Milliseconds()},
		// User 8's inbox exists under both names: the new one is kept as it is.
		{"XADD", "inbox:8", id(1), "f", 1, "n", "ann", "c", "old"},
		{"XADD", inboxKey(8), id(4), "f", 2, "n", "bob", "c", "new"},
	} {
		r.Do(t, cmd[0].(string), cmd[1:]...)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	migrate := func() {
		t.Helper()
		if err := MigrateKeys(ctx, pool, log); err != nil {
			t.Fatal(err)
		}
	}
	migrate()
	if got, want := logs.String(), "moved=7"; !strings.Contains(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	if got, want := logs.String(), "level=WARN"; !strings.Contains(got, want) || !strings.Contains(got, "keys=1") {
		t.Errorf("log %q, want a warning for 1 key", got)
	}
	migrate() // done: skipped
	r.Do(t, "DEL", layoutKey)
	migrate() // scans again and finds nothing to move

	check := func(what string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
	}
	got, err := inbox.Read(ctx, 7, "", 10)
	check("inbox of 7", got, []Stored{stored(1, 1, "ann", "hello"), stored(2, 2, "bob", "hi")}, err)
	got, err = inbox.Read(ctx, 8, "", 10)
	check("inbox of 8", got, []Stored{stored(4, 2, "bob", "new")}, err)
	got, _, err = inbox.History(ctx, 2, 1, "", 10)
	check("history of 1 and 2", got, []Stored{stored(1, 1, "ann", "to bob")}, err)
	list, err := rooms.List(ctx, 7)
	check("rooms of 7", list, []message.RoomInfo{{RoomID: 5, Name: "lobby", Members: 1}}, err)
	got, err = rooms.Read(ctx, 5, 7, "0-0", 10)
	check("log of room 5", got, []Stored{stored(3, 7, "eve", "in the room")}, err)
	u, err := NewRedisLoginLimiter(pool, time.Minute).CheckToken(ctx, 7, token, "10.0.0.1", LoginLimits{})
	check("token of 7", u.UserName, "eve", err)

	for key, want := range map[string]int64{
		"inbox:7": 0, "room:5:log": 0, "token:7:" + hashToken(token): 0,
		"inbox:8": 1, "room:seq": 1, "users": 1,
	} {
		if got := r.Do(t, "EXISTS", key); got != want {
			t.Errorf("EXISTS %s: got %v, want %v", key, got, want)
		}
	}
	if got, want := r.Do(t, "GET", layoutKey), []byte("2"); !reflect.DeepEqual(got, want) {
		t.Errorf("GET %s: got %q, want %q", layoutKey, got, want)
	}
}

// TestPreviousToTagged names the keys that move and those that do not.
func TestPreviousToTagged(t *testing.T) {
	for _, tc := range []struct{ old, want string }{
		{"inbox:7", "inbox:{7}"},
		{"hist:1:2", "hist:{1:2}"},
		{"room:5", "room:{r5}"},
		{"room:5:members", "room:{r5}:members"},
		{"room:5:log", "room:{r5}:log"},
		{"rooms:7", "rooms:{7}"},
		{"token:7:ab12", "token:{7}:ab12"},
		{"node:a-1:users", "node:{a-1}:users"},
		{"room:seq", ""},
		{"inbox:{7}", ""},
		{"room:{r5}:log", ""},
		{"inbox:07", ""},
		{"inbox:7:x", ""},
		{"hist:1", ""},
		{"token:7:", ""},
		{"node:a-1:alive", ""},
		{"room:5:other", ""},
	} {
		got, ok := previousToTagged(tc.old)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("previousToTagged(%q): got %q, want %q", tc.old, got, tc.want)
		}
	}
}

// TestMigrateKeysConcurrent runs the migration of several nodes starting at once:
// each key is moved once, and the nodes that lose a race for it do not fail.
func TestMigrateKeysConcurrent(t *testing.T) {
	ctx := context.Background()
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	const n = 300
	for u := 1; u <= n; u++ {
		r.Do(t, "XADD", "inbox:"+strconv.Itoa(u), "*", "f", 1, "n", "ann", "c", "hello")
	}
	log := slog.New(slog.DiscardHandler)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() { errs <- MigrateKeys(ctx, pool, log) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for u := 1; u <= n; u++ {
		if got := r.Do(t, "XLEN", inboxKey(u)); got != int64(1) {
			t.Fatalf("XLEN %s: got %v, want 1", inboxKey(u), got)
		}
	}
	if got := r.Do(t, "DBSIZE"); got != int64(n+1) {
		t.Errorf("DBSIZE: got %v, want %d (the inboxes and %s)", got, n+1, layoutKey)
	}
}
