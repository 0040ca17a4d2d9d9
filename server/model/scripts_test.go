package model

import (
	"context"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"

	"chat/internal/redistest"
)

// keyLiteral matches a quoted string in Lua that starts like one of the keys of
// keys.go: scripts must get every key in KEYS[].
var keyLiteral = regexp.MustCompile(`['"](users|session|online|nodes|inbox:|node:|dedup:|loginfail:|rate:)`)

func TestScriptsNameNoKeys(t *testing.T) {
	files, err := fs.Glob(luaFiles, "lua/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("got %v, %v; want the embedded scripts", files, err)
	}
	for _, f := range files {
		src, _ := luaFiles.ReadFile(f)
		if m := keyLiteral.FindString(string(src)); m != "" {
			t.Errorf("%s names a key in its text (%s...), want it in KEYS[]", f, m)
		}
	}
}

func TestScriptsLoad(t *testing.T) {
	r := redistest.Start(t)
	scripts := map[string]*redis.Script{
		"claim": claimScript, "release": releaseScript, "page": pageScript, "reap": reapScript,
		"restore": restoreScript, "send": sendScript, "compare_and_set": compareAndSetScript,
		"room_create": roomCreateScript, "room_join": roomJoinScript, "room_remove": roomRemoveScript,
		"room_send": roomSendScript, "room_ack": roomAckScript,
		"rate": rateScript, "login_reserve": loginReserveScript, "login_release": loginReleaseScript, "login_fail": loginFailScript, "login_token": loginTokenScript, "ack": ackScript,
		"rate_take": rateTakeScript, "send_inbox": sendInboxScript, "send_history": sendHistoryScript,
		"claim_user": claimUserScript, "release_user": releaseUserScript, "reap_user": reapUserScript, "restore_user": restoreUserScript,
		"room_enter": roomEnterScript, "room_user_add": roomUserAddScript, "room_leave": roomLeaveScript,
		"room_user_remove": roomUserRemoveScript, "room_post": roomPostScript, "room_cursor": roomCursorScript,
	}
	files, _ := fs.Glob(luaFiles, "lua/*.lua")
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "lua/"), ".lua")
		s, ok := scripts[name]
		if !ok {
			t.Errorf("%s is embedded but no script uses it", f)
			continue
		}
		if got := r.Do(t, "SCRIPT", "LOAD", mustRead(t, f)); string(got.([]byte)) != s.Hash() {
			t.Errorf("%s: Redis hashed it %s, want %s", f, got, s.Hash())
		}
	}
}

func mustRead(t *testing.T, name string) string {
	b, err := luaFiles.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A login replacing a session on another node takes the user out of that node's
// set, although the script learns that node only when it reads the session.
func TestClaimReplacesSessionOnAnotherNode(t *testing.T) {
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	defer pool.Close()
	p := NewRedisPresence(pool)
	ctx := context.Background()
	members := func(node string) []string {
		v, _ := redis.Strings(r.Do(t, "SMEMBERS", nodeUsersKey(node)), nil)
		slices.Sort(v)
		return v
	}
	tests := []struct {
		node, id     string
		wantReplaced bool
		wantPrevNode string
	}{
		{"a", "s1", false, ""},
		{"b", "s2", true, "a"},
		{"b", "s3", true, "b"},
		{"c", "s4", true, "b"},
	}
	for _, tt := range tests {
		c, err := p.Claim(ctx, 7, Session{Node: tt.node, ID: tt.id, Name: "seven"}, 10)
		if err != nil {
			t.Fatalf("claim on %s: %v", tt.node, err)
		}
		if c.Replaced != tt.wantReplaced || c.Previous.Node != tt.wantPrevNode || c.OnlineCount != 1 || !slices.Equal(c.FirstIDs, []int{7}) {
			t.Errorf("claim on %s: got %+v, want replaced %v from node %q, 1 online, ids [7]", tt.node, c, tt.wantReplaced, tt.wantPrevNode)
		}
		for _, n := range []string{"a", "b", "c"} {
			var want []string
			if n == tt.node {
				want = []string{"7"}
			}
			if got := members(n); !slices.Equal(got, want) {
				t.Errorf("after the claim on %s: node %s's users are %v, want %v", tt.node, n, got, want)
			}
		}
	}
}

// countingConn counts the round trips (Do) of a connection.
type countingConn struct {
	redis.Conn
	trips int
}

func (c *countingConn) Do(cmd string, args ...any) (any, error) {
	c.trips++
	return c.Conn.Do(cmd, args...)
}

// Calls of a script Redis does not know (restarted, or a replica just
// promoted) run again by its text in one more round trip, all of them, and
// the extra commands after them see what they did.
func TestPipelineScriptAfterNoScript(t *testing.T) {
	r := redistest.Start(t)
	pool := NewPool(PoolConfig{Addr: r.Addr})
	defer pool.Close()
	conn := &countingConn{Conn: pool.Get()}
	defer conn.Close()
	incr := redis.NewScript(1, "return redis.call('INCR', KEYS[1])")
	r.Do(t, "SCRIPT", "FLUSH")
	got, err := pipelineScript(conn, incr, [][]any{{"a"}, {"b"}, {"a"}}, []any{"GET", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1, 1, 2, 2}
	for i, w := range want {
		if n, err := redis.Int(got[i], nil); err != nil || n != w {
			t.Errorf("reply %d: got %v, want %d", i, got[i], w)
		}
	}
	if conn.trips != 2 {
		t.Errorf("got %d round trips, want 2", conn.trips)
	}
}
