package chat_test

// Robustness of the server core against bad input (docs/PROTOCOL.md, "Bad input never
// crashes the server"): unknown and malformed requests keep the connection, framing
// violations close it, and other sessions never notice.

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"chat/common/message"
)

// checkChat checks that a and b (ids 1 and 2) still exchange group and private messages.
func checkChat(t *testing.T, a, b *client, tag string) {
	t.Helper()
	a.send(message.SmsMesType, message.SmsMes{Content: "group " + tag})
	var sms message.SmsMes
	b.next(message.SmsMesType, &sms)
	if sms.Content != "group "+tag || sms.UserID != 1 {
		t.Errorf("b got %+v, want group %s from 1", sms, tag)
	}
	res := b.private(1, "private "+tag, "")
	var pm message.PrivateMes
	a.next(message.PrivateMesType, &pm)
	if res.Code != message.CodeOK || pm.Content != "private "+tag || pm.FromUserID != 2 {
		t.Errorf("got %+v and %+v, want 200 and private %s from 2", res, pm, tag)
	}
}

func TestRobustUnknownType(t *testing.T) {
	_, n := startOneNode(t)
	in := user(t, n.Addr, 1, "alice", message.ProtoAck)
	out := dial(t, n.Addr)
	for _, typ := range []string{"FooMes", "loginmes", "LoginMes ", "PongMes2"} {
		for name, c := range map[string]*client{"logged in": in, "not logged in": out} {
			t.Run(name+" "+typ, func(t *testing.T) {
				refused(t, c, typ, "{}")
				c.ping()
				if !c.isOpen() {
					t.Errorf("connection closed after an unknown type")
				}
			})
		}
	}
	// The connection that was not logged in can still register and log in.
	if res := out.register(2, "password", "bob"); res.Code != message.CodeOK {
		t.Fatalf("register after unknown types: %+v", res)
	}
	out.mustLogin(2, 0)
}

func TestRobustMalformedData(t *testing.T) {
	r, n := startOneNode(t)
	in := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)
	out := dial(t, n.Addr)

	tests := []struct {
		name     string
		loggedIn bool
		typ      string
		data     string
	}{
		{"login data not JSON", false, message.LoginMesType, "not json"},
		{"login data empty", false, message.LoginMesType, ""},
		{"login userId string", false, message.LoginMesType, `{"userId":"3","userPwd":"password"}`},
		{"login userPwd number", false, message.LoginMesType, `{"userId":3,"userPwd":123456}`},
		{"login data array", false, message.LoginMesType, `[1,2]`},
		{"register user string", false, message.RegisterMesType, `{"user":"x"}`},
		{"register userId fraction", false, message.RegisterMesType, `{"user":{"userId":3.5,"userPwd":"password","userName":"x"}}`},
		{"register truncated", false, message.RegisterMesType, `{"user":{"userId":3`},
		{"online limit string", true, message.OnlineUsersMesType, `{"offset":0,"limit":"10"}`},
		{"online data not JSON", true, message.OnlineUsersMesType, `limit=10`},
		{"private toUserId string", true, message.PrivateMesType, `{"toUserId":"2","content":"x"}`},
		{"private data not JSON", true, message.PrivateMesType, `to 2: hi`},
		{"sms content number", true, message.SmsMesType, `{"content":5}`},
		{"ack msgIds string", true, message.AckMesType, `{"msgIds":"1-0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := out
			if tt.loggedIn {
				c = in
			}
			refused(t, c, tt.typ, tt.data)
			if k := c.count(message.LoginResMesType) + c.count(message.RegisterResMesType) + c.count(message.OnlineUsersResMesType) + c.count(message.PrivateResMesType); k != 0 {
				t.Errorf("got %d answers of the request's own type besides the ErrorResMes", k)
			}
			c.ping()
		})
	}
	// Nothing malformed got through: no user 3, bob got no message.
	bob.ping()
	if k := bob.count(message.SmsMesType) + bob.count(message.PrivateMesType); k != 0 {
		t.Errorf("bob got %d messages from malformed requests, want 0", k)
	}
	if got, err := r.stores(t).Users.Exists(context.Background(), 3); got || err != nil {
		t.Errorf("user 3 exists: got %v, %v, want false", got, err)
	}
	if res := out.login(3, "password", 0); res.Code != message.CodeUserNotFound {
		t.Errorf("login 3: got %+v, want 500", res)
	}
	if res := out.login(2, "password", 0); res.Code != message.CodeOK {
		t.Errorf("login after malformed requests: got %+v, want 200", res)
	}
}

func TestRobustBadFrames(t *testing.T) {
	_, n := startOneNode(t)
	a := user(t, n.Addr, 1, "alice", message.ProtoAck)
	b := user(t, n.Addr, 2, "bob", message.ProtoAck)
	a.next(message.NotifyUserStatusMesType, nil)
	checkChat(t, a, b, "before")

	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	tests := []struct {
		name  string
		bytes []byte
		codes []int // acceptable ErrorResMes codes; nil: none required, 400 if any
		must  bool  // an ErrorResMes is required
	}{
		{"length 0", header(0), []int{message.CodeBadEnvelope}, true},
		{"length 65537 header only", header(65537), []int{message.CodeTooLarge}, true},
		{"length 4294967295 header only", header(0xFFFFFFFF), []int{message.CodeTooLarge}, true},
		{"length 0 after a good frame", append(envelopeFrame(message.PingMesType, "{}"), header(0)...), []int{message.CodeBadEnvelope}, true},
		{"body not JSON", rawFrame("hello"), []int{message.CodeBadEnvelope}, false},
		{"body JSON array", rawFrame(`[{"type":"PingMes","data":"{}"}]`), []int{message.CodeBadEnvelope}, false},
		{"body without type", rawFrame(`{"data":"{}"}`), []int{message.CodeBadEnvelope}, false},
		{"body with numeric type", rawFrame(`{"type":5,"data":"{}"}`), []int{message.CodeBadEnvelope}, false},
		{"body truncated JSON", rawFrame(`{"type":"PingMes","data":"{}"`), []int{message.CodeBadEnvelope}, false},
	}
	for i, tt := range tests {
		for _, loggedIn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s logged in %v", tt.name, loggedIn), func(t *testing.T) {
				var c *client
				id := 100 + i
				if loggedIn {
					c = user(t, n.Addr, id, fmt.Sprint("u", id), message.ProtoAck)
					if got := nextAs[message.NotifyUserStatusMes](a, message.NotifyUserStatusMesType); got.UserID != id || got.Status != message.UserOnline {
						t.Fatalf("a: got %+v, want %d online", got, id)
					}
					b.next(message.NotifyUserStatusMesType, nil)
				} else {
					c = dial(t, n.Addr)
				}
				c.sendRaw(tt.bytes)
				c.waitClosed()
				f, ok := c.take(message.ErrorResMesType)
				switch {
				case ok:
					e := decode[message.ErrorResMes](t, f)
					good := false
					for _, code := range tt.codes {
						good = good || e.Code == code
					}
					if !good || e.Error == "" {
						t.Errorf("got %+v, want code %v and an error", e, tt.codes)
					}
				case tt.must:
					t.Errorf("got no ErrorResMes before the close, want one with code %v", tt.codes)
				}
				if loggedIn {
					if got := nextAs[message.NotifyUserStatusMes](a, message.NotifyUserStatusMesType); got.UserID != id || got.Status != message.UserOffline {
						t.Errorf("a: got %+v, want %d offline after its connection was closed", got, id)
					}
					b.next(message.NotifyUserStatusMesType, nil)
				}
				checkChat(t, a, b, tt.name)
			})
		}
	}
	a.ping()
	if res := a.onlineUsers(0, 500); res.Total != 2 {
		t.Errorf("online list after the bad frames: got %+v, want users 1 and 2", res)
	}
}

func TestRobustFraming(t *testing.T) {
	_, n := startOneNode(t)
	ping := envelopeFrame(message.PingMesType, "{}")

	t.Run("one byte per write", func(t *testing.T) {
		c := dial(t, n.Addr)
		for i := range ping {
			c.sendRaw(ping[i : i+1])
		}
		c.next(message.PongMesType, nil)
	})
	t.Run("three frames in one write", func(t *testing.T) {
		c := dial(t, n.Addr)
		c.sendRaw(append(append(append([]byte{}, ping...), ping...), ping...))
		checkFor(t, waitTimeout, "three PongMes", func() bool { return c.count(message.PongMesType) == 3 })
	})
	t.Run("body of exactly 65536 bytes", func(t *testing.T) {
		c := user(t, n.Addr, 1, "u1", 0) // before login, frames are limited to a few KiB
		head := `{"type":"PingMes","data":"{}","pad":"`
		body := head + strings.Repeat("x", message.MaxFrame-len(head)-2) + `"}`
		if len(body) != message.MaxFrame {
			t.Fatalf("body of %d bytes", len(body))
		}
		c.sendRaw(rawFrame(body))
		c.next(message.PongMesType, nil)
		if c.count(message.ErrorResMesType) != 0 || !c.isOpen() {
			t.Errorf("got an error or a close for a frame at the limit")
		}
	})
}
