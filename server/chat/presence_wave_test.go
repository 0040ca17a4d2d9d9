package chat_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/chat"
)

// presenceSeen returns the users c was told of with status, from the frames of
// type NotifyUserStatusMes that listed says (from a list or not), leaving them.
func presenceSeen(c *client, status int, listed bool) map[int]int {
	seen := map[int]int{}
	for _, f := range c.snapshot() {
		if f.Type != message.NotifyUserStatusMesType || f.Listed != listed {
			continue
		}
		var m message.NotifyUserStatusMes
		if json.Unmarshal([]byte(f.Data), &m) == nil && m.Status == status {
			seen[m.UserID]++
		}
	}
	return seen
}

// putUsers stores the accounts of ids, named userName(id), with password.
func putUsers(t testing.TB, r *storage, ids []int) {
	for _, id := range ids {
		r.putUser(t, message.User{UserID: id, UserPwd: password, UserName: userName(id)})
	}
}

// A wave of logins costs a proto-2 session a frame per tick, not one per login,
// whichever node the logins come to; a classic session still gets every
// login's NotifyUserStatusMes.
func TestPresenceWave(t *testing.T) {
	const wave = 200
	tests := []struct {
		name  string
		nodes int
	}{
		{"one node", 1},
		{"two nodes", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStorage(t)
			// A tick long enough that the wave, slow under the race detector
			// (a few seconds), spans few of them.
			mod := func(c *chat.Config) { c.PresenceTick = 2 * time.Second }
			var addrs []string
			for i := range tt.nodes {
				addrs = append(addrs, startNode(t, r, fmt.Sprint("n", i+1), mod).Addr)
			}
			ids := make([]int, wave)
			for i := range ids {
				ids[i] = 100 + i
			}
			putUsers(t, r, append([]int{1, 2}, ids...))
			proto2 := login(t, addrs[0], 1, message.ProtoAck)
			classic := login(t, addrs[0], 2, message.ProtoClassic)
			checkFor(t, waitTimeout, "the proto-2 observer to see the classic one", func() bool {
				return presenceSeen(proto2, message.UserOnline, true)[2] == 1
			})
			before := proto2.count(message.NotifyUsersStatusMesType)

			wavers := make([]*client, wave)
			for i := range wavers {
				wavers[i] = dial(t, addrs[i%len(addrs)])
			}
			start := time.Now()
			for i, c := range wavers {
				c.send(message.LoginMesType, message.LoginMes{UserID: ids[i], UserPwd: password, Proto: message.ProtoAck})
			}
			for i, c := range wavers {
				if res := nextAs[message.LoginResMes](c, message.LoginResMesType); res.Code != message.CodeOK {
					t.Fatalf("login %d: got %+v, want 200", ids[i], res)
				}
			}
			// Only then the costlier wait for what the observers were told.
			checkFor(t, waitTimeout, "the observers to see the whole wave online", func() bool {
				return len(presenceSeen(classic, message.UserOnline, false)) == wave &&
					len(presenceSeen(proto2, message.UserOnline, true)) == wave+1
			})
			elapsed := time.Since(start)
			classicSeen, listed := presenceSeen(classic, message.UserOnline, false), presenceSeen(proto2, message.UserOnline, true)
			for _, id := range ids {
				if classicSeen[id] != 1 {
					t.Errorf("classic observer: got %d NotifyUserStatusMes of %d online, want 1", classicSeen[id], id)
				}
				if listed[id] != 1 {
					t.Errorf("proto-2 observer: %d listed online %d times, want 1", id, listed[id])
				}
			}
			if got := proto2.count(message.NotifyUserStatusMesType) - len(presenceSeen(proto2, message.UserOnline, true)); got != 0 {
				t.Errorf("proto-2 observer: got %d NotifyUserStatusMes frames, want none", got)
			}
			got := proto2.count(message.NotifyUsersStatusMesType) - before
			t.Logf("proto-2 observer: %d frames for a wave of %d logins seen in %v", got, wave, elapsed)
			if got > wave/10 {
				t.Errorf("proto-2 observer: got %d frames for a wave of %d logins, want at most %d", got, wave, wave/10)
			}
			if got := presenceSeen(classic, message.UserOnline, false)[2]; got != 0 {
				t.Errorf("classic observer: told of its own login %d times, want never", got)
			}
		})
	}
}

// A user who logs in and out within one tick is announced once, offline: the
// last status wins.
func TestPresenceLastStatusWins(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			r := newStorage(t)
			mod := func(c *chat.Config) { c.PresenceTick = 3 * time.Second }
			var addrs []string
			for i := range nodes {
				addrs = append(addrs, startNode(t, r, fmt.Sprint("n", i+1), mod).Addr)
			}
			putUsers(t, r, []int{1, 2, 3, 4})
			proto2 := login(t, addrs[0], 1, message.ProtoAck)
			classic := login(t, addrs[0], 2, message.ProtoClassic)
			// User 3's login goes at once and opens a tick on the last node, or
			// waits in a tick already open: either way user 4 comes and goes
			// within a tick, which is far longer than that takes.
			last := addrs[len(addrs)-1]
			login(t, last, 3, message.ProtoAck)
			four := login(t, last, 4, message.ProtoAck)
			four.send(message.LogoutMesType, message.LogoutMes{})
			four.waitClosed()
			for _, c := range []*client{proto2, classic} {
				listed := c == proto2
				checkFor(t, waitTimeout, "user 4 offline", func() bool {
					return presenceSeen(c, message.UserOffline, listed)[4] == 1
				})
				if got := presenceSeen(c, message.UserOnline, listed)[4]; got != 0 {
					t.Errorf("listed %v: told %d times that user 4 came online, want never", listed, got)
				}
			}
		})
	}
}

// Changes waiting for their tick do not hold Shutdown up, and go to the other
// nodes before the node stops.
func TestPresenceShutdown(t *testing.T) {
	r := newStorage(t)
	n1 := startNode(t, r, "n1", nil)
	n2 := startNode(t, r, "n2", func(c *chat.Config) { c.PresenceTick = time.Hour })
	putUsers(t, r, []int{1, 3, 4})
	watcher := login(t, n1.Addr, 1, message.ProtoAck)
	// The first change on n2 (the watcher's login, or user 3's) goes at once
	// and opens a tick of an hour: user 4's login, at least, waits for it.
	login(t, n2.Addr, 3, message.ProtoAck)
	login(t, n2.Addr, 4, message.ProtoAck)

	start := time.Now()
	n2.stop(t) // fails the test if Shutdown does not return nil by its deadline
	if took := time.Since(start); took > waitTimeout/2 {
		t.Errorf("shutdown took %v", took)
	}
	checkFor(t, waitTimeout, "users 3 and 4 offline", func() bool {
		off := presenceSeen(watcher, message.UserOffline, true)
		return off[3] == 1 && off[4] == 1
	})
}

// The first change after a quiet tick goes at once: a lone login does not wait
// for the tick.
func TestPresenceLoneChangeAtOnce(t *testing.T) {
	r := newStorage(t)
	n1 := startNode(t, r, "n1", nil)
	putUsers(t, r, []int{1, 3})
	watcher := login(t, n1.Addr, 1, message.ProtoAck)
	// Started after the watcher's login: user 3's is its first change.
	n2 := startNode(t, r, "n2", func(c *chat.Config) { c.PresenceTick = time.Hour })
	login(t, n2.Addr, 3, message.ProtoAck)
	checkFor(t, waitTimeout, "user 3 online", func() bool { return presenceSeen(watcher, message.UserOnline, true)[3] == 1 })
}
