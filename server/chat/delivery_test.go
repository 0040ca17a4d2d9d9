package chat_test

// Integration tests of private message delivery (issue 3), written from
// shared/PROTOCOL.md: online and offline delivery, order, acknowledgements,
// redelivery, concurrency, a node crash, a Redis restart and a slow consumer.

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chat/common/frame"
	"chat/common/message"
	"chat/internal/redistest"
	"chat/server/chat"
)

// ---- helpers (messaging tests only; prefixed ms to stay clear of the harness) ----

// msTakeAll removes and returns every waiting frame of type typ, in arrival order.
func msTakeAll(c *client, typ string) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []received
	kept := c.frames[:0]
	for _, f := range c.frames {
		if f.Type == typ {
			got = append(got, f)
		} else {
			kept = append(kept, f)
		}
	}
	c.frames = kept
	return got
}

// msSnapshot returns a copy of the frames waiting on c, in arrival order.
func msSnapshot(c *client) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.frames...)
}

// msWaitN waits up to timeout until n frames of type typ have come and takes them.
// It does not fail the test, so goroutines may use it.
func msWaitN(c *client, typ string, n int, timeout time.Duration) ([]received, error) {
	deadline := time.Now().Add(timeout)
	var got []received
	for {
		got = append(got, msTakeAll(c, typ)...)
		if len(got) >= n {
			// Give back what is over n, in front, so that order is kept.
			if extra := got[n:]; len(extra) > 0 {
				c.mu.Lock()
				c.frames = append(append([]received(nil), extra...), c.frames...)
				c.mu.Unlock()
			}
			return got[:n], nil
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return got, fmt.Errorf("got %d %s within %v, want %d (read error: %v)", len(got), typ, timeout, n, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// msNextN is msWaitN for the test goroutine: it fails the test on timeout.
func msNextN(t testing.TB, c *client, typ string, n int) []received {
	t.Helper()
	got, err := msWaitN(c, typ, n, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// msDecode decodes the data of f into a T.
func msDecode[T any](t testing.TB, f received) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(f.Data), &v); err != nil {
		t.Fatalf("%s data %q: %v", f.Type, f.Data, err)
	}
	return v
}

// msWrite writes one message without failing the test, for goroutines.
func msWrite(c *client, typ string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(message.Message{Type: typ, Data: string(data)})
	_, err = c.conn.Write(frame.Append(nil, body))
	return err
}

// msPrivate sends a private message and returns its answer.
func msPrivate(t testing.TB, c *client, to int, content, clientMsgID string) message.PrivateResMes {
	t.Helper()
	c.send(message.PrivateMesType, message.PrivateMes{ToUserID: to, Content: content, ClientMsgID: clientMsgID})
	var res message.PrivateResMes
	c.next(message.PrivateResMesType, &res)
	return res
}

// msBarrier sends PingMes and waits for PongMes: every frame the server queued for
// c in answer to earlier requests has arrived by then.
func msBarrier(t testing.TB, c *client) {
	t.Helper()
	c.send(message.PingMesType, message.PingMes{})
	c.next(message.PongMesType, nil)
}

// msRegister registers id on addr on a connection of its own, which it closes: the
// user exists and is offline.
func msRegister(t testing.TB, addr string, id int, name string) {
	t.Helper()
	c := dial(t, addr)
	if res := c.register(id, "password", name); res.Code != message.CodeOK {
		t.Fatalf("register %d: got %+v, want code 200", id, res)
	}
	c.conn.Close()
}

// msDialLogin dials addr and logs in as id without failing the test; it returns
// the LoginResMes code, or an error when no answer came.
func msDialLogin(t testing.TB, addr string, id, proto int, timeout time.Duration) (*client, int, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, 0, err
	}
	c := newClient(t, t, nc)
	if err := msWrite(c, message.LoginMesType, message.LoginMes{UserID: id, UserPwd: "password", Proto: proto}); err != nil {
		nc.Close()
		return nil, 0, err
	}
	got, err := msWaitN(c, message.LoginResMesType, 1, timeout)
	if err != nil {
		nc.Close()
		return nil, 0, err
	}
	var res message.LoginResMes
	if err := json.Unmarshal([]byte(got[0].Data), &res); err != nil {
		nc.Close()
		return nil, 0, err
	}
	if res.Code != message.CodeOK {
		nc.Close()
	}
	return c, res.Code, nil
}

// msRecipientCases runs f in a subtest "online recipient", where bob (2) is logged
// in with bobProto, then in a subtest offlineName, where bob is registered but not
// logged in (bob is nil); in each, alice (1) is logged in with proto 2 on a fresh
// node n.
func msRecipientCases(t *testing.T, offlineName string, bobProto int, f func(t *testing.T, n *node, alice, bob *client, online bool)) {
	for _, online := range []bool{true, false} {
		name := offlineName
		if online {
			name = "online recipient"
		}
		t.Run(name, func(t *testing.T) {
			r := redistest.Start(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			var bob *client
			if online {
				bob = user(t, n.Addr, 2, "bob", bobProto)
			} else {
				msRegister(t, n.Addr, 2, "bob")
			}
			f(t, n, alice, bob, online)
		})
	}
}

// msLogin logs a new connection in as an existing user.
func msLogin(t testing.TB, addr string, id, proto int) *client {
	t.Helper()
	c := dial(t, addr)
	if res := c.login(id, "password", proto); res.Code != message.CodeOK {
		t.Fatalf("login %d: got %+v, want code 200", id, res)
	}
	return c
}

// msPrivates decodes frames that are all PrivateMes.
func msPrivates(t testing.TB, fs []received) []message.PrivateMes {
	t.Helper()
	out := make([]message.PrivateMes, len(fs))
	for i, f := range fs {
		out[i] = msDecode[message.PrivateMes](t, f)
	}
	return out
}

// msMarker sends a marker private message from `from` to `to` and waits until it
// arrives: the inbox is read in order, so every message stored before it for `to`
// (including any redelivery) has come by then. It returns the PrivateMes that came
// before the marker, and fails if the marker is not the last one.
func msMarker(t testing.TB, from, to *client, toID int) []message.PrivateMes {
	t.Helper()
	const text = "marker: everything before me has come"
	res := msPrivate(t, from, toID, text, "")
	if res.Code != message.CodeOK {
		t.Fatalf("marker: got %+v, want code 200", res)
	}
	var before []message.PrivateMes
	checkFor(t, waitTimeout, "the marker message", func() bool {
		got, err := takePrivates(to)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, got...)
		return len(before) > 0 && before[len(before)-1].MsgID == res.MsgID
	})
	return before[:len(before)-1]
}

func msContents(ms []message.PrivateMes) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func msIDs(ms []message.PrivateMes) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.MsgID
	}
	return out
}

func msEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
			r := redistest.Start(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			var bob *client
			if tt.online {
				bob = user(t, n.Addr, 2, "bob", message.ProtoAck)
			} else {
				msRegister(t, n.Addr, 2, "bob")
			}
			var want []string
			var ids []string
			for i := range tt.n {
				content := fmt.Sprintf("message %d", i)
				res := msPrivate(t, alice, 2, content, "")
				if res.Code != message.CodeOK || res.Stored != tt.wantStored || res.MsgID == "" {
					t.Fatalf("message %d: got %+v, want code 200, stored %v and a msgId", i, res, tt.wantStored)
				}
				want = append(want, content)
				ids = append(ids, res.MsgID)
			}
			if !tt.online {
				bob = msLogin(t, n.Addr, 2, message.ProtoAck)
			}
			checkFor(t, waitTimeout, "the private messages", func() bool { return bob.count(message.PrivateMesType) >= tt.n })
			if !tt.online {
				// The offline messages must be the first frames after LoginResMes
				// (which login took from the list).
				frames := msSnapshot(bob)
				for i := 0; i < tt.n; i++ {
					if frames[i].Type != message.PrivateMesType {
						t.Errorf("frame %d after LoginResMes: got %s %s, want PrivateMes", i, frames[i].Type, frames[i].Data)
					}
				}
			}
			got := msPrivates(t, msNextN(t, bob, message.PrivateMesType, tt.n))
			if g := msContents(got); !msEqual(g, want) {
				t.Errorf("got contents %q, want %q (oldest first)", g, want)
			}
			if g := msIDs(got); !msEqual(g, ids) {
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
	msRecipientCases(t, "offline recipient then login", message.ProtoClassic, func(t *testing.T, n *node, alice, bob *client, online bool) {
		// Pipelined: all 100 requests go out before any answer is read.
		var want []string
		for i := range total {
			content := "m" + strconv.Itoa(i)
			want = append(want, content)
			alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: content, ClientMsgID: content})
		}
		for i, f := range msNextN(t, alice, message.PrivateResMesType, total) {
			res := msDecode[message.PrivateResMes](t, f)
			if res.Code != message.CodeOK || res.Stored == online {
				t.Fatalf("answer %d: got %+v, want code 200, stored %v", i, res, !online)
			}
		}
		if !online {
			bob = msLogin(t, n.Addr, 2, message.ProtoClassic)
		}
		got := msMarker(t, alice, bob, 2)
		if g := msContents(got); !msEqual(g, want) {
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
			r := redistest.Start(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			bob := user(t, n.Addr, 2, "bob", tt.proto)
			var ids []string
			for i := range total {
				res := msPrivate(t, alice, 2, fmt.Sprintf("message %d", i), "")
				if res.Code != message.CodeOK || res.Stored {
					t.Fatalf("got %+v, want code 200, stored false", res)
				}
				ids = append(ids, res.MsgID)
			}
			first := nextPrivates(t, bob, total)
			if g := msIDs(first); !msEqual(g, ids) {
				t.Fatalf("got msgIds %q, want %q", g, ids)
			}
			if tt.ack {
				bob.send(message.AckMesType, message.AckMes{MsgIDs: ids})
			}
			msBarrier(t, bob) // the server has read the AckMes
			bob.conn.Close()

			bob2 := msLogin(t, n.Addr, 2, tt.proto)
			msBarrier(t, bob2)
			again := msMarker(t, alice, bob2, 2)
			var want []string
			if tt.wantAgain {
				want = ids
			}
			if g := msIDs(again); !msEqual(g, want) {
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
	r := redistest.Start(t)
	n := startNode(t, r, "n1", nil)
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
			c, err := msRegisterLogin(t, n.Addr, id, proto, login)
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
			if time.Now().UnixNano() > readDeadline.Load() {
				errs <- fmt.Errorf("recipient %d: got %d messages, want %d", recipientBase+ri, count, expect)
				break
			}
			ms, err := takePrivates(c)
			if err != nil {
				errs <- err
			}
			if len(ms) == 0 {
				time.Sleep(2 * time.Millisecond)
				continue
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
				if err := msWrite(c, message.AckMesType, message.AckMes{MsgIDs: ids}); err != nil {
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
		for accepted.Load() < total/2 && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		for id := offlineFrom; id < recipientBase+recipients; id++ {
			c, code, err := msDialLogin(t, n.Addr, id, message.ProtoAck, waitTimeout)
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
					if err := msWrite(c, message.PrivateMesType, message.PrivateMes{ToUserID: recipientBase + ri, Content: fmt.Sprintf("%d:%d", s, j)}); err != nil {
						errs <- err
						return
					}
				}
				fs, err := msWaitN(c, message.PrivateResMesType, window, min(waitTimeout, time.Until(deadline)))
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
			if !msEqual(gotBy[ri][s], want[ri][s]) {
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
	r := redistest.Start(t)
	p := startProcess(t, r, "-node", "n1")
	alice := user(t, p.Addr, 1, "alice", message.ProtoAck)
	want := map[int][]string{}
	for i, tt := range tests {
		id := 10 + i
		if tt.online {
			bob := user(t, p.Addr, id, "bob"+strconv.Itoa(id), tt.proto)
			defer bob.conn.Close()
		} else {
			msRegister(t, p.Addr, id, "bob"+strconv.Itoa(id))
		}
		for j := range total {
			content := fmt.Sprintf("to %d #%d", id, j)
			res := msPrivate(t, alice, id, content, "")
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
			bob := msLogin(t, p2.Addr, id, tt.proto)
			got := msMarker(t, alice2, bob, id)
			if g := msContents(got); !msEqual(g, want[id]) {
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
	r := redistest.Start(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	msRegister(t, n.Addr, 2, "bob")
	var want []string
	for i := range total {
		content := fmt.Sprintf("before restart %d", i)
		if res := msPrivate(t, alice, 2, content, ""); res.Code != message.CodeOK || !res.Stored {
			t.Fatalf("got %+v, want code 200, stored true", res)
		}
		want = append(want, content)
	}
	r.Restart(t)

	var bob *client
	var lastCode int
	var lastErr error
	checkFor(t, 10*time.Second, "bob to log in after the Redis restart", func() bool {
		bob, lastCode, lastErr = msDialLogin(t, n.Addr, 2, message.ProtoAck, 2*time.Second)
		return lastErr == nil && lastCode == message.CodeOK
	})
	_ = lastCode
	// alice's session outlived the restart; a message sent now must work too.
	var res message.PrivateResMes
	checkFor(t, 10*time.Second, "a private message to be accepted after the restart", func() bool {
		alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "after restart"})
		fs, err := msWaitN(alice, message.PrivateResMesType, 1, 5*time.Second)
		if err != nil {
			return false
		}
		res = msDecode[message.PrivateResMes](t, fs[0])
		return res.Code == message.CodeOK
	})
	want = append(want, "after restart")
	got := []message.PrivateMes{}
	checkFor(t, waitTimeout, "every message", func() bool {
		got = append(got, msPrivates(t, msTakeAll(bob, message.PrivateMesType))...)
		return len(got) > 0 && got[len(got)-1].MsgID == res.MsgID
	})
	if g := msContents(got); !msEqual(g, want) {
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
	r := redistest.Start(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.MaxQueue = 64 << 10 })
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	msRegister(t, n.Addr, slowID, "slow")

	// The slow client logs in and never reads a byte.
	slow := dialSmallWindow(t, n.Addr)
	body, _ := message.Encode(message.LoginMesType, message.LoginMes{UserID: slowID, UserPwd: "password", Proto: message.ProtoAck})
	if _, err := slow.Write(frame.Append(nil, body)); err != nil {
		t.Fatal(err)
	}
	isSlow := func(status int) func() bool {
		return func() bool {
			for {
				f, ok := alice.take(message.NotifyUserStatusMesType)
				if !ok {
					return false
				}
				m := msDecode[message.NotifyUserStatusMes](t, f)
				if m.UserID == slowID && m.Status == status {
					return true
				}
			}
		}
	}
	checkFor(t, waitTimeout, "the slow client to be online", isSlow(message.UserOnline))

	var wantPrivate []string
	sendPrivate := func(content string) {
		res := msPrivate(t, alice, slowID, content, "")
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
		for _, f := range msNextN(t, alice, message.SmsResMesType, batch) {
			if res := msDecode[message.SmsResMes](t, f); res.Code != message.CodeOK {
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

	bob := msLogin(t, n.Addr, slowID, message.ProtoAck)
	got := msMarker(t, alice, bob, slowID)
	if g := msContents(got); !msEqual(g, wantPrivate) {
		t.Errorf("got %q at the next login, want %q", g, wantPrivate)
	}
	for _, m := range got {
		if !m.Offline {
			t.Errorf("got %+v, want offline true", m)
		}
	}
}

// msBind makes cs fail subtest t (not the parent that created them) for the rest
// of t, so that a subtest may use clients its parent logged in.
func msBind(t *testing.T, cs ...*client) {
	for _, c := range cs {
		old := c.t
		c.t = t
		t.Cleanup(func() { c.t = old })
	}
}

// msRegisterLogin registers id and, if login, logs the same connection in, without
// failing the test (for goroutines).
func msRegisterLogin(t testing.TB, addr string, id, proto int, login bool) (*client, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	c := newClient(t, t, nc)
	name := "u" + strconv.Itoa(id)
	if err := msWrite(c, message.RegisterMesType, message.RegisterMes{User: message.User{UserID: id, UserPwd: "password", UserName: name}}); err != nil {
		return nil, err
	}
	fs, err := msWaitN(c, message.RegisterResMesType, 1, waitTimeout)
	if err != nil {
		return nil, fmt.Errorf("register %d: %v", id, err)
	}
	var rr message.RegisterResMes
	json.Unmarshal([]byte(fs[0].Data), &rr)
	if rr.Code != message.CodeOK {
		return nil, fmt.Errorf("register %d: got %+v, want code 200", id, rr)
	}
	if !login {
		nc.Close()
		return nil, nil
	}
	if err := msWrite(c, message.LoginMesType, message.LoginMes{UserID: id, UserPwd: "password", Proto: proto}); err != nil {
		return nil, err
	}
	fs, err = msWaitN(c, message.LoginResMesType, 1, waitTimeout)
	if err != nil {
		return nil, fmt.Errorf("login %d: %v", id, err)
	}
	var lr message.LoginResMes
	json.Unmarshal([]byte(fs[0].Data), &lr)
	if lr.Code != message.CodeOK {
		return nil, fmt.Errorf("login %d: got %+v, want code 200", id, lr)
	}
	return c, nil
}
