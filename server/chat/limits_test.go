package chat_test

// Tests of the limits kept in Redis (docs/PROTOCOL.md, Limits): they hold per
// user and per address across connections, logins and nodes.

import (
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/chat"
)

// dialFrom connects a client to addr from the loopback address ip (127.0.0.0/8
// is all loopback on Linux): a test's clients may come from several addresses.
func dialFrom(t testing.TB, addr, ip string) *client {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, t, nc)
}

// scrape returns the metrics of an in-process node, in the text format.
func scrape(t testing.TB, n *node) string {
	t.Helper()
	rec := httptest.NewRecorder()
	n.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// presenceChanges returns how many presence changes n has had to announce.
func presenceChanges(t testing.TB, n *node) int {
	t.Helper()
	for line := range strings.Lines(scrape(t, n)) {
		if v, ok := strings.CutPrefix(line, "chat_presence_changes_total "); ok {
			got, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("chat_presence_changes_total %q: %v", v, err)
			}
			return got
		}
	}
	t.Fatal("no chat_presence_changes_total in the metrics")
	return 0
}

// countPasswordChecks counts the password jobs (bcrypt) n runs from now on.
func countPasswordChecks(t testing.TB, n *node) *atomic.Int64 {
	var checks atomic.Int64
	chat.SetPasswordHook(n.srv, func() { checks.Add(1) })
	t.Cleanup(func() { chat.SetPasswordHook(n.srv, nil) })
	return &checks
}

// guessAll sends one wrong password login for id from each of n new connections
// per address, all at once, and returns the codes of the answers.
func guessAll(t *testing.T, addr string, id, n int, ips ...string) map[int]int {
	t.Helper()
	var clients []*client
	for _, ip := range ips {
		for range n {
			clients = append(clients, dialFrom(t, addr, ip))
		}
	}
	writeAtOnce(t, clients, func(i int) []byte {
		f, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: "guess-" + string(rune('a'+i%26))})
		return f
	})
	codes := map[int]int{}
	for _, c := range clients {
		f := c.nextOf(message.LoginResMesType, message.ErrorResMesType)
		codes[decode[message.LoginResMes](t, f).Code]++
	}
	return codes
}

func TestFailedLoginsCountedBeforeThePassword(t *testing.T) {
	const perUserAddr, perUser = 5, 8
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) {
		c.LoginFailures, c.LoginFailuresPerUser = perUserAddr, perUser
	})
	registerUser(t, n.Addr, 1, "owner")
	checks := countPasswordChecks(t, n)

	// 300 parallel guesses from one address: no more than its limit reach bcrypt.
	codes := guessAll(t, n.Addr, 1, 300, "127.0.0.2")
	if got := checks.Load(); got > perUserAddr {
		t.Errorf("300 parallel guesses from one address: %d password checks, want at most %d", got, perUserAddr)
	}
	if codes[message.CodeWrongPassword] > perUserAddr || codes[message.CodeWrongPassword]+codes[message.CodeRateLimited] != 300 {
		t.Errorf("got answers %v, want at most %d of 403 and the others 429", codes, perUserAddr)
	}
	// The owner, from another address, is not locked out.
	if res := dialFrom(t, n.Addr, "127.0.0.3").login(1, password, message.ProtoAck); res.Code != message.CodeOK {
		t.Fatalf("the owner from another address: got %+v, want 200", res)
	}

	// Guesses from many addresses stop at the user's own limit: 5 failures so
	// far, 3 more reach bcrypt.
	checks.Store(0)
	guessAll(t, n.Addr, 1, 100, "127.0.0.4", "127.0.0.5", "127.0.0.6")
	if got := checks.Load(); got > perUser-perUserAddr {
		t.Errorf("300 guesses from 3 more addresses: %d password checks, want at most %d", got, perUser-perUserAddr)
	}
	if res := dialFrom(t, n.Addr, "127.0.0.7").login(1, password, message.ProtoAck); res.Code != message.CodeRateLimited {
		t.Errorf("the owner once the user's limit over all addresses is reached: got %+v, want 429", res)
	}
	if res := dialFrom(t, n.Addr, "127.0.0.7").login(2, password, message.ProtoAck); res.Code != message.CodeUserNotFound {
		t.Errorf("another user id from the same address: got %+v, want 500", res)
	}
}

// Many users logging in at once from one address (a NAT) are not failures: the
// address's count over all user ids grows only with logins that failed.
func TestLoginsFromOneAddressAtOnce(t *testing.T) {
	const users, perAddr = 40, 5
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) { c.LoginFailuresPerAddr = perAddr })
	for id := 1; id <= users; id++ {
		registerUser(t, n.Addr, id, "u")
	}
	var clients []*client
	for range users {
		clients = append(clients, dialFrom(t, n.Addr, "127.0.0.2"))
	}
	writeAtOnce(t, clients, func(i int) []byte {
		f, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: i + 1, UserPwd: password, Proto: message.ProtoAck})
		return f
	})
	for i, c := range clients {
		var res message.LoginResMes
		c.next(message.LoginResMesType, &res)
		if res.Code != message.CodeOK {
			t.Errorf("login %d of %d from one address: got %+v, want 200", i+1, users, res)
		}
	}
	// Known failures do count: after perAddr of them, the address gets 429.
	if codes := guessAll(t, n.Addr, 1, perAddr, "127.0.0.3"); codes[message.CodeWrongPassword] != perAddr {
		t.Fatalf("%d wrong passwords: got answers %v, want %d of 403", perAddr, codes, perAddr)
	}
	if res := dialFrom(t, n.Addr, "127.0.0.3").login(2, password, message.ProtoAck); res.Code != message.CodeRateLimited {
		t.Errorf("another user id from an address at its limit: got %+v, want 429", res)
	}
}

// sendAll sends k requests of typ on c and returns how many were answered 200;
// every answer is 200 or 429.
func sendAll(t *testing.T, c *client, k int, typ string, req any, resType string) int {
	t.Helper()
	for range k {
		c.send(typ, req)
	}
	ok := 0
	for _, f := range c.nextN(resType, k) {
		switch decode[struct{ Code int }](t, f).Code {
		case message.CodeOK:
			ok++
		case message.CodeRateLimited:
		default:
			t.Fatalf("got %s %s, want 200 or 429", f.Type, f.Data)
		}
	}
	return ok
}

func TestRatesHoldAcrossLoginsAndNodes(t *testing.T) {
	const rate, burst = 1, 10
	r := newStorage(t)
	limited := func(c *chat.Config) {
		c.RatePrivate, c.BurstPrivate = rate, burst
		c.RateGroup, c.BurstGroup = rate, burst
	}
	nodes := []*node{startNode(t, r, "n1", limited), startNode(t, r, "n2", limited)}
	registerUser(t, nodes[0].Addr, 1, "alice")
	registerUser(t, nodes[0].Addr, 2, "bob")
	// Room messages share their sender's budget with its private messages:
	// carol, who sends no private message, has a room of her own.
	registerUser(t, nodes[0].Addr, 3, "carol")
	carol := login(t, nodes[0].Addr, 3, message.ProtoAck)
	room := createRoom(carol, "limited")
	carol.conn.Close()
	for _, tt := range []struct {
		name, typ, resType string
		from               int
		req                any
	}{
		{"private", message.PrivateMesType, message.PrivateResMesType, 1, message.PrivateMes{ToUserID: 2, Content: "hi"}},
		{"group", message.SmsMesType, message.SmsResMesType, 1, message.SmsMes{Content: "hi all"}},
		{"room", message.RoomMesType, message.RoomResMesType, 3, message.RoomMes{RoomID: room, Content: "hi room"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Five logins, on both nodes, 40 messages each.
			start := time.Now()
			accepted := 0
			for i := range 5 {
				c := login(t, nodes[i%2].Addr, tt.from, message.ProtoAck)
				accepted += sendAll(t, c, 40, tt.typ, tt.req, tt.resType)
				c.conn.Close()
			}
			budget := burst + int(time.Since(start).Seconds()*rate) + 1
			if accepted > budget {
				t.Errorf("5 logins × 40 messages: %d accepted, want at most %d (burst %d, %d/s)", accepted, budget, burst, rate)
			}
			if accepted < burst {
				t.Errorf("got %d accepted, want at least the burst of %d", accepted, burst)
			}
		})
	}
}

func TestRegistrationLimits(t *testing.T) {
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) { c.RegistrationsPerAddr = 3 })
	c := dialFrom(t, n.Addr, "127.0.0.2")
	for id := 1; id <= 3; id++ {
		if res := c.register(id, password, "u"); res.Code != message.CodeOK {
			t.Fatalf("registration %d: got %+v, want 200", id, res)
		}
	}
	if res := dialFrom(t, n.Addr, "127.0.0.2").register(4, password, "u"); res.Code != message.CodeRateLimited {
		t.Errorf("4th registration from one address: got %+v, want 429", res)
	}
	if res := dialFrom(t, n.Addr, "127.0.0.3").register(4, password, "u"); res.Code != message.CodeOK {
		t.Errorf("a registration from another address: got %+v, want 200", res)
	}

	// A taken id is answered 400 without any password work.
	checks := countPasswordChecks(t, n)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := dialFrom(t, n.Addr, "127.0.1."+string(rune('1'+i)))
			var res message.RegisterResMes
			if err := c.request(message.RegisterMesType, message.RegisterMes{User: message.User{UserID: 1, UserPwd: "another", UserName: "x"}},
				message.RegisterResMesType, &res, waitTimeout); err != nil || res.Code != message.CodeUserExists {
				t.Errorf("registering a taken id: got %+v (%v), want 400", res, err)
			}
		})
	}
	wg.Wait()
	if got := checks.Load(); got != 0 {
		t.Errorf("registering taken ids ran %d password jobs, want 0", got)
	}
}

func TestLoginsPerUserLimited(t *testing.T) {
	const logins = 3
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) { c.LoginsPerUser = logins })
	watcher := user(t, n.Addr, 9, "watcher", message.ProtoAck)
	registerUser(t, n.Addr, 1, "flapper")
	offline := func() int {
		return watcher.countMatch(message.NotifyUserStatusMesType, matching(func(m message.NotifyUserStatusMes) bool {
			return m.Status == message.UserOffline
		}))
	}
	for i := range logins {
		c := dial(t, n.Addr)
		if res := c.login(1, password, message.ProtoAck); res.Code != message.CodeOK {
			t.Fatalf("login %d: got %+v, want 200", i+1, res)
		}
		c.conn.Close()
		// Each session ends before the next login: a login that replaced a
		// session still open would make no offline notice.
		checkFor(t, waitTimeout, "the offline notice of the session closed", func() bool { return offline() == i+1 })
	}
	for i := range 5 {
		if res := dial(t, n.Addr).login(1, password, message.ProtoAck); res.Code != message.CodeRateLimited {
			t.Errorf("login %d within the minute: got %+v, want 429", logins+i+1, res)
		}
	}
	// The refused logins made no presence changes: the node announced the
	// watcher's login and the allowed logins coming and going.
	if got, want := presenceChanges(t, n), 1+2*logins; got != want {
		t.Errorf("got %d presence changes, want %d", got, want)
	}
	if res := dial(t, n.Addr).login(9, password, message.ProtoAck); res.Code != message.CodeOK {
		t.Errorf("another user: got %+v, want 200", res)
	}
	if !strings.Contains(scrape(t, n), `chat_logins_total{result="rate_limited"} 5`) {
		t.Errorf("metrics lack 5 rate-limited logins")
	}
}
