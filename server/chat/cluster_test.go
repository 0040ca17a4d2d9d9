package chat_test

// Cluster tests, written from shared/PROTOCOL.md ("Many nodes", "Presence",
// "Identity", "Private messages are at-least-once") alone: several nodes on one
// Redis, a node killed with SIGKILL, a node restarted under the same id, and a
// Redis restart under running nodes.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/redistest"
)

// clReapTimeout bounds how long the surviving nodes may take to notice a dead node
// (heartbeat 500 ms in tests, so three missed beats are 1.5 s).
const clReapTimeout = 10 * time.Second

// clRecoverTimeout bounds how long after Redis is back a node must serve fully.
const clRecoverTimeout = 15 * time.Second

// clBind makes every client report to t: clients outlive the subtest that made them.
func clBind(t *testing.T, cs ...*client) {
	for _, c := range cs {
		c.t = t
	}
}

// clEventually polls cond until it holds or timeout passes, then fails with the
// last value cond saw and what was wanted.
func clEventually(t testing.TB, timeout time.Duration, want string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: got %s, want %s", timeout, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clRegister registers each id on addr (name "u<id>", password "password").
func clRegister(t testing.TB, addr string, ids ...int) {
	t.Helper()
	c := dial(t, addr)
	for _, id := range ids {
		if res := c.register(id, "password", clName(id)); res.Code != message.CodeOK {
			t.Fatalf("register %d: got %+v, want code 200", id, res)
		}
	}
	c.conn.Close()
}

func clName(id int) string { return fmt.Sprintf("u%d", id) }

// clLogin logs id in on a new connection to addr (proto 2) and fails unless 200.
func clLogin(t testing.TB, addr string, id int) *client {
	t.Helper()
	return clLoginOwned(t, t, addr, id)
}

// clLoginOwned is clLogin for a connection that outlives the subtest t: owner
// closes it at its cleanup.
func clLoginOwned(owner, t testing.TB, addr string, id int) *client {
	t.Helper()
	c := dialOwned(owner, t, addr)
	if res := c.login(id, "password", message.ProtoAck); res.Code != message.CodeOK {
		t.Fatalf("login %d on %s: got %+v, want code 200", id, addr, res)
	}
	return c
}

// clOnline asks c for the first page of the online list.
func clOnline(c *client) message.OnlineUsersResMes {
	c.t.Helper()
	c.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: 500})
	var res message.OnlineUsersResMes
	c.next(message.OnlineUsersResMesType, &res)
	return res
}

func clIDs(res message.OnlineUsersResMes) []int {
	ids := make([]int, 0, len(res.Users))
	for _, u := range res.Users {
		ids = append(ids, u.UserID)
	}
	return ids
}

// clWaitOnline waits until c's online list is exactly want (in id order, total
// matching) and every listed user has its registered name.
func clWaitOnline(t testing.TB, c *client, timeout time.Duration, want []int) {
	t.Helper()
	clEventually(t, timeout, fmt.Sprintf("code 200, total %d, users %v", len(want), want), func() (bool, string) {
		res := clOnline(c)
		names := true
		for _, u := range res.Users {
			names = names && u.UserName == clName(u.UserID)
		}
		ok := res.Code == message.CodeOK && res.Total == len(want) && slices.Equal(clIDs(res), want) && names
		return ok, fmt.Sprintf("%+v", res)
	})
}

// clTake removes and returns the first frame of type typ whose data satisfies match.
func clTake(c *client, typ string, match func(data string) bool) (received, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.frames {
		if f.Type == typ && match(f.Data) {
			c.frames = append(c.frames[:i], c.frames[i+1:]...)
			return f, true
		}
	}
	return received{}, false
}

// clCount counts the frames of type typ whose data satisfies match, leaving them.
func clCount(c *client, typ string, match func(data string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f.Type == typ && match(f.Data) {
			n++
		}
	}
	return n
}

// clWaitFor waits up to timeout for a frame of type typ that match accepts and
// decodes it into v.
func clWaitFor(t testing.TB, c *client, timeout time.Duration, typ, what string, match func(string) bool, v any) {
	t.Helper()
	var f received
	clEventually(t, timeout, what, func() (bool, string) {
		var ok bool
		f, ok = clTake(c, typ, match)
		return ok, fmt.Sprintf("no such %s; frames waiting: %s", typ, clFrames(c))
	})
	if v != nil {
		if err := json.Unmarshal([]byte(f.Data), v); err != nil {
			t.Fatalf("%s data %q: %v", typ, f.Data, err)
		}
	}
}

// clFrames describes what c holds, for failure messages.
func clFrames(c *client) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, f := range c.frames {
		fmt.Fprintf(&b, "%s%s ", f.Type, f.Data)
	}
	if c.err != nil {
		fmt.Fprintf(&b, "(closed: %v)", c.err)
	}
	return b.String()
}

func clStatusIs(user, status int) func(string) bool {
	return func(data string) bool {
		var m message.NotifyUserStatusMes
		return json.Unmarshal([]byte(data), &m) == nil && m.UserID == user && m.Status == status
	}
}

// clWaitStatus waits for NotifyUserStatusMes{user, status} on c.
func clWaitStatus(t testing.TB, c *client, timeout time.Duration, user, status int) {
	t.Helper()
	var m message.NotifyUserStatusMes
	clWaitFor(t, c, timeout, message.NotifyUserStatusMesType,
		fmt.Sprintf("NotifyUserStatusMes{userId %d, status %d}", user, status), clStatusIs(user, status), &m)
	if m.UserName != clName(user) {
		t.Errorf("NotifyUserStatusMes for %d: got userName %q, want %q", user, m.UserName, clName(user))
	}
}

func clStatusOf(user int) func(string) bool {
	return func(data string) bool {
		var m message.NotifyUserStatusMes
		return json.Unmarshal([]byte(data), &m) == nil && m.UserID == user
	}
}

func clSmsIs(msgID string) func(string) bool {
	return func(data string) bool {
		var m message.SmsMes
		return json.Unmarshal([]byte(data), &m) == nil && m.MsgID == msgID
	}
}

func clPrivateIs(msgID string) func(string) bool {
	return func(data string) bool {
		var m message.PrivateMes
		return json.Unmarshal([]byte(data), &m) == nil && m.MsgID == msgID
	}
}

// clPrivate sends a private message and returns the answer.
func clPrivate(c *client, to int, content string) message.PrivateResMes {
	c.t.Helper()
	c.send(message.PrivateMesType, message.PrivateMes{ToUserID: to, Content: content})
	var res message.PrivateResMes
	c.next(message.PrivateResMesType, &res)
	return res
}

// clGroup sends a group message from a proto-2 client and returns the answer.
func clGroup(c *client, content string) message.SmsResMes {
	c.t.Helper()
	c.send(message.SmsMesType, message.SmsMes{Content: content})
	var res message.SmsResMes
	c.next(message.SmsResMesType, &res)
	return res
}

// clWaitPrivate waits for the PrivateMes msgID on c and checks what it carries.
func clWaitPrivate(t testing.TB, c *client, timeout time.Duration, msgID string, from, to int, content string, offline bool) {
	t.Helper()
	var got message.PrivateMes
	clWaitFor(t, c, timeout, message.PrivateMesType, "PrivateMes "+msgID, clPrivateIs(msgID), &got)
	want := message.PrivateMes{MsgID: msgID, FromUserID: from, FromUserName: clName(from), ToUserID: to,
		Content: content, SentAt: got.SentAt, Offline: offline}
	if got != want || got.SentAt == 0 {
		t.Errorf("got %+v, want %+v (sentAt set)", got, want)
	}
	c.send(message.AckMesType, message.AckMes{MsgIDs: []string{msgID}})
}

// TestClusterThreeNodes runs every user-visible feature across three nodes on one
// Redis, each user on another node than the one it talks to.
func TestClusterThreeNodes(t *testing.T) {
	r := redistest.Start(t)
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
	clRegister(t, n1.Addr, a, b, c, d, e, off, dual)
	ua := clLogin(t, n1.Addr, a)
	ub := clLogin(t, n2.Addr, b)
	uc := clLogin(t, n3.Addr, c)
	all := []*client{ua, ub, uc}
	top := t

	t.Run("OnlineListAgrees", func(t *testing.T) {
		clBind(t, all...)
		for _, tc := range []struct {
			node string
			c    *client
		}{{"n1", ua}, {"n2", ub}, {"n3", uc}} {
			t.Logf("asking on %s", tc.node)
			clWaitOnline(t, tc.c, waitTimeout, []int{a, b, c})
		}
	})

	var ud *client
	t.Run("LoginPresenceCrossesNodes", func(t *testing.T) {
		clBind(t, all...)
		ud = clLoginOwned(top, t, n3.Addr, d)
		all = append(all, ud)
		clWaitStatus(t, ua, waitTimeout, d, message.UserOnline) // n3 -> n1
		clWaitStatus(t, ub, waitTimeout, d, message.UserOnline) // n3 -> n2
		clWaitStatus(t, uc, waitTimeout, d, message.UserOnline) // n3 -> n3
		clWaitOnline(t, ua, waitTimeout, []int{a, b, c, d})
	})

	t.Run("LogoutPresenceCrossesNodes", func(t *testing.T) {
		clBind(t, all...)
		ub.send(message.LogoutMesType, message.LogoutMes{})
		ub.waitClosed()
		for _, tc := range []struct {
			node string
			c    *client
		}{{"n1", ua}, {"n3", uc}, {"n3", ud}} {
			t.Logf("watching on %s", tc.node)
			clWaitStatus(t, tc.c, waitTimeout, b, message.UserOffline)
		}
		for _, w := range []*client{ua, uc} {
			clWaitOnline(t, w, waitTimeout, []int{a, c, d})
		}
	})

	var ue *client
	t.Run("GroupMessageOncePerReceiverNotSender", func(t *testing.T) {
		ue = clLoginOwned(top, t, n2.Addr, e)
		all = append(all, ue)
		clBind(t, all...)
		clWaitOnline(t, ua, waitTimeout, []int{a, c, d, e})
		first := clGroup(ua, "hello from n1")
		if first.Code != message.CodeOK || first.MsgID == "" {
			t.Fatalf("group message: got %+v, want code 200 and a msgId", first)
		}
		// A second message from the same sender travels the same way after the first:
		// once every receiver has it, every copy of the first has arrived too.
		second := clGroup(ua, "second from n1")
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
			clWaitFor(t, rc.c, waitTimeout, message.SmsMesType, rc.name+" gets "+second.MsgID, clSmsIs(second.MsgID), &got)
			if n := clCount(rc.c, message.SmsMesType, clSmsIs(first.MsgID)); n != 1 {
				t.Errorf("%s: got %d copies of %s, want 1", rc.name, n, first.MsgID)
			}
			var m message.SmsMes
			clWaitFor(t, rc.c, time.Second, message.SmsMesType, "the first message", clSmsIs(first.MsgID), &m)
			want := message.SmsMes{Content: "hello from n1", UserID: a, UserName: clName(a), MsgID: first.MsgID, SentAt: m.SentAt}
			if m != want || m.SentAt == 0 {
				t.Errorf("%s: got %+v, want %+v", rc.name, m, want)
			}
		}
		// A message from n3 reaches the sender after every bus copy of its own.
		third := clGroup(uc, "from n3")
		if third.Code != message.CodeOK {
			t.Fatalf("group message from n3: got %+v, want code 200", third)
		}
		clWaitFor(t, ua, waitTimeout, message.SmsMesType, "a gets "+third.MsgID, clSmsIs(third.MsgID), nil)
		for _, id := range []string{first.MsgID, second.MsgID} {
			if n := clCount(ua, message.SmsMesType, clSmsIs(id)); n != 0 {
				t.Errorf("sender a: got %d copies of its own %s, want 0", n, id)
			}
		}
		if n := clCount(uc, message.SmsMesType, clSmsIs(third.MsgID)); n != 0 {
			t.Errorf("sender c: got %d copies of its own %s, want 0", n, third.MsgID)
		}
	})

	t.Run("PrivateMessagesAcrossNodes", func(t *testing.T) {
		clBind(t, all...)
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
			res := clPrivate(byID[tc.from], tc.to, content)
			if res.Code != message.CodeOK || res.Stored || res.MsgID == "" {
				t.Errorf("%s: got %+v, want code 200, stored false, a msgId", tc.name, res)
				continue
			}
			clWaitPrivate(t, byID[tc.to], waitTimeout, res.MsgID, tc.from, tc.to, content, false)
		}
	})

	t.Run("OfflineMessageDeliveredAtLoginElsewhere", func(t *testing.T) {
		clBind(t, all...)
		var sent []message.PrivateResMes
		for i := range 3 {
			res := clPrivate(uc, off, fmt.Sprintf("kept %d", i))
			if res.Code != message.CodeOK || !res.Stored {
				t.Fatalf("message %d to offline %d via n3: got %+v, want code 200, stored true", i, off, res)
			}
			sent = append(sent, res)
		}
		uo := clLoginOwned(top, t, n1.Addr, off)
		all = append(all, uo)
		// Oldest first, all offline: take them in arrival order.
		for i, res := range sent {
			var got message.PrivateMes
			uo.next(message.PrivateMesType, &got)
			want := message.PrivateMes{MsgID: res.MsgID, FromUserID: c, FromUserName: clName(c), ToUserID: off,
				Content: fmt.Sprintf("kept %d", i), SentAt: got.SentAt, Offline: true}
			if got != want {
				t.Errorf("offline message %d: got %+v, want %+v", i, got, want)
			}
		}
	})

	t.Run("SecondLoginOnAnotherNodeReplacesFirst", func(t *testing.T) {
		clBind(t, all...)
		first := clLoginOwned(top, t, n1.Addr, dual)
		all = append(all, first)
		clWaitOnline(t, uc, waitTimeout, []int{a, c, d, e, off, dual})
		second := clLoginOwned(top, t, n2.Addr, dual)
		all = append(all, second)
		var er message.ErrorResMes
		clWaitFor(t, first, waitTimeout, message.ErrorResMesType, "ErrorResMes 409 on the first session",
			func(string) bool { return true }, &er)
		if er.Code != message.CodeReplaced {
			t.Errorf("first session: got ErrorResMes %+v, want code 409", er)
		}
		first.waitClosed()
		// The second session works: it sends and receives across nodes.
		res := clPrivate(second, c, "from the second session")
		if res.Code != message.CodeOK || res.Stored {
			t.Fatalf("private from the second session: got %+v, want code 200, stored false", res)
		}
		clWaitPrivate(t, uc, waitTimeout, res.MsgID, dual, c, "from the second session", false)
		res = clPrivate(uc, dual, "to the second session")
		if res.Code != message.CodeOK || res.Stored {
			t.Fatalf("private to the second session: got %+v, want code 200, stored false", res)
		}
		clWaitPrivate(t, second, waitTimeout, res.MsgID, c, dual, "to the second session", false)
		// The user is still online, seen from every node, once the old session is gone.
		for _, w := range []*client{ua, second, uc} {
			res := clOnline(w)
			if !slices.Contains(clIDs(res), dual) {
				t.Errorf("after the replacement: got online %v, want %d listed", clIDs(res), dual)
			}
		}
		if !second.isOpen() {
			t.Errorf("second session: got closed (%s), want open", clFrames(second))
		}
		if n := clCount(first, message.PrivateMesType, clPrivateIs(res.MsgID)); n != 0 {
			t.Errorf("replaced session: got the message meant for the new one")
		}
	})
}

// TestClusterNodeKilled kills a node (its own process) with SIGKILL: the others
// take its users offline within seconds and keep their messages for them.
func TestClusterNodeKilled(t *testing.T) {
	r := redistest.Start(t)
	n1 := startNode(t, r, "n1", nil)
	n2 := startNode(t, r, "n2", nil)
	p3 := startProcess(t, r, "-node", "n3")
	const a, b, k1, k2 = 21, 22, 23, 24
	clRegister(t, n1.Addr, a, b, k1, k2)
	ua := clLogin(t, n1.Addr, a)
	ub := clLogin(t, n2.Addr, b)
	clLogin(t, p3.Addr, k1)
	clLogin(t, p3.Addr, k2)
	clWaitOnline(t, ua, waitTimeout, []int{a, b, k1, k2})
	clWaitOnline(t, ub, waitTimeout, []int{a, b, k1, k2})
	// Presence of the logins is not what this test is about.
	for _, c := range []*client{ua, ub} {
		for clCount(c, message.NotifyUserStatusMesType, func(string) bool { return true }) > 0 {
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
		clWaitOnline(t, tc.c, clReapTimeout, []int{a, b})
		clWaitStatus(t, tc.c, clReapTimeout-time.Since(killed), k1, message.UserOffline)
		clWaitStatus(t, tc.c, clReapTimeout-time.Since(killed), k2, message.UserOffline)
	}
	t.Logf("dead node's users offline everywhere %v after SIGKILL", time.Since(killed).Round(time.Millisecond))

	res := clPrivate(ua, k1, "while you were away")
	if res.Code != message.CodeOK || !res.Stored {
		t.Fatalf("private to a user of the dead node: got %+v, want code 200, stored true", res)
	}
	uk1 := clLogin(t, n2.Addr, k1)
	clWaitPrivate(t, uk1, waitTimeout, res.MsgID, a, k1, "while you were away", true)
	clWaitStatus(t, ua, waitTimeout, k1, message.UserOnline)
	clWaitOnline(t, ua, waitTimeout, []int{a, b, k1})
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
			r := redistest.Start(t)
			const k1, k2, x, w = 31, 32, 33, 34
			p := startProcess(t, r, "-node", "n3")
			clRegister(t, p.Addr, k1, k2, x, w)
			var uw *client
			if tc.observer {
				n1 := startNode(t, r, "n1", nil)
				uw = clLogin(t, n1.Addr, w)
			}
			uk1 := clLogin(t, p.Addr, k1)
			clLogin(t, p.Addr, k2)
			before := []int{k1, k2}
			if tc.observer {
				before = []int{k1, k2, w}
			}
			clWaitOnline(t, uk1, waitTimeout, before)
			p.Kill()

			// Same id, same address: as a supervisor would restart it.
			p2 := startProcessAt(t, r, p.Addr, "-node", "n3")
			ux := clLogin(t, p2.Addr, x)
			want := []int{x}
			if tc.observer {
				want = []int{x, w}
			}
			// From the first answer on, and still after several heartbeats.
			for i := range 3 {
				res := clOnline(ux)
				if res.Code != message.CodeOK || !slices.Equal(clIDs(res), want) || res.Total != len(want) {
					t.Fatalf("online list #%d after the restart: got %+v, want total %d, users %v", i, res, len(want), want)
				}
				if i < 2 {
					// Let heartbeats and reaps run: what counts is that nothing comes back.
					ux.send(message.PingMesType, message.PingMes{})
					clWaitFor(t, ux, waitTimeout, message.PongMesType, "PongMes", func(string) bool { return true }, nil)
					clPause(750 * time.Millisecond)
				}
			}
			if uw != nil {
				clWaitOnline(t, uw, waitTimeout, want)
			}
			uk1 = clLogin(t, p2.Addr, k1)
			clWaitOnline(t, ux, waitTimeout, slices.Sorted(slices.Values(append(want, k1))))
			if uw != nil {
				clWaitStatus(t, uw, waitTimeout, k1, message.UserOnline)
			}
		})
	}
}

// clPause lets time pass in a check that something does NOT happen over a span
// (heartbeats every 500 ms); it never orders two events of the test.
func clPause(d time.Duration) { time.Sleep(d) }

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
			r := redistest.Start(t)
			n1 := startNode(t, r, "n1", nil)
			n2 := startNode(t, r, "n2", nil)
			const a, b, late = 41, 42, 43
			clRegister(t, n1.Addr, a, b, late)
			ua := clLogin(t, n1.Addr, a)
			ub := clLogin(t, n2.Addr, b)
			clWaitOnline(t, ua, waitTimeout, []int{a, b})

			if tc.outage > 0 {
				r.Stop(t)
				stopped := time.Now()
				// For the whole outage: Redis requests get 505, sessions stay open.
				for i := 0; time.Since(stopped) < tc.outage; i++ {
					if res := clOnline(ua); res.Code != message.CodeServerError {
						t.Fatalf("OnlineUsersMes #%d with Redis stopped: got %+v, want code 505", i, res)
					}
					if res := clPrivate(ua, b, "during the outage"); res.Code != message.CodeServerError {
						t.Fatalf("PrivateMes #%d with Redis stopped: got %+v, want code 505", i, res)
					}
					if res := clPrivate(ub, a, "during the outage"); res.Code != message.CodeServerError {
						t.Fatalf("PrivateMes #%d from n2 with Redis stopped: got %+v, want code 505", i, res)
					}
					for _, c := range []*client{ua, ub} {
						c.send(message.PingMesType, message.PingMes{})
						c.next(message.PongMesType, nil)
						if !c.isOpen() {
							t.Fatalf("session closed during the outage: %s", clFrames(c))
						}
					}
					clPause(100 * time.Millisecond)
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
				clEventually(t, clRecoverTimeout, "a group message "+dir.name+" delivered", func() (bool, string) {
					i++
					res := clGroup(dir.from, fmt.Sprintf("after restart %s #%d", dir.name, i))
					if res.Code != message.CodeOK {
						return false, fmt.Sprintf("SmsResMes %+v", res)
					}
					deadline := time.Now().Add(time.Second)
					for time.Now().Before(deadline) {
						if _, ok := clTake(dir.to, message.SmsMesType, clSmsIs(res.MsgID)); ok {
							return true, ""
						}
						time.Sleep(10 * time.Millisecond)
					}
					return false, "SmsMes " + res.MsgID + " not received within 1 s"
				})
			}
			// Both users are online again, seen from both nodes.
			clWaitOnline(t, ua, clRecoverTimeout, []int{a, b})
			clWaitOnline(t, ub, clRecoverTimeout, []int{a, b})
			t.Logf("group messages and online list back %v after the restart", time.Since(restarted).Round(time.Millisecond))

			// A login works.
			ul := clLogin(t, n2.Addr, late)
			clWaitStatus(t, ua, waitTimeout, late, message.UserOnline)

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
				res := clPrivate(tc.from, tc.toID, content)
				if res.Code != message.CodeOK || res.Stored {
					t.Fatalf("%s: got %+v, want code 200, stored false", tc.name, res)
				}
				clWaitPrivate(t, tc.to, waitTimeout, res.MsgID, tc.fromID, tc.toID, content, false)
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
					f, ok := clTake(tc.watcher, message.NotifyUserStatusMesType, clStatusOf(tc.user))
					if !ok {
						break
					}
					var m message.NotifyUserStatusMes
					json.Unmarshal([]byte(f.Data), &m)
					seen = append(seen, m.Status)
				}
				if len(seen) > 0 && seen[len(seen)-1] != message.UserOnline {
					t.Errorf("%s: got presence statuses %v (last says offline), want none or last online (0): the user never left", tc.name, seen)
				}
			}
			for _, c := range []*client{ua, ub} {
				if !c.isOpen() {
					t.Errorf("session closed across the Redis restart: %s", clFrames(c))
				}
				if n := clCount(c, message.ErrorResMesType, func(string) bool { return true }); n != 0 {
					t.Errorf("got %d ErrorResMes (%s), want none", n, clFrames(c))
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
	r := redistest.Start(t)
	const k1, x = 51, 52
	p := startProcess(t, r, "-node", "n3")
	clRegister(t, p.Addr, k1, x)
	uk1 := clLogin(t, p.Addr, k1)
	clWaitOnline(t, uk1, waitTimeout, []int{k1})
	p.Kill()
	r.Stop(t)
	p2 := startProcessAt(t, r, p.Addr, "-node", "n3")
	r.Restart(t)

	ux := dial(t, p2.Addr)
	clEventually(t, clRecoverTimeout, "login of x answered 200", func() (bool, string) {
		res := ux.login(x, "password", message.ProtoAck)
		return res.Code == message.CodeOK, fmt.Sprintf("%+v", res)
	})
	// Several heartbeats later, x (connected) is online and k1 (from the dead run) is not.
	clPause(1500 * time.Millisecond)
	for i := range 2 {
		res := clOnline(ux)
		if res.Code != message.CodeOK || !slices.Equal(clIDs(res), []int{x}) || res.Total != 1 {
			t.Fatalf("online list #%d: got %+v, want total 1, users [%d]", i, res, x)
		}
		if i == 0 {
			clPause(750 * time.Millisecond)
		}
	}
	if !ux.isOpen() {
		t.Fatalf("x's session: got closed (%s), want open", clFrames(ux))
	}
	// And messages to x are delivered, not left in its inbox.
	uk1 = clLogin(t, p2.Addr, k1)
	res := clPrivate(uk1, x, "are you there")
	if res.Code != message.CodeOK || res.Stored {
		t.Fatalf("private to connected x: got %+v, want code 200, stored false", res)
	}
	clWaitPrivate(t, ux, waitTimeout, res.MsgID, k1, x, "are you there", false)
}
