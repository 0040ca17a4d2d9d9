package chat_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/chat"
	"chat/server/model"
)

// tokenLogin logs c in as id with a session token.
func (c *client) tokenLogin(id int, token string) message.LoginResMes {
	c.t.Helper()
	res := ask[message.LoginResMes](c, message.LoginMesType, message.LoginMes{UserID: id, Token: token, Proto: message.ProtoAck}, message.LoginResMesType)
	return res
}

// tokenKeys returns the session tokens Redis holds, by key.
func tokenKeys(t *testing.T, r *storage) []string {
	t.Helper()
	var keys []string
	for _, k := range r.Do(t, "KEYS", "token:*").([]any) {
		keys = append(keys, string(k.([]byte)))
	}
	return keys
}

func TestTokenLogin(t *testing.T) {
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	classic := dial(t, n.Addr)
	classic.register(1, "password", "ann")
	if res := classic.login(1, "password", message.ProtoClassic); res.Code != message.CodeOK || res.Token != "" {
		t.Fatalf("classic login: got %+v, want 200 without a token", res)
	}
	if keys := tokenKeys(t, r); len(keys) != 0 {
		t.Fatalf("a classic login left tokens %v in Redis, want none", keys)
	}

	pw := dial(t, n.Addr)
	res := pw.login(1, "password", message.ProtoAck)
	if res.Code != message.CodeOK || len(res.Token) < 26 { // 128 random bits take 26 base32 characters
		t.Fatalf("proto-2 password login: got %+v, want 200 with a token", res)
	}
	token := res.Token
	keys := tokenKeys(t, r)
	if len(keys) != 1 || strings.Contains(keys[0], token) {
		t.Fatalf("got token keys %v, want one that does not show the token %q", keys, token)
	}
	if v := r.Do(t, "GET", keys[0]).([]byte); strings.Contains(string(v), token) {
		t.Errorf("Redis holds the token in plaintext: %s", v)
	}
	if ttl := r.Do(t, "PTTL", keys[0]).(int64); ttl <= 0 || ttl > (7*24*time.Hour).Milliseconds() {
		t.Errorf("got the token's PTTL %d ms, want a positive TTL of at most 7 days", ttl)
	}

	again := dial(t, n.Addr)
	res = again.tokenLogin(1, token)
	if res.Code != message.CodeOK || res.UserName != "ann" || res.Token != token || res.OnlineCount != 1 {
		t.Fatalf("token login: got %+v, want 200 as ann with the same token", res)
	}
	var replaced message.ErrorResMes
	pw.next(message.ErrorResMesType, &replaced)
	if replaced.Code != message.CodeReplaced {
		t.Errorf("the password session got %+v, want 409: one session per user", replaced)
	}

	// A token is bound to its user.
	user(t, n.Addr, 2, "bob", message.ProtoAck).conn.Close()
	other := dial(t, n.Addr)
	if res := other.tokenLogin(2, token); res.Code != message.CodeWrongPassword || res.Token != "" {
		t.Errorf("bob with ann's token: got %+v, want 403", res)
	}
}

func TestTokenLoginNeedsExactlyOneCredential(t *testing.T) {
	n := startNode(t, newStorage(t), "n1", nil)
	user(t, n.Addr, 1, "ann", message.ProtoAck)
	for _, tc := range []struct {
		name string
		req  message.LoginMes
	}{
		{"password and token", message.LoginMes{UserID: 1, UserPwd: "password", Token: "x", Proto: message.ProtoAck}},
		{"token on a classic login", message.LoginMes{UserID: 1, Token: "x"}},
		{"token too long", message.LoginMes{UserID: 1, Token: strings.Repeat("x", message.MaxTokenLen+1), Proto: message.ProtoAck}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, n.Addr)
			res := ask[message.LoginResMes](c, message.LoginMesType, tc.req, message.LoginResMesType)
			if res.Code != message.CodeInvalid {
				t.Errorf("got %+v, want 422", res)
			}
		})
	}
}

func TestTokenSurvivesADropAndDiesWithLogout(t *testing.T) {
	r := newStorage(t)
	n1, n2 := startNode(t, r, "n1", nil), startNode(t, r, "n2", nil)
	c := dial(t, n1.Addr)
	c.register(1, "password", "ann")
	token := c.login(1, "password", message.ProtoAck).Token
	c.conn.Close() // the connection drops: the token stays good, on any node

	back := dial(t, n2.Addr)
	if res := back.tokenLogin(1, token); res.Code != message.CodeOK {
		t.Fatalf("token login after a drop: got %+v, want 200", res)
	}
	back.logout()
	if _, err := r.stores(t).Logins.CheckToken(context.Background(), 1, token, "127.0.0.1", model.LoginLimits{}); !errors.Is(err, model.ErrBadToken) {
		t.Errorf("the store's answer to the token after logout: got %v, want ErrBadToken", err)
	}
	if r.Server != nil {
		if keys := tokenKeys(t, r); len(keys) != 0 {
			t.Errorf("got token keys %v after logout, want none", keys)
		}
	}
	for _, addr := range []string{n1.Addr, n2.Addr} {
		if res := dial(t, addr).tokenLogin(1, token); res.Code != message.CodeWrongPassword {
			t.Errorf("token login at %s after logout: got %+v, want 403", addr, res)
		}
	}
}

func TestTokenExpires(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.TokenTTL = 300 * time.Millisecond })
	c := dial(t, n.Addr)
	c.register(1, "password", "ann")
	token := c.login(1, "password", message.ProtoAck).Token
	if token == "" {
		t.Fatal("got no token")
	}
	checkFor(t, waitTimeout, "the token to expire in the store", func() bool {
		_, err := r.stores(t).Logins.CheckToken(context.Background(), 1, token, "127.0.0.1", model.LoginLimits{})
		return errors.Is(err, model.ErrBadToken)
	})
	if res := dial(t, n.Addr).tokenLogin(1, token); res.Code != message.CodeWrongPassword {
		t.Errorf("expired token: got %+v, want 403", res)
	}
}

func TestWrongTokenCountsAsFailedLogin(t *testing.T) {
	n := startNode(t, newStorage(t), "n1", nil) // the harness allows 5 failures per user
	c := dial(t, n.Addr)
	c.register(1, "password", "ann")
	token := c.login(1, "password", message.ProtoAck).Token
	for i := range 5 {
		if res := dial(t, n.Addr).tokenLogin(1, "not-"+token); res.Code != message.CodeWrongPassword {
			t.Fatalf("wrong token %d: got %+v, want 403", i+1, res)
		}
	}
	if res := dial(t, n.Addr).tokenLogin(1, token); res.Code != message.CodeRateLimited {
		t.Errorf("the right token after 5 wrong ones: got %+v, want 429", res)
	}
	if res := dial(t, n.Addr).login(1, "password", message.ProtoAck); res.Code != message.CodeRateLimited {
		t.Errorf("the right password after 5 wrong tokens: got %+v, want 429", res)
	}
}

func TestPasswordWorkIsBounded(t *testing.T) {
	const workers, logins = 2, 6
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) {
		c.PasswordWorkers, c.PasswordWait = workers, waitTimeout
	})
	for id := 1; id <= logins; id++ {
		dial(t, n.Addr).register(id, "password", "u")
	}
	var mu sync.Mutex
	inside, most := 0, 0
	release := make(chan struct{})
	chat.SetPasswordHook(n.srv, func() {
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		<-release
		mu.Lock()
		inside--
		mu.Unlock()
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	clients := make([]*client, logins)
	for i := range clients {
		clients[i] = dial(t, n.Addr)
		clients[i].send(message.LoginMesType, message.LoginMes{UserID: i + 1, UserPwd: "password", Proto: message.ProtoAck})
	}
	checkFor(t, waitTimeout, "2 password checks running and 4 waiting", func() bool {
		running, waiting := chat.PasswordLoad(n.srv)
		return running == workers && waiting == logins-workers
	})
	close(release)
	released = true
	for i, c := range clients {
		var res message.LoginResMes
		c.next(message.LoginResMesType, &res)
		if res.Code != message.CodeOK {
			t.Errorf("login %d: got %+v, want 200", i+1, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most != workers {
		t.Errorf("got at most %d password checks at once, want %d", most, workers)
	}
}

func TestPasswordWorkTurnsAwayLongWaits(t *testing.T) {
	n := startNode(t, newStorage(t), "n1", func(c *chat.Config) {
		c.PasswordWorkers, c.PasswordWait = 1, 100*time.Millisecond
	})
	for id := 1; id <= 3; id++ {
		dial(t, n.Addr).register(id, "password", "u")
	}
	token := dial(t, n.Addr).login(3, "password", message.ProtoAck).Token

	entered, release := make(chan struct{}, 1), make(chan struct{})
	chat.SetPasswordHook(n.srv, func() {
		entered <- struct{}{}
		<-release
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	first := dial(t, n.Addr)
	first.send(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password", Proto: message.ProtoAck})
	<-entered // the only slot is taken

	second := dial(t, n.Addr)
	res := second.login(2, "password", message.ProtoAck)
	if res.Code != message.CodeServerError || res.RetryAfter <= 0 {
		t.Fatalf("password login while the pool is full: got %+v, want 505 with retryAfter", res)
	}
	reg := dial(t, n.Addr).register(4, "password", "u")
	if reg.Code != message.CodeServerError || reg.RetryAfter <= 0 {
		t.Errorf("register while the pool is full: got %+v, want 505 with retryAfter", reg)
	}
	if res := dial(t, n.Addr).tokenLogin(3, token); res.Code != message.CodeOK {
		t.Errorf("token login while the pool is full: got %+v, want 200", res)
	}

	chat.SetPasswordHook(n.srv, nil)
	close(release)
	released = true
	var firstRes message.LoginResMes
	first.next(message.LoginResMesType, &firstRes)
	if firstRes.Code != message.CodeOK {
		t.Errorf("the login that held the slot: got %+v, want 200", firstRes)
	}
	if res := second.login(2, "password", message.ProtoAck); res.Code != message.CodeOK {
		t.Errorf("the turned-away login, tried again: got %+v, want 200", res)
	}
}
