package chat_test

// Integration tests of the server core (docs/PROTOCOL.md): register, login,
// sessions, online list, presence and the login guards, black-box over TCP
// against a real Redis.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"chat/common/message"
	"chat/server/chat"
)

// writeAtOnce writes frameOf(i) to each clients[i], from one goroutine each, all
// released at once so that the server sees the requests race; it fails t if a
// write fails.
func writeAtOnce(t testing.TB, clients []*client, frameOf func(i int) []byte) {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			_, errs[i] = clients[i].conn.Write(frameOf(i))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// takeNotifies removes and returns every waiting NotifyUserStatusMes.
func takeNotifies(c *client) []message.NotifyUserStatusMes {
	c.t.Helper()
	var out []message.NotifyUserStatusMes
	for {
		f, ok := c.take(message.NotifyUserStatusMesType)
		if !ok {
			return out
		}
		out = append(out, decode[message.NotifyUserStatusMes](c.t, f))
	}
}

// storedUser reads the users hash entry of id.
func storedUser(t testing.TB, r *storage, id int) (message.User, string) {
	t.Helper()
	raw, ok := r.Do(t, "HGET", "users", fmt.Sprint(id)).([]byte)
	if !ok {
		t.Fatalf("HGET users %d: no value", id)
	}
	var u message.User
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("users %d holds %q: %v", id, raw, err)
	}
	return u, string(raw)
}

func isBcrypt(hash, pwd string) bool {
	return strings.HasPrefix(hash, "$2") && bcrypt.CompareHashAndPassword([]byte(hash), []byte(pwd)) == nil
}

func TestUserRegisterCodes(t *testing.T) {
	_, n := startOneNode(t)
	c := dial(t, n.Addr)
	if res := c.register(1, "password", "first"); res.Code != message.CodeOK || res.Error != "" {
		t.Fatalf("first register: got %+v, want code 200 and empty error", res)
	}

	tests := []struct {
		name    string
		id      int
		pwd     string
		user    string
		want    int
		created bool // the id can log in with pwd afterwards
	}{
		{"taken", 1, "password", "again", message.CodeUserExists, false},
		{"id 0", 0, "password", "zero", message.CodeInvalid, false},
		{"id -1", -1, "password", "neg", message.CodeInvalid, false},
		{"id 2147483648", 2147483648, "password", "big", message.CodeInvalid, false},
		{"id 2147483647", 2147483647, "password", "max", message.CodeOK, true},
		{"password 5 bytes", 10, "12345", "p5", message.CodeInvalid, false},
		{"password 73 bytes", 11, strings.Repeat("x", 73), "p73", message.CodeInvalid, false},
		{"password 6 bytes", 12, "123456", "p6", message.CodeOK, true},
		{"password 72 bytes", 13, strings.Repeat("y", 72), "p72", message.CodeOK, true},
		{"password 6 bytes of 3 runes", 14, "ééé", "p2r", message.CodeOK, true},
		{"userName empty", 20, "password", "", message.CodeInvalid, false},
		{"userName 33 characters", 21, "password", strings.Repeat("a", 33), message.CodeInvalid, false},
		{"userName with \\x01", 22, "password", "bad\x01name", message.CodeInvalid, false},
		{"userName with newline", 23, "password", "bad\nname", message.CodeInvalid, false},
		{"userName with DEL", 24, "password", "bad\x7fname", message.CodeInvalid, false},
		{"userName with U+0085", 29, "password", "bad\u0085name", message.CodeInvalid, false},
		{"userName 33 multi-byte characters", 25, "password", strings.Repeat("张", 33), message.CodeInvalid, false},
		{"userName 32 multi-byte characters", 26, "password", strings.Repeat("张", 32), message.CodeOK, true},
		{"userName 32 ascii characters", 27, "password", strings.Repeat("b", 32), message.CodeOK, true},
		{"userName 1 character", 28, "password", "z", message.CodeOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.register(tt.id, tt.pwd, tt.user)
			if res.Code != tt.want {
				t.Errorf("got code %d (%q), want %d", res.Code, res.Error, tt.want)
			}
			if (res.Code == message.CodeOK) != (res.Error == "") {
				t.Errorf("got error %q with code %d, want an error exactly when the code is not 200", res.Error, res.Code)
			}
			if tt.id < 1 || tt.id > message.MaxUserID || tt.name == "taken" {
				return
			}
			pwd := tt.pwd
			if !tt.created {
				pwd = "password" // a valid password: the answer is about the account
			}
			l := dial(t, n.Addr)
			got := l.login(tt.id, pwd, 0)
			if tt.created && got.Code != message.CodeOK {
				t.Errorf("login after register: got %+v, want code 200", got)
			}
			if tt.created && got.UserName != tt.user {
				t.Errorf("login after register: got userName %q, want %q", got.UserName, tt.user)
			}
			if !tt.created && got.Code != message.CodeUserNotFound {
				t.Errorf("login after a refused register: got %+v, want code 500 (no such user)", got)
			}
		})
	}
	// The taken id still holds the first registration.
	if res := dial(t, n.Addr).login(1, "password", 0); res.Code != message.CodeOK || res.UserName != "first" {
		t.Errorf("login 1: got %+v, want code 200 and userName first", res)
	}
}

func TestUserRegisterConcurrentDuplicate(t *testing.T) {
	_, n := startOneNode(t)
	const N = 20
	clients := make([]*client, N)
	frames := make([][]byte, N)
	for i := range clients {
		clients[i] = dial(t, n.Addr)
		body, _ := message.EncodeFrame(message.RegisterMesType, message.RegisterMes{User: message.User{
			UserID: 42, UserPwd: fmt.Sprintf("password-%d", i), UserName: fmt.Sprintf("name-%d", i)}})
		frames[i] = body
	}
	writeAtOnce(t, clients, func(i int) []byte { return frames[i] })
	winner := -1
	codes := map[int]int{}
	for i, c := range clients {
		var res message.RegisterResMes
		c.next(message.RegisterResMesType, &res)
		codes[res.Code]++
		if res.Code == message.CodeOK {
			winner = i
		}
	}
	if codes[message.CodeOK] != 1 || codes[message.CodeUserExists] != N-1 {
		t.Fatalf("got codes %v, want exactly one 200 and %d times 400", codes, N-1)
	}
	// The stored account is the winner's: its password and name.
	l := dial(t, n.Addr)
	if res := l.login(42, fmt.Sprintf("password-%d", winner), 0); res.Code != message.CodeOK || res.UserName != fmt.Sprintf("name-%d", winner) {
		t.Errorf("login with the winner's password: got %+v, want 200 and name-%d", res, winner)
	}
}

func TestUserLoginCodes(t *testing.T) {
	r, n := startOneNode(t)
	const pwd = "S3cret-Pa55word"
	reg := dial(t, n.Addr)
	if res := reg.register(7, pwd, "seven"); res.Code != message.CodeOK {
		t.Fatalf("register 7: %+v", res)
	}
	other := user(t, n.Addr, 8, "eight", 0)

	tests := []struct {
		name string
		id   int
		pwd  string
		want int
	}{
		{"no such user", 9, pwd, message.CodeUserNotFound},
		{"wrong password", 7, pwd + "x", message.CodeWrongPassword},
		{"empty password", 7, "", message.CodeInvalid},
		{"ok", 7, pwd, message.CodeOK},
	}
	var seen []received
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, n.Addr)
			c.send(message.LoginMesType, message.LoginMes{UserID: tt.id, UserPwd: tt.pwd, UserName: "ignored"})
			f := c.nextRaw(message.LoginResMesType)
			seen = append(seen, f)
			res := decode[message.LoginResMes](t, f)
			if res.Code != tt.want {
				t.Fatalf("got %+v, want code %d", res, tt.want)
			}
			if (res.Code == message.CodeOK) != (res.Error == "") {
				t.Errorf("got error %q with code %d, want an error exactly when the code is not 200", res.Error, res.Code)
			}
			if res.Code != message.CodeOK {
				return
			}
			if !slices.Contains(res.UsersId, 7) || !slices.Contains(res.UsersId, 8) {
				t.Errorf("got UsersId %v, want it to hold 7 (own) and 8", res.UsersId)
			}
			if res.UserName != "seven" {
				t.Errorf("got userName %q, want seven (the registered name, not LoginMes's)", res.UserName)
			}
			if res.OnlineCount != 2 {
				t.Errorf("got onlineCount %d, want 2", res.OnlineCount)
			}
			if !strings.Contains(f.Data, `"UsersId"`) {
				t.Errorf("got data %s, want the classic field name UsersId", f.Data)
			}
			// What the others see of this login carries no password either.
			seen = append(seen, other.nextRaw(message.NotifyUserStatusMesType))
			c.ping()
			c.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: 10})
			seen = append(seen, c.nextRaw(message.OnlineUsersResMesType))
			c.send(message.SmsMesType, message.SmsMes{Content: "hello", UserID: 7, UserName: "seven"})
			seen = append(seen, other.nextRaw(message.SmsMesType))
		})
	}
	for _, f := range seen {
		if strings.Contains(f.Data, pwd) {
			t.Errorf("got %s %s, want no password in it", f.Type, f.Data)
		}
	}
	if u, err := r.stores(t).Users.Authenticate(context.Background(), 7, pwd); err != nil || u.UserName != "seven" {
		t.Errorf("the stored account of 7: got %+v, %v, want seven with the password", u, err)
	}
	if r.Server == nil {
		return // what Redis holds, below
	}
	u, raw := storedUser(t, r, 7)
	if strings.Contains(raw, pwd) || !isBcrypt(u.UserPwd, pwd) {
		t.Errorf("got users[7] = %s, want a bcrypt hash of the password and no plaintext", raw)
	}
	if u.UserID != 7 || u.UserName != "seven" {
		t.Errorf("got users[7] = %s, want userId 7 and userName seven", raw)
	}
}

func TestUserLegacyPlaintextPassword(t *testing.T) {
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	r.Do(t, "HSET", "users", "100", `{"userId":100,"userPwd":"123456","userName":"scott"}`)
	r.Do(t, "HSET", "users", "101", `{"userId":101,"userPwd":"abcdef","userName":"tiger"}`)

	// A wrong password against a plaintext record is refused and changes nothing.
	if res := dial(t, n.Addr).login(101, "abcdeg", 0); res.Code != message.CodeWrongPassword {
		t.Errorf("wrong password of plaintext user: got %+v, want 403", res)
	}
	if _, raw := storedUser(t, r, 101); raw != `{"userId":101,"userPwd":"abcdef","userName":"tiger"}` && !strings.Contains(raw, `"$2`) {
		t.Errorf("got users[101] = %s after a failed login, want it unchanged or hashed", raw)
	}

	c1 := dial(t, n.Addr)
	if res := c1.login(100, "123456", 0); res.Code != message.CodeOK || res.UserName != "scott" || !slices.Contains(res.UsersId, 100) {
		t.Fatalf("first login: got %+v, want 200, scott, own id listed", res)
	}
	u, raw := storedUser(t, r, 100)
	if strings.Contains(raw, `"123456"`) || !isBcrypt(u.UserPwd, "123456") {
		t.Errorf("got users[100] = %s after the first login, want a bcrypt hash and no plaintext", raw)
	}
	if u.UserID != 100 || u.UserName != "scott" {
		t.Errorf("got users[100] = %s, want userId 100 and userName scott kept", raw)
	}
	c1.logout()

	tests := []struct {
		name string
		pwd  string
		want int
	}{
		{"again with the password", "123456", message.CodeOK},
		{"wrong password", "1234567", message.CodeWrongPassword},
		{"the stored hash as password", u.UserPwd, message.CodeWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := dial(t, n.Addr).login(100, tt.pwd, 0); res.Code != tt.want {
				t.Errorf("got %+v, want code %d", res, tt.want)
			}
		})
	}
}

func TestUserSecondLoginReplacesFirst(t *testing.T) {
	_, n := startOneNode(t)
	first := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)

	second := dial(t, n.Addr)
	res := second.login(1, "password", message.ProtoAck)
	if res.Code != message.CodeOK || !slices.Contains(res.UsersId, 1) || !slices.Contains(res.UsersId, 2) || res.OnlineCount != 2 {
		t.Fatalf("second login: got %+v, want 200 with UsersId [1 2] and onlineCount 2", res)
	}
	first.waitClosed()
	e := nextAs[message.ErrorResMes](first, message.ErrorResMesType)
	if e.Code != message.CodeReplaced || e.Error == "" {
		t.Errorf("first session: got %+v, want ErrorResMes code 409 with an error", e)
	}
	if first.count(message.PongMesType) != 0 {
		t.Errorf("first session answered after it was replaced")
	}

	// The user stays online through the old session's end: ask a few times, with
	// round trips between, so that a late cleanup of the old session shows up.
	for i := range 3 {
		second.ping()
		page := bob.onlineUsers(0, 10)
		ids := []int{}
		for _, u := range page.Users {
			ids = append(ids, u.UserID)
		}
		if page.Code != message.CodeOK || page.Total != 2 || !slices.Equal(ids, []int{1, 2}) {
			t.Fatalf("query %d after the first session closed: got %+v, want users 1 and 2", i, page)
		}
	}
	// Bob may be told of the replacement, but his view must end with 1 online.
	last := message.UserOnline
	for _, nt := range takeNotifies(bob) {
		if nt.UserID == 1 {
			last = nt.Status
		}
	}
	if last != message.UserOnline {
		t.Errorf("bob's last notification about 1 says status %d, want 0 (online): the user is still online", last)
	}
	// The new session works: it chats with bob and bob with it.
	second.send(message.SmsMesType, message.SmsMes{Content: "from the new session"})
	var sms message.SmsMes
	bob.next(message.SmsMesType, &sms)
	if sms.UserID != 1 || sms.Content != "from the new session" {
		t.Errorf("bob got %+v, want the message of user 1", sms)
	}
	bob.send(message.PrivateMesType, message.PrivateMes{ToUserID: 1, Content: "back"})
	var pm message.PrivateMes
	second.next(message.PrivateMesType, &pm)
	if pm.FromUserID != 2 || pm.Content != "back" {
		t.Errorf("second session got %+v, want back from 2", pm)
	}
}

func TestUserSecondLoginReplacesFirstAcrossNodes(t *testing.T) {
	n1, n2 := startTwoNodes(t)
	first := user(t, n1.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n1.Addr, 2, "bob", message.ProtoAck)
	second := dial(t, n2.Addr)
	if res := second.login(1, "password", message.ProtoAck); res.Code != message.CodeOK || res.OnlineCount != 2 {
		t.Fatalf("second login on n2: got %+v, want 200 and onlineCount 2", res)
	}
	first.waitClosed()
	if e := nextAs[message.ErrorResMes](first, message.ErrorResMesType); e.Code != message.CodeReplaced {
		t.Errorf("first session on n1: got %+v, want ErrorResMes 409", e)
	}
	// Messages to 1 now reach the session on n2.
	bob.send(message.PrivateMesType, message.PrivateMes{ToUserID: 1, Content: "where are you"})
	var pm message.PrivateMes
	second.next(message.PrivateMesType, &pm)
	if pm.Content != "where are you" || pm.FromUserID != 2 {
		t.Errorf("second session got %+v, want the message of 2", pm)
	}
	second.ping()
	if res := bob.onlineUsers(0, 10); res.Total != 2 {
		t.Errorf("online list: got %+v, want 1 and 2", res)
	}
}

func TestUserConcurrentLoginsOneSurvives(t *testing.T) {
	n1, n2 := startTwoNodes(t)
	bob := user(t, n1.Addr, 2, "bob", 0)
	if res := bob.register(1, "password", "alice"); res.Code != message.CodeOK {
		t.Fatalf("register: %+v", res)
	}
	const N = 10
	body, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password", Proto: message.ProtoAck})
	login := body
	clients := make([]*client, N)
	for i := range clients {
		addr := n1.Addr
		if i%2 == 1 {
			addr = n2.Addr
		}
		// From addresses of their own: a login counts as a failure until its
		// password is found right, and one address may have 5 in flight.
		clients[i] = dialFrom(t, addr, fmt.Sprint("127.0.0.", 2+i))
	}
	writeAtOnce(t, clients, func(int) []byte { return login })
	for i, c := range clients {
		// Every login gets its answer, also one replaced at once by a newer login.
		f := c.nextOf(message.LoginResMesType, message.ErrorResMesType)
		if f.Type == message.ErrorResMesType {
			c.mu.Lock()
			t.Errorf("login %d: got %s %s and then %+v (closed: %v), want LoginResMes 200 first", i, f.Type, f.Data, c.frames, c.err)
			c.mu.Unlock()
			c.frames = append([]received{f}, c.frames...)
			continue
		}
		res := decode[message.LoginResMes](t, f)
		if res.Code != message.CodeOK {
			t.Errorf("login %d: got %+v, want 200", i, res)
		}
	}
	closed := func() int {
		k := 0
		for _, c := range clients {
			if !c.isOpen() {
				k++
			}
		}
		return k
	}
	checkFor(t, waitTimeout, fmt.Sprintf("%d replaced sessions to close", N-1), func() bool { return closed() >= N-1 })
	var survivor *client
	for i, c := range clients {
		if c.isOpen() {
			survivor = c
			continue
		}
		if e := nextAs[message.ErrorResMes](c, message.ErrorResMesType); e.Code != message.CodeReplaced {
			t.Errorf("closed session %d: got %+v, want ErrorResMes 409", i, e)
		}
	}
	if survivor == nil {
		t.Fatalf("got all %d sessions closed, want one left", N)
	}
	survivor.ping()
	bob.send(message.PrivateMesType, message.PrivateMes{ToUserID: 1, Content: "to the survivor"})
	var pm message.PrivateMes
	survivor.next(message.PrivateMesType, &pm)
	if res := bob.onlineUsers(0, 10); res.Total != 2 || len(res.Users) != 2 {
		t.Errorf("online list: got %+v, want 1 once and 2", res)
	}
	if k := closed(); k != N-1 {
		t.Errorf("got %d sessions closed, want %d", k, N-1)
	}
}

func TestUserOnlineListPages(t *testing.T) {
	_, n := startOneNode(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	perm := rng.Perm(1000)
	var ids []int
	for _, p := range perm[:12] {
		ids = append(ids, p+1)
	}
	t.Logf("login order %v", ids)
	var clients []*client
	for _, id := range ids {
		clients = append(clients, user(t, n.Addr, id, fmt.Sprintf("user-%d", id), 0))
	}
	want := slices.Sorted(slices.Values(ids))
	// Not clients[0]: that one logs out at the end, and the asker must stay.
	asker := clients[1+rng.IntN(len(clients)-1)]

	tests := []struct {
		offset, limit int
		want          []int
	}{
		{0, 5, want[0:5]},
		{5, 5, want[5:10]},
		{10, 5, want[10:12]},
		{0, 12, want},
		{0, 500, want},
		{3, 1, want[3:4]},
		{11, 1, want[11:12]},
		{12, 5, nil},
		{100, 500, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("offset %d limit %d", tt.offset, tt.limit), func(t *testing.T) {
			res := asker.onlineUsers(tt.offset, tt.limit)
			if res.Code != message.CodeOK || res.Error != "" {
				t.Fatalf("got %+v, want code 200", res)
			}
			if res.Total != 12 {
				t.Errorf("got total %d, want 12", res.Total)
			}
			got := []int{}
			for _, u := range res.Users {
				got = append(got, u.UserID)
				if u.UserName != fmt.Sprintf("user-%d", u.UserID) {
					t.Errorf("got name %q for %d, want user-%d", u.UserName, u.UserID, u.UserID)
				}
			}
			if !slices.Equal(got, append([]int{}, tt.want...)) {
				t.Errorf("got ids %v, want %v", got, tt.want)
			}
		})
	}
	for _, limit := range []int{0, -1, 501} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			asker.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: limit})
			f := asker.nextOf(message.OnlineUsersResMesType, message.ErrorResMesType)
			res := decode[message.OnlineUsersResMes](t, f)
			if res.Code != message.CodeInvalid || res.Error == "" || len(res.Users) != 0 {
				t.Errorf("got %s %s, want code 422 with an error and no users", f.Type, f.Data)
			}
			if f.Type != message.OnlineUsersResMesType {
				t.Errorf("got the answer as %s, want OnlineUsersResMes (the request has a response type of its own)", f.Type)
			}
			asker.ping()
		})
	}
	t.Run("negative offset", func(t *testing.T) {
		asker.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: -1, Limit: 5})
		f := asker.nextOf(message.OnlineUsersResMesType, message.ErrorResMesType)
		res := decode[message.OnlineUsersResMes](t, f)
		if res.Code != message.CodeInvalid && !(res.Code == message.CodeOK && slices.ContainsFunc(res.Users, func(u message.OnlineUser) bool { return u.UserID == want[0] })) {
			t.Errorf("got %s %s, want 422 or the first page", f.Type, f.Data)
		}
	})
	// A user who logs out leaves the list.
	gone := clients[0]
	gone.logout()
	res := asker.onlineUsers(0, 500)
	if res.Total != 11 || len(res.Users) != 11 || slices.ContainsFunc(res.Users, func(u message.OnlineUser) bool { return u.UserID == ids[0] }) {
		t.Errorf("after %d logged out: got %+v, want 11 users without it", ids[0], res)
	}
}

func TestUserPresenceNotifications(t *testing.T) {
	_, n := startOneNode(t)
	a := user(t, n.Addr, 1, "alice", 0)
	b := user(t, n.Addr, 2, "bob", 0)
	if got := nextAs[message.NotifyUserStatusMes](a, message.NotifyUserStatusMesType); got != (message.NotifyUserStatusMes{UserID: 2, Status: message.UserOnline, UserName: "bob"}) {
		t.Errorf("a on b's login: got %+v, want 2 online bob", got)
	}
	c := user(t, n.Addr, 3, "carol", 0)
	for _, who := range []*client{a, b} {
		if got := nextAs[message.NotifyUserStatusMes](who, message.NotifyUserStatusMesType); got != (message.NotifyUserStatusMes{UserID: 3, Status: message.UserOnline, UserName: "carol"}) {
			t.Errorf("on c's login: got %+v, want 3 online carol", got)
		}
	}
	c.ping()
	for _, nt := range takeNotifies(c) {
		if nt.UserID == 3 {
			t.Errorf("c got %+v about itself, want no notification to self", nt)
		}
	}

	// LogoutMes: c is told nothing more, a and b see it offline.
	c.logout()
	for _, who := range []*client{a, b} {
		if got := nextAs[message.NotifyUserStatusMes](who, message.NotifyUserStatusMesType); got.UserID != 3 || got.Status != message.UserOffline {
			t.Errorf("on c's logout: got %+v, want 3 offline", got)
		}
	}

	// A dropped connection: b closes its socket.
	b.conn.Close()
	if got := nextAs[message.NotifyUserStatusMes](a, message.NotifyUserStatusMesType); got.UserID != 2 || got.Status != message.UserOffline {
		t.Errorf("on b's drop: got %+v, want 2 offline", got)
	}
	a.ping()
	if left := takeNotifies(a); len(left) != 0 {
		t.Errorf("a got extra notifications %+v", left)
	}
	res := a.onlineUsers(0, 10)
	if res.Total != 1 || len(res.Users) != 1 || res.Users[0].UserID != 1 {
		t.Errorf("online list after the logout and the drop: got %+v, want only 1", res)
	}
}

func TestUserPresenceLimit(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.PresenceLimit = 2 })
	a := user(t, n.Addr, 1, "alice", 0)
	b := user(t, n.Addr, 2, "bob", 0)
	// Two online: at the limit, presence is still sent.
	if got := nextAs[message.NotifyUserStatusMes](a, message.NotifyUserStatusMesType); got.UserID != 2 || got.Status != message.UserOnline {
		t.Fatalf("a on b's login (2 online, limit 2): got %+v, want 2 online", got)
	}
	c := user(t, n.Addr, 3, "carol", 0)
	c.ping()
	for _, who := range []*client{a, b} {
		who.ping()
		for _, nt := range takeNotifies(who) {
			if nt.UserID == 3 {
				t.Errorf("got %+v with 3 online and limit 2, want no notification", nt)
			}
		}
	}
	// The list still shows everyone.
	if res := a.onlineUsers(0, 10); res.Total != 3 || len(res.Users) != 3 {
		t.Errorf("online list: got %+v, want 3 users", res)
	}
}

func TestUserLoginRequired(t *testing.T) {
	_, n := startOneNode(t)
	bob := user(t, n.Addr, 2, "bob", 0)
	c := dial(t, n.Addr)
	c.ping() // PingMes works before login

	tests := []struct {
		typ     string
		payload any
	}{
		{message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: 10}},
		{message.SmsMesType, message.SmsMes{Content: "hi all", UserID: 2, UserName: "bob"}},
		{message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "hi bob"}},
		{message.AckMesType, message.AckMes{MsgIDs: []string{"1-0"}}},
		{message.LogoutMesType, message.LogoutMes{}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			c.send(tt.typ, tt.payload)
			e := nextAs[message.ErrorResMes](c, message.ErrorResMesType)
			if e.Code != message.CodeUnauthorized || e.RefType != tt.typ || e.Error == "" {
				t.Errorf("got %+v, want code 401, refType %s and an error", e, tt.typ)
			}
			c.ping()
		})
	}
	// Nothing of it reached bob, and after all that c can still log in.
	if res := c.register(3, "password", "carol"); res.Code != message.CodeOK {
		t.Fatalf("register: got %+v", res)
	}
	c.mustLogin(3, 0)
	bob.next(message.NotifyUserStatusMesType, nil)
	bob.ping()
	if k := bob.count(message.SmsMesType) + bob.count(message.PrivateMesType); k != 0 {
		t.Errorf("bob got %d messages sent before login, want 0", k)
	}
	if res := c.onlineUsers(0, 10); res.Code != message.CodeOK || res.Total != 2 {
		t.Errorf("online list after login: got %+v, want 200 and 2 users", res)
	}
}

func TestUserLoginTimeout(t *testing.T) {
	r := newStorage(t)
	const timeout = 300 * time.Millisecond
	n := startNode(t, r, "n1", func(c *chat.Config) { c.LoginTimeout = timeout })
	in := user(t, n.Addr, 1, "alice", 0)

	start := time.Now()
	silent := dial(t, n.Addr)
	registered := dial(t, n.Addr)
	if res := registered.register(2, "password", "bob"); res.Code != message.CodeOK {
		t.Fatalf("register: %+v", res)
	}
	failed := dial(t, n.Addr)
	if res := failed.login(2, "wrong-password", 0); res.Code != message.CodeWrongPassword {
		t.Fatalf("login: got %+v, want 403", res)
	}
	pinging := dial(t, n.Addr)
	pinging.ping()

	for name, c := range map[string]*client{"silent": silent, "registered only": registered, "failed login": failed, "pinging": pinging} {
		c.waitClosed()
		if d := time.Since(start); d < timeout-50*time.Millisecond {
			t.Errorf("%s: closed after %v, want not before the login timeout %v", name, d, timeout)
		}
	}
	// Well past the timeout: the logged-in connection is still served.
	if !in.isOpen() {
		t.Fatalf("the logged-in connection was closed")
	}
	in.ping()
	if res := in.onlineUsers(0, 10); res.Code != message.CodeOK || res.Total != 1 {
		t.Errorf("got %+v, want 200 and only user 1 online", res)
	}
}

func TestUserLoginRateLimit(t *testing.T) {
	_, n := startOneNode(t)
	c := dial(t, n.Addr)
	for _, id := range []int{1, 2} {
		if res := c.register(id, "password", fmt.Sprint("u", id)); res.Code != message.CodeOK {
			t.Fatalf("register %d: %+v", id, res)
		}
	}
	// loginCode sends LoginMes and returns the code of the answer, accepting 429 as
	// LoginResMes or ErrorResMes (refType LoginMes).
	loginCode := func(t *testing.T, c *client, id int, pwd string) int {
		t.Helper()
		c.send(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: pwd})
		f := c.nextOf(message.LoginResMesType, message.ErrorResMesType)
		t.Logf("got %s %s", f.Type, f.Data)
		if f.Type == message.ErrorResMesType {
			e := decode[message.ErrorResMes](t, f)
			if e.RefType != message.LoginMesType {
				t.Errorf("got %+v, want refType LoginMes", e)
			}
			return e.Code
		}
		res := decode[message.LoginResMes](t, f)
		if res.Code != message.CodeOK && len(res.UsersId) != 0 {
			t.Errorf("got %+v, want no online list in a refused login", res)
		}
		return res.Code
	}
	tests := []struct {
		name string
		id   int
		pwd  string
		want int
	}{
		{"wrong 1", 1, "wrong-1", message.CodeWrongPassword},
		{"wrong 2", 1, "wrong-2", message.CodeWrongPassword},
		{"wrong 3", 1, "wrong-3", message.CodeWrongPassword},
		{"wrong 4", 1, "wrong-4", message.CodeWrongPassword},
		{"wrong 5", 1, "wrong-5", message.CodeWrongPassword},
		{"wrong 6", 1, "wrong-6", message.CodeRateLimited},
		{"right password after", 1, "password", message.CodeRateLimited},
		{"other id", 2, "password", message.CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := c
			if tt.name == "right password after" || tt.name == "other id" {
				conn = dial(t, n.Addr) // the limit is per user id, not per connection
			}
			if got := loginCode(t, conn, tt.id, tt.pwd); got != tt.want {
				t.Errorf("got code %d, want %d", got, tt.want)
			}
		})
	}
}

// TestUserConcurrentLoginsStayOnline repeats two simultaneous logins of one user on
// one node: whichever wins, the user must stay online with one live session.
func TestUserConcurrentLoginsStayOnline(t *testing.T) {
	_, n := startOneNode(t)
	bob := user(t, n.Addr, 2, "bob", 0)
	if res := bob.register(1, "password", "alice"); res.Code != message.CodeOK {
		t.Fatalf("register: %+v", res)
	}
	body, _ := message.EncodeFrame(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password", Proto: message.ProtoAck})
	login := body
	var prev []*client
	for round := range 15 {
		cs := []*client{dial(t, n.Addr), dial(t, n.Addr)}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() { c.conn.Write(login) })
		}
		wg.Wait()
		all := append(prev, cs...)
		checkFor(t, waitTimeout, "all but one session to close", func() bool {
			open := 0
			for _, c := range all {
				if c.isOpen() {
					open++
				}
			}
			return open <= 1
		})
		var live *client
		for _, c := range all {
			if c.isOpen() {
				live = c
			}
		}
		if live == nil {
			t.Fatalf("round %d: every session closed", round)
		}
		live.ping()
		res := ask[message.PrivateResMes](bob, message.PrivateMesType, message.PrivateMes{ToUserID: 1, Content: fmt.Sprint("round ", round)}, message.PrivateResMesType)
		if res.Stored {
			t.Fatalf("round %d: got %+v, want the message delivered to the live session, not stored", round, res)
		}
		var pm message.PrivateMes
		live.next(message.PrivateMesType, &pm)
		if page := bob.onlineUsers(0, 10); page.Total != 2 {
			t.Fatalf("round %d: online list %+v, want users 1 and 2", round, page)
		}
		prev = []*client{live}
	}
}
