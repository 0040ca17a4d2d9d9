package chat_test

// The harness's protocol client: one connection, a goroutine that reads every
// frame into a list, and methods that send requests and take answers from it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chat/common/frame"
	"chat/common/message"
)

// wire is the sending side of a test connection, shared by client and rawConn.
type wire struct {
	t    testing.TB
	conn net.Conn
}

// received is one frame a client got. The users of a NotifyUsersStatusMes are
// kept as a NotifyUserStatusMes each, marked listed, after the frame itself,
// but for the client's own user, which a client skips (PROTOCOL.md): the tests
// of what a user learns of presence hold for both kinds of session.
type received struct {
	Type   string
	Data   string
	Listed bool
}

// client speaks the protocol over one connection. A goroutine reads every frame
// into a list; the next* and take* methods take frames from it in order.
type client struct {
	wire

	mu     sync.Mutex
	self   int // the user login logged in as
	frames []received
	err    error // why reading stopped (io.EOF when the server closed)
}

// dial connects a client to addr; the connection is closed at t's cleanup.
func dial(t testing.TB, addr string) *client {
	t.Helper()
	return dialOwned(t, t, addr)
}

// dialOwned is dial for a connection that outlives the subtest t: owner closes it
// at its cleanup.
func dialOwned(owner, t testing.TB, addr string) *client {
	t.Helper()
	nc, err := dialTCP(owner, addr)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(owner, t, nc)
}

// dialTCP connects to addr within waitTimeout; owner closes the connection at its
// cleanup.
func dialTCP(owner testing.TB, addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		return nil, err
	}
	owner.Cleanup(func() { nc.Close() })
	return nc, nil
}

// newClient starts reading frames from nc, for t; owner closes nc at its cleanup.
func newClient(owner, t testing.TB, nc net.Conn) *client {
	c := &client{wire: wire{t: t, conn: nc}}
	go c.readLoop()
	owner.Cleanup(func() { nc.Close() })
	return c
}

// bind makes cs fail subtest t (not the test that created them) until t ends, so
// that a subtest may use clients its parent logged in.
func bind(t testing.TB, cs ...*client) {
	for _, c := range cs {
		old := c.t
		c.t = t
		t.Cleanup(func() { c.t = old })
	}
}

func (c *client) readLoop() {
	for {
		body, err := frame.Read(c.conn, 1<<20, nil)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var env message.Message
		if err := json.Unmarshal(body, &env); err != nil {
			c.mu.Lock()
			c.err = errors.New("server sent a body that is not an envelope: " + string(body))
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, received{Type: env.Type, Data: env.Data})
		c.frames = append(c.frames, listedStatuses(env, c.self)...)
		c.mu.Unlock()
	}
}

// listedStatuses returns the users of a NotifyUsersStatusMes but self as frames
// of NotifyUserStatusMes, marked listed; nothing for other frames.
func listedStatuses(env message.Message, self int) []received {
	var m message.NotifyUsersStatusMes
	if env.Type != message.NotifyUsersStatusMesType || json.Unmarshal([]byte(env.Data), &m) != nil {
		return nil
	}
	out := make([]received, 0, len(m.Users))
	for _, u := range m.Users {
		if u.UserID == self {
			continue
		}
		data, _ := json.Marshal(u)
		out = append(out, received{Type: message.NotifyUserStatusMesType, Data: string(data), Listed: true})
	}
	return out
}

// ---- sending ----

// send sends a message whose data is the JSON of payload, encoded the classic way.
func (c *wire) send(typ string, payload any) {
	c.t.Helper()
	if err := c.write(typ, payload); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// write is send for goroutines, which must not fail the test.
func (c *wire) write(typ string, payload any) error {
	f, err := message.EncodeFrame(typ, payload)
	if err != nil {
		return err
	}
	_, err = c.conn.Write(f)
	return err
}

// sendRaw writes bytes as they are.
func (c *wire) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// ---- taking what came ----

// takeFirst removes and returns the first frame that match accepts, if any.
func (c *client) takeFirst(match func(received) bool) (received, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.frames {
		if match(f) {
			c.frames = slices.Delete(c.frames, i, i+1)
			return f, true
		}
	}
	return received{}, false
}

// take removes and returns the first frame of type typ, if any.
func (c *client) take(typ string) (received, bool) {
	return c.takeMatch(typ, nil)
}

// takeMatch removes and returns the first frame of type typ whose data match
// accepts (any, if match is nil).
func (c *client) takeMatch(typ string, match func(data string) bool) (received, bool) {
	return c.takeFirst(func(f received) bool { return f.Type == typ && (match == nil || match(f.Data)) })
}

// takeAll removes and returns every waiting frame of type typ, in arrival order.
func (c *client) takeAll(typ string) []received {
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

// count returns how many frames of type typ are waiting.
func (c *client) count(typ string) int {
	return c.countMatch(typ, nil)
}

// countMatch counts the waiting frames of type typ whose data match accepts (all,
// if match is nil), leaving them.
func (c *client) countMatch(typ string, match func(data string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range c.frames {
		if f.Type == typ && (match == nil || match(f.Data)) {
			n++
		}
	}
	return n
}

// snapshot returns a copy of the frames waiting on c, in arrival order.
func (c *client) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}

// describe says what c holds and whether it still reads, for failure messages.
func (c *client) describe() string {
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

// ---- waiting ----

// await waits up to timeout for a frame that match accepts and takes it; it stops
// early when the connection is closed, and on failure says what was waiting.
func (c *client) await(timeout time.Duration, what string, match func(received) bool) received {
	c.t.Helper()
	var f received
	found := false
	poll(timeout, func() bool {
		closed := !c.isOpen() // before the take: frames are all in once reading stopped
		f, found = c.takeFirst(match)
		return found || closed
	})
	if !found {
		c.t.Fatalf("no %s within %v; frames waiting: %s", what, timeout, c.describe())
	}
	return f
}

// nextRaw waits for the next frame of type typ and returns it undecoded.
func (c *client) nextRaw(typ string) received {
	c.t.Helper()
	return c.await(waitTimeout, "a "+typ, func(f received) bool { return f.Type == typ })
}

// next waits for the next frame of type typ and decodes its data into v.
func (c *client) next(typ string, v any) {
	c.t.Helper()
	c.nextMatch(waitTimeout, typ, "a "+typ, nil, v)
}

// nextMatch waits up to timeout for a frame of type typ whose data match accepts
// (any, if match is nil) and decodes it into v (unless v is nil).
func (c *client) nextMatch(timeout time.Duration, typ, what string, match func(data string) bool, v any) {
	c.t.Helper()
	f := c.await(timeout, what, func(f received) bool { return f.Type == typ && (match == nil || match(f.Data)) })
	if v != nil {
		if err := json.Unmarshal([]byte(f.Data), v); err != nil {
			c.t.Fatalf("%s data %q: %v", typ, f.Data, err)
		}
	}
}

// matching returns a match for takeMatch, countMatch and nextMatch that accepts
// the data that decodes as a T for which ok holds.
func matching[T any](ok func(T) bool) func(data string) bool {
	return func(data string) bool {
		var v T
		return json.Unmarshal([]byte(data), &v) == nil && ok(v)
	}
}

// nextOf waits for the first frame of any of types and returns it undecoded.
func (c *client) nextOf(types ...string) received {
	c.t.Helper()
	return c.await(waitTimeout, "one of "+strings.Join(types, ", "), func(f received) bool { return slices.Contains(types, f.Type) })
}

// nextN waits until n frames of type typ have come and takes them, in order.
func (c *client) nextN(typ string, n int) []received {
	c.t.Helper()
	got, err := c.waitN(typ, n, waitTimeout)
	if err != nil {
		c.t.Fatal(err)
	}
	return got
}

// waitN is nextN for goroutines, which must not fail the test: it waits up to
// timeout and says what was missing.
func (c *client) waitN(typ string, n int, timeout time.Duration) ([]received, error) {
	var got []received
	ok := poll(timeout, func() bool {
		got = append(got, c.takeAll(typ)...)
		return len(got) >= n
	})
	if !ok {
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return got, fmt.Errorf("got %d %s within %v, want %d (read error: %v)", len(got), typ, timeout, n, err)
	}
	// Give back what is over n, in front, so that order is kept.
	if extra := got[n:]; len(extra) > 0 {
		c.mu.Lock()
		c.frames = append(slices.Clone(extra), c.frames...)
		c.mu.Unlock()
	}
	return got[:n], nil
}

// decode decodes the data of f into a T.
func decode[T any](t testing.TB, f received) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(f.Data), &v); err != nil {
		t.Fatalf("%s data %q: %v", f.Type, f.Data, err)
	}
	return v
}

// nextAs waits for the next frame of type typ and returns its data as a T.
func nextAs[T any](c *client, typ string) T {
	c.t.Helper()
	return decode[T](c.t, c.nextRaw(typ))
}

// ask sends typ with payload and returns the data of the next resType as a T.
func ask[T any](c *client, typ string, payload any, resType string) T {
	c.t.Helper()
	c.send(typ, payload)
	return nextAs[T](c, resType)
}

// ping sends PingMes and waits for PongMes: every frame the server wrote to this
// connection before handling the ping has arrived once it returns.
func (c *client) ping() {
	c.t.Helper()
	c.send(message.PingMesType, message.PingMes{})
	c.next(message.PongMesType, nil)
}

// waitClosed waits until the server closes the connection.
func (c *client) waitClosed() {
	c.t.Helper()
	checkFor(c.t, waitTimeout, "the server to close the connection", func() bool { return !c.isOpen() })
}

// isOpen reports whether the connection still reads.
func (c *client) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil
}

// ---- requests ----

// request is for goroutines, which must not fail the test: it sends typ with
// payload, waits up to timeout for the next resType and decodes it into res.
func (c *client) request(typ string, payload any, resType string, res any, timeout time.Duration) error {
	if err := c.write(typ, payload); err != nil {
		return err
	}
	fs, err := c.waitN(resType, 1, timeout)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(fs[0].Data), res)
}

func (c *client) register(id int, pwd, name string) message.RegisterResMes {
	c.t.Helper()
	return ask[message.RegisterResMes](c, message.RegisterMesType, message.RegisterMes{User: message.User{UserID: id, UserPwd: pwd, UserName: name}}, message.RegisterResMesType)
}

func (c *client) login(id int, pwd string, proto int) message.LoginResMes {
	c.t.Helper()
	c.mu.Lock()
	c.self = id
	c.mu.Unlock()
	return ask[message.LoginResMes](c, message.LoginMesType, message.LoginMes{UserID: id, UserPwd: pwd, Proto: proto}, message.LoginResMesType)
}

// onlineUsers asks for one page of the online list.
func (c *client) onlineUsers(offset, limit int) message.OnlineUsersResMes {
	c.t.Helper()
	return ask[message.OnlineUsersResMes](c, message.OnlineUsersMesType, message.OnlineUsersMes{Offset: offset, Limit: limit}, message.OnlineUsersResMesType)
}

// private sends a private message and returns its answer.
func (c *client) private(to int, content, clientMsgID string) message.PrivateResMes {
	c.t.Helper()
	return ask[message.PrivateResMes](c, message.PrivateMesType, message.PrivateMes{ToUserID: to, Content: content, ClientMsgID: clientMsgID}, message.PrivateResMesType)
}

// group sends a group message and returns its answer (proto 2 clients get one).
func (c *client) group(content string) message.SmsResMes {
	c.t.Helper()
	return ask[message.SmsResMes](c, message.SmsMesType, message.SmsMes{Content: content}, message.SmsResMesType)
}

// userIDs lists the ids of an online list page, in its order.
func userIDs(res message.OnlineUsersResMes) []int {
	ids := make([]int, 0, len(res.Users))
	for _, u := range res.Users {
		ids = append(ids, u.UserID)
	}
	return ids
}

// ---- users ----

// The password of every user the harness registers.
const password = "password"

// user registers id on addr (or finds it registered) and logs in a new connection
// as it.
func user(t testing.TB, addr string, id int, name string, proto int) *client {
	t.Helper()
	c := dial(t, addr)
	if res := c.register(id, password, name); res.Code != message.CodeOK && res.Code != message.CodeUserExists {
		t.Fatalf("register %d: %+v", id, res)
	}
	c.mustLogin(id, proto)
	return c
}

// registerUser registers id on a connection of its own, which it closes: the user
// exists and is offline.
func registerUser(t testing.TB, addr string, id int, name string) {
	t.Helper()
	c := dial(t, addr)
	if res := c.register(id, password, name); res.Code != message.CodeOK {
		t.Fatalf("register %d: got %+v, want code 200", id, res)
	}
	c.conn.Close()
}

// login logs a new connection to addr in as the registered user id.
func login(t testing.TB, addr string, id, proto int) *client {
	t.Helper()
	return loginOwned(t, t, addr, id, proto)
}

// loginOwned is login for a connection that outlives the subtest t: owner closes
// it at its cleanup.
func loginOwned(owner, t testing.TB, addr string, id, proto int) *client {
	t.Helper()
	c := dialOwned(owner, t, addr)
	c.mustLogin(id, proto)
	return c
}

// refused sends c an envelope of typ with data and checks the answer is an
// ErrorResMes with refType typ, an error code and an error sentence.
func refused(t testing.TB, c *client, typ, data string) {
	t.Helper()
	c.sendRaw(envelopeFrame(typ, data))
	e := nextAs[message.ErrorResMes](c, message.ErrorResMesType)
	if e.RefType != typ || e.Code == message.CodeOK || e.Code == 0 || e.Error == "" {
		t.Errorf("got %+v, want an error code, an error and refType %q", e, typ)
	}
}

// logout logs c out and waits for the server to close the connection.
func (c *client) logout() {
	c.t.Helper()
	c.send(message.LogoutMesType, message.LogoutMes{})
	c.waitClosed()
}

// relogin logs id out of c, then in with proto 2 on a new connection to addr.
func relogin(t *testing.T, c *client, addr string, id int) *client {
	t.Helper()
	c.logout()
	return login(t, addr, id, message.ProtoAck)
}

// mustLogin logs c in as id and fails unless the answer is 200.
func (c *client) mustLogin(id, proto int) {
	c.t.Helper()
	if res := c.login(id, password, proto); res.Code != message.CodeOK {
		c.t.Fatalf("login %d: got %+v, want code 200", id, res)
	}
}
