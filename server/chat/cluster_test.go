package chat_test

// Cluster tests (docs/PROTOCOL.md, "Many nodes", "Presence", "Identity", "Private
// messages are at-least-once"): several nodes on one Redis, a node killed with
// SIGKILL, a node restarted under the same id, and a Redis restart under running
// nodes.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"chat/common/message"
)

// reapTimeout bounds how long the surviving nodes may take to notice a dead node
// (heartbeat 500 ms in tests, so three missed beats are 1.5 s).
const reapTimeout = 10 * time.Second

// recoverTimeout bounds how long after Redis is back a node must serve fully.
const recoverTimeout = 15 * time.Second

// registerAll registers each id on addr, named by userName.
func registerAll(t testing.TB, addr string, ids ...int) {
	t.Helper()
	for _, id := range ids {
		registerUser(t, addr, id, userName(id))
	}
}

func userName(id int) string { return fmt.Sprintf("u%d", id) }

// waitOnline waits until c's online list is exactly want (in id order, total
// matching) and every listed user has its registered name.
func waitOnline(t testing.TB, c *client, timeout time.Duration, want []int) {
	t.Helper()
	var last message.OnlineUsersResMes
	defer func() {
		if t.Failed() {
			t.Logf("last online list: %+v", last)
		}
	}()
	checkFor(t, timeout, fmt.Sprintf("online list: code 200, total %d, users %v", len(want), want), func() bool {
		last = c.onlineUsers(0, 500)
		names := true
		for _, u := range last.Users {
			names = names && u.UserName == userName(u.UserID)
		}
		return last.Code == message.CodeOK && last.Total == len(want) && slices.Equal(userIDs(last), want) && names
	})
}

func statusIs(user, status int) func(string) bool {
	return matching(func(m message.NotifyUserStatusMes) bool { return m.UserID == user && m.Status == status })
}

// waitStatus waits for NotifyUserStatusMes{user, status} on c.
func waitStatus(t testing.TB, c *client, timeout time.Duration, user, status int) {
	t.Helper()
	var m message.NotifyUserStatusMes
	c.nextMatch(timeout, message.NotifyUserStatusMesType,
		fmt.Sprintf("NotifyUserStatusMes{userId %d, status %d}", user, status), statusIs(user, status), &m)
	if m.UserName != userName(user) {
		t.Errorf("NotifyUserStatusMes for %d: got userName %q, want %q", user, m.UserName, userName(user))
	}
}

func statusOf(user int) func(string) bool {
	return matching(func(m message.NotifyUserStatusMes) bool { return m.UserID == user })
}

func smsIs(msgID string) func(string) bool {
	return matching(func(m message.SmsMes) bool { return m.MsgID == msgID })
}

func privateIs(msgID string) func(string) bool {
	return matching(func(m message.PrivateMes) bool { return m.MsgID == msgID })
}

// waitPrivate waits for the PrivateMes msgID on c and checks what it carries.
func waitPrivate(t testing.TB, c *client, timeout time.Duration, msgID string, from, to int, content string, offline bool) {
	t.Helper()
	var got message.PrivateMes
	c.nextMatch(timeout, message.PrivateMesType, "PrivateMes "+msgID, privateIs(msgID), &got)
	want := message.PrivateMes{MsgID: msgID, FromUserID: from, FromUserName: userName(from), ToUserID: to,
		Content: content, SentAt: got.SentAt, Offline: offline}
	if got != want || got.SentAt == 0 {
		t.Errorf("got %+v, want %+v (sentAt set)", got, want)
	}
	c.send(message.AckMesType, message.AckMes{MsgIDs: []string{msgID}})
}

// TestClusterThreeNodes runs every user-visible feature across three nodes on one
// Redis, each user on another node than the one it talks to.
func TestClusterThreeNodes(t *testing.T) {
	r := newStorage(t)
	n1 := startNode(t, r, "n1", nil)
	n2 := startNode(t, r, "n2", nil)
	n3 := startNode(t, r, "n3", nil)
	const (
		a    = 11 // n1
		b    = 12 // n2
		c    = 13 // n3
		d    = 14 // n3, logs in later
		e    = 15 // n2, group receiver
		off  = 16 // offline, logs in on n1 later
		dual = 17 // logs in on n1, then on n2
	)
	registerAll(t, n1.Addr, a, b, c, d, e, off, dual)
	ua := login(t, n1.Addr, a, message.ProtoAck)
	ub := login(t, n2.Addr, b, message.ProtoAck)
	uc := login(t, n3.Addr, c, message.ProtoAck)
	all := []*client{ua, ub, uc}
	top := t

	t.Run("OnlineListAgrees", func(t *testing.T) {
		bind(t, all...)
		for _, tc := range []struct {
			node string
			c    *client
		}{{"n1", ua}, {"n2", ub}, {"n3", uc}} {
			t.Logf("asking on %s", tc.node)
			waitOnline(t, tc.c, waitTimeout, []int{a, b, c})
		}
	})

	var ud *client
	t.Run("LoginPresenceCrossesNodes", func(t *testing.T) {
		bind(t, all...)
		ud = loginOwned(top, t, n3.Addr, d, message.ProtoAck)
		all = append(all, ud)
		waitStatus(t, ua, waitTimeout, d, message.UserOnline) // n3 -> n1
		waitStatus(t, ub, waitTimeout, d, message.UserOnline) // n3 -> n2
		waitStatus(t, uc, waitTimeout, d, message.UserOnline) // n3 -> n3
		waitOnline(t, ua, waitTimeout, []int{a, b, c, d})
	})

	t.Run("LogoutPresenceCrossesNodes", func(t *testing.T) {
		bind(t, all...)
		ub.logout()
		for _, tc := range []struct {
			node string
			c    *client
		}{{"n1", ua}, {"n3", uc}, {"n3", ud}} {
			t.Logf("watching on %s", tc.node)
			waitStatus(t, tc.c, waitTimeout, b, message.UserOffline)
		}
		for _, w := range []*client{ua, uc} {
			waitOnline(t, w, waitTimeout, []int{a, c, d})
		}
	})

	var ue *client
	t.Run("GroupMessageOncePerReceiverNotSender", func(t *testing.T) {
		ue = loginOwned(top, t, n2.Addr, e, message.ProtoAck)
		all = append(all, ue)
		bind(t, all...)
		waitOnline(t, ua, waitTimeout, []int{a, c, d, e})
		first := ua.group("hello from n1")
		if first.Code != message.CodeOK || first.MsgID == "" {
			t.Fatalf("group message: got %+v, want code 200 and a msgId", first)
		}
		// A second message from the same sender travels the same way after the first:
		// once every receiver has it, every copy of the first has arrived too.
		second := ua.group("second from n1")
		if second.Code != message.CodeOK {
			t.Fatalf("group message: got %+v, want code 200", second)
		}
		receivers := []struct {
			name string
			id   int
			c    *client
		}{{"e on n2", e, ue}, {"c on n3", c, uc}, {"d on n3", d, ud}}
		for _, rc := range receivers {
			var got message.SmsMes
			rc.c.nextMatch(waitTimeout, message.SmsMesType, rc.name+" gets "+second.MsgID, smsIs(second.MsgID), &got)
			if n := rc.c.countMatch(message.SmsMesType, smsIs(first.MsgID)); n != 1 {
				t.Errorf("%s: got %d copies of %s, want 1", rc.name, n, first.MsgID)
			}
			var m message.SmsMes
			rc.c.nextMatch(time.Second, message.SmsMesType, "the first message", smsIs(first.MsgID), &m)
			want := message.SmsMes{Content: "hello from n1", UserID: a, UserName: userName(a), MsgID: first.MsgID, SentAt: m.SentAt}
			if m != want || m.SentAt == 0 {
				t.Errorf("%s: got %+v, want %+v", rc.name, m, want)
			}
		}
		// A message from n3 reaches the sender after every bus copy of its own.
		third := uc.group("from n3")
		if third.Code != message.CodeOK {
			t.Fatalf("group message from n3: got %+v, want code 200", third)
		}
		ua.nextMatch(waitTimeout, message.SmsMesType, "a gets "+third.MsgID, smsIs(third.MsgID), nil)
		for _, id := range []string{first.MsgID, second.MsgID} {
			if n := ua.countMatch(message.SmsMesType, smsIs(id)); n != 0 {
				t.Errorf("sender a: got %d copies of its own %s, want 0", n, id)
			}
		}
		if n := uc.countMatch(message.SmsMesType, smsIs(third.MsgID)); n != 0 {
			t.Errorf("sender c: got %d copies of its own %s, want 0", n, third.MsgID)
		}
	})

	t.Run("PrivateMessagesAcrossNodes", func(t *testing.T) {
		bind(t, all...)
		byID := map[int]*client{a: ua, c: uc, d: ud, e: ue}
		for _, tc := range []struct {
			name     string
			from, to int
		}{
			{"n1 to n3", a, c},
			{"n3 to n1", c, a},
			{"n3 to n2", d, e},
			{"n2 to n3", e, d},
			{"n3 to n3", c, d},
		} {
			content := fmt.Sprintf("%s: %d to %d", tc.name, tc.from, tc.to)
			res := byID[tc.from].private(tc.to, content, "")
			if res.Code != message.CodeOK || res.Stored || res.MsgID == "" {
				t.Errorf("%s: got %+v, want code 200, stored false, a msgId", tc.name, res)
				continue
			}
			waitPrivate(t, byID[tc.to], waitTimeout, res.MsgID, tc.from, tc.to, content, false)
		}
	})

	t.Run("OfflineMessageDeliveredAtLoginElsewhere", func(t *testing.T) {
		bind(t, all...)
		var sent []message.PrivateResMes
		for i := range 3 {
			res := uc.private(off, fmt.Sprintf("kept %d", i), "")
			if res.Code != message.CodeOK || !res.Stored {
				t.Fatalf("message %d to offline %d via n3: got %+v, want code 200, stored true", i, off, res)
			}
			sent = append(sent, res)
		}
		uo := loginOwned(top, t, n1.Addr, off, message.ProtoAck)
		all = append(all, uo)
		// Oldest first, all offline: take them in arrival order.
		for i, res := range sent {
			var got message.PrivateMes
			uo.next(message.PrivateMesType, &got)
			want := message.PrivateMes{MsgID: res.MsgID, FromUserID: c, FromUserName: userName(c), ToUserID: off,
				Content: fmt.Sprintf("kept %d", i), SentAt: got.SentAt, Offline: true}
			if got != want {
				t.Errorf("offline message %d: got %+v, want %+v", i, got, want)
			}
		}
	})

	t.Run("SecondLoginOnAnotherNodeReplacesFirst", func(t *testing.T) {
		bind(t, all...)
		first := loginOwned(top, t, n1.Addr, dual, message.ProtoAck)
		all = append(all, first)
		waitOnline(t, uc, waitTimeout, []int{a, c, d, e, off, dual})
		second := loginOwned(top, t, n2.Addr, dual, message.ProtoAck)
		all = append(all, second)
		var er message.ErrorResMes
		first.nextMatch(waitTimeout, message.ErrorResMesType, "ErrorResMes 409 on the first session",
			nil, &er)
		if er.Code != message.CodeReplaced {
			t.Errorf("first session: got ErrorResMes %+v, want code 409", er)
		}
		first.waitClosed()
		// The second session works: it sends and receives across nodes.
		res := second.private(c, "from the second session", "")
		if res.Code != message.CodeOK || res.Stored {
			t.Fatalf("private from the second session: got %+v, want code 200, stored false", res)
		}
		waitPrivate(t, uc, waitTimeout, res.MsgID, dual, c, "from the second session", false)
		res = uc.private(dual, "to the second session", "")
		if res.Code != message.CodeOK || res.Stored {
			t.Fatalf("private to the second session: got %+v, want code 200, stored false", res)
		}
		waitPrivate(t, second, waitTimeout, res.MsgID, c, dual, "to the second session", false)
		// The user is still online, seen from every node, once the old session is gone.
		for _, w := range []*client{ua, second, uc} {
			res := w.onlineUsers(0, 500)
			if !slices.Contains(userIDs(res), dual) {
				t.Errorf("after the replacement: got online %v, want %d listed", userIDs(res), dual)
			}
		}
		if !second.isOpen() {
			t.Errorf("second session: got closed (%s), want open", second.describe())
		}
		if n := first.countMatch(message.PrivateMesType, privateIs(res.MsgID)); n != 0 {
			t.Errorf("replaced session: got the message meant for the new one")
		}
	})
}

// TestClusterNodeKilled kills a node (its own process) with SIGKILL: the others
// take its users offline within seconds and keep their messages for them.
func TestClusterNodeKilled(t *testing.T) {
	r := needRedis(t)
	n1 := startNode(t, r, "n1", nil)
	n2 := startNode(t, r, "n2", nil)
	p3 := startProcess(t, r, "-node", "n3")
	const a, b, k1, k2 = 21, 22, 23, 24
	registerAll(t, n1.Addr, a, b, k1, k2)
	ua := login(t, n1.Addr, a, message.ProtoAck)
	ub := login(t, n2.Addr, b, message.ProtoAck)
	login(t, p3.Addr, k1, message.ProtoAck)
	login(t, p3.Addr, k2, message.ProtoAck)
	waitOnline(t, ua, waitTimeout, []int{a, b, k1, k2})
	waitOnline(t, ub, waitTimeout, []int{a, b, k1, k2})
	// Presence of the logins is not what this test is about.
	for _, c := range []*client{ua, ub} {
		for c.countMatch(message.NotifyUserStatusMesType, nil) > 0 {
			c.take(message.NotifyUserStatusMesType)
		}
	}

	killed := time.Now()
	p3.Kill()

	for _, tc := range []struct {
		node string
		c    *client
	}{{"n1", ua}, {"n2", ub}} {
		t.Logf("watching on %s", tc.node)
		waitOnline(t, tc.c, reapTimeout, []int{a, b})
		waitStatus(t, tc.c, reapTimeout-time.Since(killed), k1, message.UserOffline)
		waitStatus(t, tc.c, reapTimeout-time.Since(killed), k2, message.UserOffline)
	}
	t.Logf("dead node's users offline everywhere %v after SIGKILL", time.Since(killed).Round(time.Millisecond))

	res := ua.private(k1, "while you were away", "")
	if res.Code != message.CodeOK || !res.Stored {
		t.Fatalf("private to a user of the dead node: got %+v, want code 200, stored true", res)
	}
	uk1 := login(t, n2.Addr, k1, message.ProtoAck)
	waitPrivate(t, uk1, waitTimeout, res.MsgID, a, k1, "while you were away", true)
	waitStatus(t, ua, waitTimeout, k1, message.UserOnline)
	waitOnline(t, ua, waitTimeout, []int{a, b, k1})
}

// TestClusterNodeRestartSameID restarts a killed node under the same -node id:
// the sessions of its previous run are not online again until their users log in.
func TestClusterNodeRestartSameID(t *testing.T) {
	for _, tc := range []struct {
		name     string
		observer bool // another node runs, and may reap the dead node itself
	}{
		{"Alone", false},
		{"WithAnotherNode", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := needRedis(t)
			const k1, k2, x, w = 31, 32, 33, 34
			p := startProcess(t, r, "-node", "n3")
			registerAll(t, p.Addr, k1, k2, x, w)
			var uw *client
			if tc.observer {
				n1 := startNode(t, r, "n1", nil)
				uw = login(t, n1.Addr, w, message.ProtoAck)
			}
			uk1 := login(t, p.Addr, k1, message.ProtoAck)
			login(t, p.Addr, k2, message.ProtoAck)
			before := []int{k1, k2}
			if tc.observer {
				before = []int{k1, k2, w}
			}
			waitOnline(t, uk1, waitTimeout, before)
			p.Kill()

			// Same id, same address: as a supervisor would restart it.
			p2 := startProcessAt(t, r, p.Addr, "-node", "n3")
			ux := login(t, p2.Addr, x, message.ProtoAck)
			want := []int{x}
			if tc.observer {
				want = []int{x, w}
			}
			// From the first answer on, and still after several heartbeats.
			for i := range 3 {
				res := ux.onlineUsers(0, 500)
				if res.Code != message.CodeOK || !slices.Equal(userIDs(res), want) || res.Total != len(want) {
					t.Fatalf("online list #%d after the restart: got %+v, want total %d, users %v", i, res, len(want), want)
				}
				if i < 2 {
					ux.ping()
					// Let heartbeats and reaps run: the check is that nothing comes back
					// over this span, so the sleep is the thing tested, not a wait.
					time.Sleep(750 * time.Millisecond)
				}
			}
			if uw != nil {
				waitOnline(t, uw, waitTimeout, want)
			}
			login(t, p2.Addr, k1, message.ProtoAck)
			waitOnline(t, ux, waitTimeout, slices.Sorted(slices.Values(append(want, k1))))
			if uw != nil {
				waitStatus(t, uw, waitTimeout, k1, message.UserOnline)
			}
		})
	}
}

// TestClusterRedisRestart restarts Redis under two running nodes: requests that
// need Redis fail with 505 while it is away, sessions stay open, and full service
// comes back without restarting any node.
func TestClusterRedisRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		outage time.Duration // how long Redis stays stopped (0: r.Restart at once)
	}{
		{"QuickRestart", 0},
		{"OutageLongerThanHeartbeatTTL", 2500 * time.Millisecond}, // TTL is 3 x 500 ms
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := needRedis(t)
			n1 := startNode(t, r, "n1", nil)
			n2 := startNode(t, r, "n2", nil)
			const a, b, late = 41, 42, 43
			registerAll(t, n1.Addr, a, b, late)
			ua := login(t, n1.Addr, a, message.ProtoAck)
			ub := login(t, n2.Addr, b, message.ProtoAck)
			waitOnline(t, ua, waitTimeout, []int{a, b})

			if tc.outage > 0 {
				r.Stop(t)
				stopped := time.Now()
				// For the whole outage: Redis requests get 505, sessions stay open.
				for i := 0; time.Since(stopped) < tc.outage; i++ {
					if res := ua.onlineUsers(0, 500); res.Code != message.CodeServerError {
						t.Fatalf("OnlineUsersMes #%d with Redis stopped: got %+v, want code 505", i, res)
					}
					if res := ua.private(b, "during the outage", ""); res.Code != message.CodeServerError {
						t.Fatalf("PrivateMes #%d with Redis stopped: got %+v, want code 505", i, res)
					}
					if res := ub.private(a, "during the outage", ""); res.Code != message.CodeServerError {
						t.Fatalf("PrivateMes #%d from n2 with Redis stopped: got %+v, want code 505", i, res)
					}
					for _, c := range []*client{ua, ub} {
						c.send(message.PingMesType, message.PingMes{})
						c.next(message.PongMesType, nil)
						if !c.isOpen() {
							t.Fatalf("session closed during the outage: %s", c.describe())
						}
					}
					// Paces the probes over the outage: the outage lasts as long as the
					// test case says, whatever the number of probes.
					time.Sleep(100 * time.Millisecond)
				}
			}
			restarted := time.Now()
			r.Restart(t)

			// Group messages cross nodes both ways: both subscriptions are back.
			for _, dir := range []struct {
				name     string
				from, to *client
			}{{"n1 to n2", ua, ub}, {"n2 to n1", ub, ua}} {
				i := 0
				var last string
				defer func() {
					if t.Failed() {
						t.Logf("%s: last try: %s", dir.name, last)
					}
				}()
				checkFor(t, recoverTimeout, "a group message "+dir.name+" delivered", func() bool {
					i++
					res := dir.from.group(fmt.Sprintf("after restart %s #%d", dir.name, i))
					if res.Code != message.CodeOK {
						last = fmt.Sprintf("SmsResMes %+v", res)
						return false
					}
					last = "SmsMes " + res.MsgID + " not received within 1 s"
					return poll(time.Second, func() bool {
						_, ok := dir.to.takeMatch(message.SmsMesType, smsIs(res.MsgID))
						return ok
					})
				})
			}
			// Both users are online again, seen from both nodes.
			waitOnline(t, ua, recoverTimeout, []int{a, b})
			waitOnline(t, ub, recoverTimeout, []int{a, b})
			t.Logf("group messages and online list back %v after the restart", time.Since(restarted).Round(time.Millisecond))

			// A login works.
			ul := login(t, n2.Addr, late, message.ProtoAck)
			waitStatus(t, ua, waitTimeout, late, message.UserOnline)

			// Private messages to online recipients on the other node are delivered
			// at once (a wake crosses the bus), both ways.
			for _, tc := range []struct {
				name   string
				from   *client
				fromID int
				to     *client
				toID   int
			}{
				{"n1 to n2", ua, a, ub, b},
				{"n2 to n1", ub, b, ua, a},
				{"n1 to new login on n2", ua, a, ul, late},
			} {
				content := "after the restart, " + tc.name
				res := tc.from.private(tc.toID, content, "")
				if res.Code != message.CodeOK || res.Stored {
					t.Fatalf("%s: got %+v, want code 200, stored false", tc.name, res)
				}
				waitPrivate(t, tc.to, waitTimeout, res.MsgID, tc.fromID, tc.toID, content, false)
			}
			// A client that follows presence from the notices (the classic client
			// does) must end up seeing the other user online: neither a nor b went
			// away, so any offline notice must have been taken back.
			for _, tc := range []struct {
				name    string
				watcher *client
				user    int
			}{{"a on n1 watching b", ua, b}, {"b on n2 watching a", ub, a}} {
				var seen []int
				for {
					f, ok := tc.watcher.takeMatch(message.NotifyUserStatusMesType, statusOf(tc.user))
					if !ok {
						break
					}
					seen = append(seen, decode[message.NotifyUserStatusMes](t, f).Status)
				}
				if len(seen) > 0 && seen[len(seen)-1] != message.UserOnline {
					t.Errorf("%s: got presence statuses %v (last says offline), want none or last online (0): the user never left", tc.name, seen)
				}
			}
			for _, c := range []*client{ua, ub} {
				if !c.isOpen() {
					t.Errorf("session closed across the Redis restart: %s", c.describe())
				}
				if n := c.countMatch(message.ErrorResMesType, nil); n != 0 {
					t.Errorf("got %d ErrorResMes (%s), want none", n, c.describe())
				}
			}
		})
	}
}

// TestClusterNodeRestartWhileRedisDown restarts a killed node under the same id
// while Redis is away: once Redis is back, its stale sessions go, and a user who
// logs in on it then stays online (clearing the old run must not take the new
// sessions with it).
func TestClusterNodeRestartWhileRedisDown(t *testing.T) {
	r := needRedis(t)
	const k1, x = 51, 52
	p := startProcess(t, r, "-node", "n3")
	registerAll(t, p.Addr, k1, x)
	uk1 := login(t, p.Addr, k1, message.ProtoAck)
	waitOnline(t, uk1, waitTimeout, []int{k1})
	p.Kill()
	r.Stop(t)
	p2 := startProcessAt(t, r, p.Addr, "-node", "n3")
	r.Restart(t)

	ux := dial(t, p2.Addr)
	var last message.LoginResMes
	defer func() {
		if t.Failed() {
			t.Logf("last login answer: %+v", last)
		}
	}()
	checkFor(t, recoverTimeout, "login of x answered 200", func() bool {
		last = ux.login(x, password, message.ProtoAck)
		return last.Code == message.CodeOK
	})
	// Several heartbeats later, x (connected) is online and k1 (from the dead run) is not.
	// Sleeping is the check: nothing may change over three heartbeats.
	time.Sleep(1500 * time.Millisecond)
	for i := range 2 {
		res := ux.onlineUsers(0, 500)
		if res.Code != message.CodeOK || !slices.Equal(userIDs(res), []int{x}) || res.Total != 1 {
			t.Fatalf("online list #%d: got %+v, want total 1, users [%d]", i, res, x)
		}
		if i == 0 {
			time.Sleep(750 * time.Millisecond) // and nothing over one more heartbeat
		}
	}
	if !ux.isOpen() {
		t.Fatalf("x's session: got closed (%s), want open", ux.describe())
	}
	// And messages to x are delivered, not left in its inbox.
	uk1 = login(t, p2.Addr, k1, message.ProtoAck)
	res := uk1.private(x, "are you there", "")
	if res.Code != message.CodeOK || res.Stored {
		t.Fatalf("private to connected x: got %+v, want code 200, stored false", res)
	}
	waitPrivate(t, ux, waitTimeout, res.MsgID, k1, x, "are you there", false)
}
