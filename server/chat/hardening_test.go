package chat_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/chattest"
	"chat/server/chat"
)

// chatter keeps a pair of users exchanging private messages until stop is closed,
// and counts what arrives, to show a session is unaffected by what others do.
type chatter struct {
	stop      chan struct{}
	done      chan struct{}
	delivered int
	err       error
}

func startChatter(t *testing.T, addr string, fromID, toID int) *chatter {
	from := user(t, addr, fromID, "from", message.ProtoAck)
	to := user(t, addr, toID, "to", message.ProtoAck)
	ch := &chatter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ch.done)
		for i := 0; ; i++ {
			select {
			case <-ch.stop:
				return
			default:
			}
			from.send(message.PrivateMesType, message.PrivateMes{ToUserID: toID, Content: fmt.Sprint("m", i)})
			if !poll(waitTimeout, func() bool { return from.count(message.PrivateResMesType) > 0 && to.count(message.PrivateMesType) > 0 }) {
				ch.err = fmt.Errorf("message %d was not answered and delivered in time", i)
				return
			}
			from.take(message.PrivateResMesType)
			to.take(message.PrivateMesType)
			ch.delivered++
		}
	}()
	return ch
}

// finish stops the pair and returns how many messages went through.
func (ch *chatter) finish(t *testing.T) int {
	t.Helper()
	close(ch.stop)
	<-ch.done
	if ch.err != nil {
		t.Fatal(ch.err)
	}
	return ch.delivered
}

func TestSilentConnectionsClosedWhileSessionChats(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.LoginTimeout = 2 * time.Second })
	pair := startChatter(t, n.Addr, 1, 2)

	const silent = 1000
	conns := make([]net.Conn, silent)
	for i := range conns {
		c, err := net.Dial("tcp", n.Addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
	}
	// Each must be closed by the server: a read ends (after the ErrorResMes) with EOF.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(waitTimeout))
			if _, err := io.Copy(io.Discard, c); err != nil {
				mu.Lock()
				open++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	if open != 0 {
		t.Fatalf("got %d of %d silent connections still open after the login timeout, want 0", open, silent)
	}
	if got := pair.finish(t); got == 0 {
		t.Fatalf("got %d private messages through while the silent connections were open, want some", got)
	}
}

func TestNonReadingClientIsCutOff(t *testing.T) {
	r := newStorage(t)
	// The queue limit is well above what a reading client ever has waiting, so
	// that only the client that never reads is cut off.
	n := startNode(t, r, "n1", func(c *chat.Config) { c.MaxQueue = 1 << 20 })
	pair := startChatter(t, n.Addr, 1, 2)

	// The slow client logs in, then never reads; its receive buffer is small so
	// that the server's queue, not the kernel's buffers, has to hold the backlog.
	user(t, n.Addr, 3, "slow", message.ProtoAck).conn.Close()
	raw, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.(*net.TCPConn).SetReadBuffer(4096)
	body, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: 3, UserPwd: "password", Proto: 2})
	raw.Write(body)

	sender := user(t, n.Addr, 4, "loud", message.ProtoAck)
	checkFor(t, waitTimeout, "the slow user online", func() bool { return isOnline(sender, 3) })
	content := strings.Repeat("x", 4000)
	var res message.SmsResMes
	for i := 0; isOnline(sender, 3); i++ {
		if i == 5000 {
			t.Fatal("the non-reading client was never cut off")
		}
		sender.send(message.SmsMesType, message.SmsMes{Content: content})
		sender.next(message.SmsResMesType, &res) // the sender is never held up
		if res.Code != message.CodeOK {
			t.Fatalf("group message %d: got code %d, want 200", i, res.Code)
		}
	}
	if got := pair.finish(t); got == 0 {
		t.Fatalf("got %d private messages through meanwhile, want some", got)
	}
}

// isOnline reports whether id is in the first page of the online list c sees.
func isOnline(c *client, id int) bool {
	c.t.Helper()
	return slices.Contains(userIDs(c.onlineUsers(0, 500)), id)
}

func TestTLSEndToEnd(t *testing.T) {
	r := needRedis(t)
	caFile, certFile, keyFile := chattest.WriteCert(t, t.TempDir())
	p := startProcess(t, r, "-tls-cert", certFile, "-tls-key", keyFile)

	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	dialTLS := func() *client {
		nc, err := tls.Dial("tcp", p.Addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		return newClient(t, t, nc)
	}
	alice, bob := dialTLS(), dialTLS()
	for i, c := range []*client{alice, bob} {
		if res := c.register(i+1, "password", fmt.Sprint("user", i+1)); res.Code != message.CodeOK {
			t.Fatalf("register over TLS: got %+v, want 200", res)
		}
		if res := c.login(i+1, "password", message.ProtoAck); res.Code != message.CodeOK {
			t.Fatalf("login over TLS: got %+v, want 200", res)
		}
	}
	alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "secret"})
	var got message.PrivateMes
	bob.next(message.PrivateMesType, &got)
	if got.Content != "secret" {
		t.Fatalf("got %q over TLS, want %q", got.Content, "secret")
	}

	// A client that skips TLS gets nothing it can read as a frame.
	plain := dial(t, p.Addr)
	plain.send(message.PingMesType, message.PingMes{})
	plain.waitClosed()
	if plain.count(message.PongMesType) != 0 {
		t.Fatal("got a PongMes over plain TCP from a TLS server, want none")
	}
}

func TestMetricsAfterScriptedSession(t *testing.T) {
	r := needRedis(t)
	p, metricsAddr := startProcessWithMetrics(t, r)
	alice := user(t, p.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, p.Addr, 2, "bob", message.ProtoAck)
	if res := dial(t, p.Addr).login(1, "wrong-password", 2); res.Code != message.CodeWrongPassword {
		t.Fatalf("got %d, want 403", res.Code)
	}
	alice.send(message.SmsMesType, message.SmsMes{Content: "hello"})
	bob.next(message.SmsMesType, nil)
	alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "hi"})
	bob.next(message.PrivateMesType, nil)

	httpGet(t, "http://"+metricsAddr+"/healthz")
	body := httpGet(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{
		`chat_connections 3`,
		`chat_logins_total{result="ok"} 2`,
		`chat_logins_total{result="wrong_password"} 1`,
		`chat_messages_in_total{type="SmsMes"} 1`,
		`chat_messages_in_total{type="PrivateMes"} 1`,
		`chat_messages_out_total{type="SmsMes"} 1`,
		`chat_messages_out_total{type="PrivateMes"} 1`,
		`chat_private_delivery_seconds_count 1`,
		`chat_redis_seconds_count`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "wrong-password") {
		t.Error("/metrics shows a password")
	}
}

func TestSIGTERMDuringTraffic(t *testing.T) {
	r := needRedis(t)
	p := startProcess(t, r, "-node", "doomed")
	watcher := startNode(t, r, "survivor", nil)
	observer := user(t, watcher.Addr, 1000, "observer", message.ProtoAck)

	const senders = 5
	// Recipients 200..204 are offline: everything acknowledged must be kept.
	accepted := make([][]string, senders)
	var acceptedCount atomic.Int64
	var wg sync.WaitGroup
	clients := make([]*client, senders)
	for i := range clients {
		clients[i] = user(t, p.Addr, 100+i, fmt.Sprint("sender", i), message.ProtoAck)
		dial(t, watcher.Addr).register(200+i, "password", fmt.Sprint("rcpt", i))
	}
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10000; j++ {
				body, _ := message.EncodeFrame(message.PrivateMesType, message.PrivateMes{ToUserID: 200 + i, Content: fmt.Sprint(j)})
				if _, err := c.conn.Write(body); err != nil {
					return // the server went away
				}
				if !poll(waitTimeout, func() bool { return c.count(message.PrivateResMesType) > 0 || !c.isOpen() }) {
					return
				}
				f, ok := c.take(message.PrivateResMesType)
				if !ok {
					return // the server went away
				}
				if strings.Contains(f.Data, `"code":200`) {
					accepted[i] = append(accepted[i], fmt.Sprint(j))
					acceptedCount.Add(1)
				}
			}
		}()
	}
	checkFor(t, waitTimeout, "traffic", func() bool { return acceptedCount.Load() > 50 })
	p.Signal(t, syscall.SIGTERM, 15*time.Second)
	wg.Wait()

	// Everyone on the stopped node was shown offline to the other node's users.
	offline := map[int]bool{}
	checkFor(t, waitTimeout, "offline notices for every sender", func() bool {
		for {
			f, ok := observer.take(message.NotifyUserStatusMesType)
			if !ok {
				return len(offline) == senders
			}
			var n message.NotifyUserStatusMes
			if json.Unmarshal([]byte(f.Data), &n) == nil && n.Status == message.UserOffline {
				offline[n.UserID] = true
			}
		}
	})
	if got := r.Do(t, "ZCARD", "online"); got != int64(1) {
		t.Fatalf("got %v users online after the node stopped, want 1 (the observer)", got)
	}
	// Every acknowledged message reaches its recipient.
	for i := range senders {
		rc := dial(t, watcher.Addr)
		if res := rc.login(200+i, "password", message.ProtoAck); res.Code != message.CodeOK {
			t.Fatalf("recipient login: %+v", res)
		}
		for _, want := range accepted[i] {
			var got message.PrivateMes
			rc.next(message.PrivateMesType, &got)
			if got.Content != want {
				t.Fatalf("recipient %d: got %q, want %q (in order)", 200+i, got.Content, want)
			}
		}
		t.Logf("sender %d: %d messages acknowledged before SIGTERM, all delivered", i, len(accepted[i]))
	}
}
