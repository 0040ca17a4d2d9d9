package chat_test

// Integration tests of private message delivery (docs/PROTOCOL.md): online and
// offline delivery, order, acknowledgements, redelivery, concurrency, a node
// crash, a Redis restart and a slow consumer.

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/chat"
)

// dialLogin dials addr and logs in as id without failing the test (for goroutines
// and retries); it returns the LoginResMes code, or an error when no answer came.
func dialLogin(t testing.TB, addr string, id, proto int, timeout time.Duration) (*client, int, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, 0, err
	}
	c := newClient(t, t, nc)
	var res message.LoginResMes
	if err := c.request(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: password, Proto: proto}, message.LoginResMesType, &res, timeout); err != nil {
		nc.Close()
		return nil, 0, err
	}
	if res.Code != message.CodeOK {
		nc.Close()
	}
	return c, res.Code, nil
}

// registerLogin registers id and, if login, logs the same connection in, without
// failing the test (for goroutines).
func registerLogin(t testing.TB, addr string, id, proto int, login bool) (*client, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	c := newClient(t, t, nc)
	var rr message.RegisterResMes
	reg := message.RegisterMes{User: message.User{UserID: id, UserPwd: password, UserName: "u" + strconv.Itoa(id)}}
	if err := c.request(message.RegisterMesType, reg, message.RegisterResMesType, &rr, waitTimeout); err != nil {
		return nil, fmt.Errorf("register %d: %v", id, err)
	}
	if rr.Code != message.CodeOK {
		return nil, fmt.Errorf("register %d: got %+v, want code 200", id, rr)
	}
	if !login {
		nc.Close()
		return nil, nil
	}
	var lr message.LoginResMes
	if err := c.request(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: password, Proto: proto}, message.LoginResMesType, &lr, waitTimeout); err != nil {
		return nil, fmt.Errorf("login %d: %v", id, err)
	}
	if lr.Code != message.CodeOK {
		return nil, fmt.Errorf("login %d: got %+v, want code 200", id, lr)
	}
	return c, nil
}

// ---- online and offline delivery ----

func TestPrivateDelivery(t *testing.T) {
	tests := []struct {
		name        string
		online      bool // the recipient is logged in when the messages are sent
		n           int
		wantStored  bool
		wantOffline bool
	}{
		{"online recipient", true, 3, false, false},
		{"offline recipient at next login", false, 3, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStorage(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			var bob *client
			if tt.online {
				bob = user(t, n.Addr, 2, "bob", message.ProtoAck)
			} else {
				registerUser(t, n.Addr, 2, "bob")
			}
			var want []string
			var ids []string
			for i := range tt.n {
				content := fmt.Sprintf("message %d", i)
				res := alice.private(2, content, "")
				if res.Code != message.CodeOK || res.Stored != tt.wantStored || res.MsgID == "" {
					t.Fatalf("message %d: got %+v, want code 200, stored %v and a msgId", i, res, tt.wantStored)
				}
				want = append(want, content)
				ids = append(ids, res.MsgID)
			}
			if !tt.online {
				bob = login(t, n.Addr, 2, message.ProtoAck)
			}
			checkFor(t, waitTimeout, "the private messages", func() bool { return bob.count(message.PrivateMesType) >= tt.n })
			if !tt.online {
				// The offline messages must be the first frames after LoginResMes
				// (which login took from the list).
				frames := bob.snapshot()
				for i := 0; i < tt.n; i++ {
					if frames[i].Type != message.PrivateMesType {
						t.Errorf("frame %d after LoginResMes: got %s %s, want PrivateMes", i, frames[i].Type, frames[i].Data)
					}
				}
			}
			got := privates(t, bob.nextN(message.PrivateMesType, tt.n))
			if g := contents(got); !slices.Equal(g, want) {
				t.Errorf("got contents %q, want %q (oldest first)", g, want)
			}
			if g := msgIDs(got); !slices.Equal(g, ids) {
				t.Errorf("got msgIds %q, want the PrivateResMes ids %q", g, ids)
			}
			for _, m := range got {
				if m.FromUserID != 1 || m.FromUserName != "alice" || m.ToUserID != 2 || m.Offline != tt.wantOffline || m.SentAt == 0 {
					t.Errorf("got %+v, want from 1 alice to 2, offline %v, sentAt set", m, tt.wantOffline)
				}
			}
		})
	}
}

// ---- order ----

func TestPrivateOrder100(t *testing.T) {
	const total = 100
	recipientCases(t, "offline recipient then login", message.ProtoClassic, func(t *testing.T, n *node, alice, bob *client, online bool) {
		// Pipelined: all 100 requests go out before any answer is read.
		var want []string
		for i := range total {
			content := "m" + strconv.Itoa(i)
			want = append(want, content)
			alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: content, ClientMsgID: content})
		}
		for i, f := range alice.nextN(message.PrivateResMesType, total) {
			res := decode[message.PrivateResMes](t, f)
			if res.Code != message.CodeOK || res.Stored == online {
				t.Fatalf("answer %d: got %+v, want code 200, stored %v", i, res, !online)
			}
		}
		if !online {
			bob = login(t, n.Addr, 2, message.ProtoClassic)
		}
		got := marker(t, alice, bob, 2)
		if g := contents(got); !slices.Equal(g, want) {
			t.Errorf("got %d messages %q, want %d in send order %q", len(g), g, len(want), want)
		}
		for _, m := range got {
			if m.Offline == online {
				t.Errorf("got %+v, want offline %v", m, !online)
				break
			}
		}
	})
}

// ---- acknowledgements and redelivery ----

func TestPrivateRedelivery(t *testing.T) {
	tests := []struct {
		name      string
		proto     int // the recipient's
		ack       bool
		wantAgain bool // the messages come again at the next login
	}{
		{"proto 2 acked: forgotten", message.ProtoAck, true, false},
		{"proto 2 not acked: redelivered", message.ProtoAck, false, true},
		{"classic (proto 1): not redelivered", message.ProtoClassic, false, false},
		{"classic (proto absent): not redelivered", 0, false, false},
	}
	const total = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStorage(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			bob := user(t, n.Addr, 2, "bob", tt.proto)
			var ids []string
			for i := range total {
				res := alice.private(2, fmt.Sprintf("message %d", i), "")
				if res.Code != message.CodeOK || res.Stored {
					t.Fatalf("got %+v, want code 200, stored false", res)
				}
				ids = append(ids, res.MsgID)
			}
			first := nextPrivates(t, bob, total)
			if g := msgIDs(first); !slices.Equal(g, ids) {
				t.Fatalf("got msgIds %q, want %q", g, ids)
			}
			if tt.ack {
				bob.send(message.AckMesType, message.AckMes{MsgIDs: ids})
			}
			bob.ping() // the server has read the AckMes
			bob.conn.Close()

			bob2 := login(t, n.Addr, 2, tt.proto)
			bob2.ping()
			again := marker(t, alice, bob2, 2)
			var want []string
			if tt.wantAgain {
				want = ids
			}
			if g := msgIDs(again); !slices.Equal(g, want) {
				t.Fatalf("got %q at the next login, want %q", g, want)
			}
			for i, m := range again {
				if !m.Offline || m.Content != first[i].Content || m.FromUserID != 1 {
					t.Errorf("redelivered %+v, want offline true and the same message as %+v", m, first[i])
				}
			}
		})
	}
}

// ---- concurrency ----

// TestPrivateConcurrent: 50 senders each send 200 private messages to 50 recipients
// round-robin. Some recipients are classic, some log in only once half the messages
// are accepted. Every message must come exactly once, in per-sender order.
func TestPrivateConcurrent(t *testing.T) {
	const (
		senders    = 50
		recipients = 50
		perSender  = 200
		window     = 20
		total      = senders * perSender
	)
	const senderBase, recipientBase = 1, 1001
	offlineFrom := recipientBase + 40 // 1041..1050 log in midway
	classicFrom := recipientBase + 35 // 1036..1040 are classic
	_, n := startOneNode(t)
	start := time.Now()

	// Every user registers first; offline recipients then have an inbox waiting.
	var wg sync.WaitGroup
	senderConns := make([]*client, senders)
	recipientConns := make([]*client, recipients)
	// Users register and log in in parallel: bcrypt and round trips under -race
	// dominate otherwise.
	setupErrs := make(chan error, senders+recipients)
	var setup sync.WaitGroup
	for i := range senders + recipients {
		setup.Add(1)
		go func() {
			defer setup.Done()
			id, proto, login := senderBase+i, message.ProtoAck, true
			if i >= senders {
				id = recipientBase + i - senders
				login = id < offlineFrom
				if id >= classicFrom {
					proto = message.ProtoClassic
				}
			}
			c, err := registerLogin(t, n.Addr, id, proto, login)
			if err != nil {
				setupErrs <- err
				return
			}
			if i < senders {
				senderConns[i] = c
			} else if login {
				recipientConns[i-senders] = c
			}
		}()
	}
	setup.Wait()
	close(setupErrs)
	for err := range setupErrs {
		t.Fatal(err)
	}
	t.Logf("%d users logged in after %v", senders+recipients-10, time.Since(start))

	// want[r][s] is the contents s sends to r, in order.
	want := make([][][]string, recipients)
	for ri := range want {
		want[ri] = make([][]string, senders)
	}
	for s := range senders {
		for j := range perSender {
			ri := (s + j) % recipients
			want[ri][s] = append(want[ri][s], fmt.Sprintf("%d:%d", s, j))
		}
	}

	deadline := time.Now().Add(60 * time.Second)
	// Readers give up waitTimeout after the last sender is done.
	var readDeadline atomic.Int64
	readDeadline.Store(deadline.UnixNano())
	var accepted atomic.Int64
	errs := make(chan error, senders+recipients+10)

	// Recipients read, check for repeats, ack (proto 2) and record.
	gotBy := make([][][]string, recipients)
	reader := func(ri int, c *client, proto int) {
		defer wg.Done()
		seen := map[string]bool{}
		got := make([][]string, senders)
		count := 0
		expect := senders * perSender / recipients
		for count < expect {
			// readDeadline only comes nearer: poll until it or until frames come.
			var ms []message.PrivateMes
			poll(time.Until(time.Unix(0, readDeadline.Load())), func() bool {
				got, err := takePrivates(c)
				if err != nil {
					errs <- err
				}
				ms = got
				return len(ms) > 0 || time.Now().UnixNano() > readDeadline.Load()
			})
			if len(ms) == 0 {
				errs <- fmt.Errorf("recipient %d: got %d messages, want %d", recipientBase+ri, count, expect)
				break
			}
			var ids []string
			for _, m := range ms {
				ids = append(ids, m.MsgID)
				if seen[m.MsgID] {
					errs <- fmt.Errorf("recipient %d: got %s (%q) twice", recipientBase+ri, m.MsgID, m.Content)
					continue
				}
				seen[m.MsgID] = true
				s, _ := strconv.Atoi(strings.Split(m.Content, ":")[0])
				if s < 0 || s >= senders || m.FromUserID != senderBase+s {
					errs <- fmt.Errorf("recipient %d: got %+v, want a sender's message", recipientBase+ri, m)
					continue
				}
				got[s] = append(got[s], m.Content)
				count++
			}
			if proto == message.ProtoAck {
				if err := c.write(message.AckMesType, message.AckMes{MsgIDs: ids}); err != nil {
					errs <- err
				}
			}
		}
		gotBy[ri] = got
	}
	for i, c := range recipientConns {
		if c == nil {
			continue
		}
		proto := message.ProtoAck
		if recipientBase+i >= classicFrom {
			proto = message.ProtoClassic
		}
		wg.Add(1)
		go reader(i, c, proto)
	}

	// Offline recipients log in once half the messages are accepted.
	wg.Add(1)
	go func() {
		defer wg.Done()
		poll(time.Until(deadline), func() bool { return accepted.Load() >= total/2 })
		for id := offlineFrom; id < recipientBase+recipients; id++ {
			c, code, err := dialLogin(t, n.Addr, id, message.ProtoAck, waitTimeout)
			if err != nil || code != message.CodeOK {
				errs <- fmt.Errorf("midway login of %d: code %d, %v", id, code, err)
				continue
			}
			wg.Add(1)
			go reader(id-recipientBase, c, message.ProtoAck)
		}
	}()

	// Senders send in windows of 20 and check every answer.
	var sendWG sync.WaitGroup
	for s := range senders {
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			c := senderConns[s]
			for j0 := 0; j0 < perSender; j0 += window {
				for j := j0; j < j0+window; j++ {
					ri := (s + j) % recipients
					if err := c.write(message.PrivateMesType, message.PrivateMes{ToUserID: recipientBase + ri, Content: fmt.Sprintf("%d:%d", s, j)}); err != nil {
						errs <- err
						return
					}
				}
				fs, err := c.waitN(message.PrivateResMesType, window, min(waitTimeout, time.Until(deadline)))
				if err != nil {
					errs <- fmt.Errorf("sender %d: %v", senderBase+s, err)
					return
				}
				for _, f := range fs {
					var res message.PrivateResMes
					json.Unmarshal([]byte(f.Data), &res)
					if res.Code != message.CodeOK {
						errs <- fmt.Errorf("sender %d: got %+v, want code 200", senderBase+s, res)
						return
					}
				}
				accepted.Add(window)
			}
		}()
	}
	sendWG.Wait()
	readDeadline.Store(min(readDeadline.Load(), time.Now().Add(waitTimeout).UnixNano()))
	t.Logf("%d messages accepted after %v", accepted.Load(), time.Since(start))
	wg.Wait()
	t.Logf("all delivered after %v", time.Since(start))
	close(errs)
	nerr := 0
	for err := range errs {
		if nerr++; nerr <= 20 {
			t.Error(err)
		}
	}
	if nerr > 20 {
		t.Errorf("... and %d more errors", nerr-20)
	}
	for ri := range recipients {
		for s := range senders {
			if gotBy[ri] == nil {
				continue // already reported
			}
			if !slices.Equal(gotBy[ri][s], want[ri][s]) {
				t.Errorf("recipient %d from sender %d: got %q, want %q", recipientBase+ri, senderBase+s, gotBy[ri][s], want[ri][s])
			}
		}
	}
	if time.Since(start) > 30*time.Second {
		t.Logf("SLOW: took %v, budget 30s", time.Since(start))
	}
}

// ---- durability ----

// TestPrivateSurvivesNodeCrash: messages acknowledged with code 200 reach their
// recipients after the node is killed with SIGKILL and a new process takes over.
func TestPrivateSurvivesNodeCrash(t *testing.T) {
	const total = 30
	tests := []struct {
		name   string
		proto  int
		online bool // logged in (and never acking) when the messages are sent
	}{
		{"offline proto 2 recipient", message.ProtoAck, false},
		{"offline classic recipient", message.ProtoClassic, false},
		{"online proto 2 recipient that has not acked", message.ProtoAck, true},
	}
	r := needRedis(t)
	p := startProcess(t, r, "-node", "n1")
	alice := user(t, p.Addr, 1, "alice", message.ProtoAck)
	want := map[int][]string{}
	for i, tt := range tests {
		id := 10 + i
		if tt.online {
			bob := user(t, p.Addr, id, "bob"+strconv.Itoa(id), tt.proto)
			defer bob.conn.Close()
		} else {
			registerUser(t, p.Addr, id, "bob"+strconv.Itoa(id))
		}
		for j := range total {
			content := fmt.Sprintf("to %d #%d", id, j)
			res := alice.private(id, content, "")
			if res.Code != message.CodeOK {
				t.Fatalf("got %+v, want code 200", res)
			}
			want[id] = append(want[id], content)
		}
	}
	p.Kill()
	p2 := startProcess(t, r, "-node", "n1")
	alice2 := user(t, p2.Addr, 1, "alice", message.ProtoAck)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := 10 + i
			bob := login(t, p2.Addr, id, tt.proto)
			got := marker(t, alice2, bob, id)
			if g := contents(got); !slices.Equal(g, want[id]) {
				t.Errorf("got %d messages %q, want the %d acknowledged ones in order %q", len(g), g, len(want[id]), want[id])
			}
			for _, m := range got {
				if !m.Offline {
					t.Errorf("got %+v, want offline true", m)
					break
				}
			}
		})
	}
}

// TestPrivateSurvivesRedisRestart: a message kept for an offline user survives a
// Redis restart, and the node recovers by itself.
func TestPrivateSurvivesRedisRestart(t *testing.T) {
	const total = 10
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, 2, "bob")
	var want []string
	for i := range total {
		content := fmt.Sprintf("before restart %d", i)
		if res := alice.private(2, content, ""); res.Code != message.CodeOK || !res.Stored {
			t.Fatalf("got %+v, want code 200, stored true", res)
		}
		want = append(want, content)
	}
	r.Restart(t)

	var bob *client
	var lastCode int
	var lastErr error
	checkFor(t, 10*time.Second, "bob to log in after the Redis restart", func() bool {
		bob, lastCode, lastErr = dialLogin(t, n.Addr, 2, message.ProtoAck, 2*time.Second)
		return lastErr == nil && lastCode == message.CodeOK
	})
	_ = lastCode
	// alice's session outlived the restart; a message sent now must work too.
	var res message.PrivateResMes
	checkFor(t, 10*time.Second, "a private message to be accepted after the restart", func() bool {
		alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "after restart"})
		fs, err := alice.waitN(message.PrivateResMesType, 1, 5*time.Second)
		if err != nil {
			return false
		}
		res = decode[message.PrivateResMes](t, fs[0])
		return res.Code == message.CodeOK
	})
	want = append(want, "after restart")
	got := []message.PrivateMes{}
	checkFor(t, waitTimeout, "every message", func() bool {
		got = append(got, privates(t, bob.takeAll(message.PrivateMesType))...)
		return len(got) > 0 && got[len(got)-1].MsgID == res.MsgID
	})
	if g := contents(got); !slices.Equal(g, want) {
		t.Errorf("got %q, want %q", g, want)
	}
	for i, m := range got[:total] {
		if !m.Offline {
			t.Errorf("message %d: got %+v, want offline true", i, m)
		}
	}
}

// ---- slow consumer ----

// dialSmallWindow connects with a tiny receive buffer and never reads.
func dialSmallWindow(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: waitTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func TestSlowConsumer(t *testing.T) {
	const (
		slowID   = 3
		batch    = 50
		maxSends = 6000 // 24 MB of group messages at most
	)
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.MaxQueue = 64 << 10 })
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, slowID, "slow")

	// The slow client logs in and never reads a byte.
	slow := dialSmallWindow(t, n.Addr)
	body, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: slowID, UserPwd: "password", Proto: message.ProtoAck})
	if _, err := slow.Write(body); err != nil {
		t.Fatal(err)
	}
	isSlow := func(status int) func() bool {
		return func() bool {
			for {
				f, ok := alice.take(message.NotifyUserStatusMesType)
				if !ok {
					return false
				}
				m := decode[message.NotifyUserStatusMes](t, f)
				if m.UserID == slowID && m.Status == status {
					return true
				}
			}
		}
	}
	checkFor(t, waitTimeout, "the slow client to be online", isSlow(message.UserOnline))

	var wantPrivate []string
	sendPrivate := func(content string) {
		res := alice.private(slowID, content, "")
		if res.Code != message.CodeOK {
			t.Fatalf("private to the slow client: got %+v, want code 200", res)
		}
		wantPrivate = append(wantPrivate, content)
	}
	sendPrivate("private before the flood")

	content := strings.Repeat("x", 4000)
	sent := 0
	disconnected := false
	var slowest time.Duration
	for sent < maxSends && !disconnected {
		t0 := time.Now()
		for range batch {
			alice.send(message.SmsMesType, message.SmsMes{Content: content})
		}
		for _, f := range alice.nextN(message.SmsResMesType, batch) {
			if res := decode[message.SmsResMes](t, f); res.Code != message.CodeOK {
				t.Fatalf("group message %d: got %+v, want code 200", sent, res)
			}
		}
		slowest = max(slowest, time.Since(t0))
		sent += batch
		if sent == 10*batch {
			sendPrivate("private during the flood")
		}
		disconnected = isSlow(message.UserOffline)()
	}
	t.Logf("sent %d group messages of 4000 bytes; slowest batch of %d answered in %v", sent, batch, slowest)
	if !disconnected {
		checkFor(t, waitTimeout, "the slow client to be disconnected", isSlow(message.UserOffline))
	}
	if slowest > 5*time.Second {
		t.Errorf("got a batch of group messages answered in %v, want the sender never blocked", slowest)
	}

	bob := login(t, n.Addr, slowID, message.ProtoAck)
	got := marker(t, alice, bob, slowID)
	if g := contents(got); !slices.Equal(g, wantPrivate) {
		t.Errorf("got %q at the next login, want %q", g, wantPrivate)
	}
	for _, m := range got {
		if !m.Offline {
			t.Errorf("got %+v, want offline true", m)
		}
	}
}
