package chat_test

// Integration tests of the sms process (docs/PROTOCOL.md): group messages, private
// message answers, clientMsgId dedup and rate limits.

import (
	"slices"
	"strings"
	"testing"

	"chat/common/message"
	"chat/server/chat"
)

func TestGroupMessage(t *testing.T) {
	_, n := startOneNode(t)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoClassic)
	carol := user(t, n.Addr, 3, "carol", 0)

	tests := []struct {
		name    string
		payload any
		content string
	}{
		{"plain", message.SmsMes{Content: "hello all"}, "hello all"},
		{"spoofed identity", map[string]any{"content": "it is me", "userId": 999, "userName": "mallory", "userPwd": "x", "userStatus": 0, "sex": "m"}, "it is me"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bind(t, alice, bob, carol)
			res := ask[message.SmsResMes](alice, message.SmsMesType, tt.payload, message.SmsResMesType)
			if res.Code != message.CodeOK || res.MsgID == "" || res.Error != "" {
				t.Fatalf("got %+v, want code 200, a msgId and no error", res)
			}
			for _, c := range []*client{bob, carol} {
				f := c.nextN(message.SmsMesType, 1)[0]
				// The spoofed id as a value: "999" alone may be in a sentAt.
				for _, bad := range []string{"userPwd", "mallory", `"x"`, `:999,`, `:999}`} {
					if strings.Contains(f.Data, bad) {
						t.Errorf("got relayed data %s, want no %s in it", f.Data, bad)
					}
				}
				got := decode[message.SmsMes](t, f)
				if got.Content != tt.content || got.UserID != 1 || got.UserName != "alice" || got.MsgID != res.MsgID || got.SentAt == 0 {
					t.Errorf("got %+v, want %q from 1 alice with msgId %s and sentAt", got, tt.content, res.MsgID)
				}
			}
			// The sender does not get its own message: bob's answer comes after it would.
			bob.send(message.SmsMesType, message.SmsMes{Content: "reply"})
			f := alice.nextN(message.SmsMesType, 1)[0]
			if got := decode[message.SmsMes](t, f); got.UserID != 2 || got.Content != "reply" {
				t.Errorf("sender got %+v, want only bob's reply, not its own message", got)
			}
			carol.nextN(message.SmsMesType, 1)
			bob.ping()
			if c := bob.count(message.SmsMesType); c != 0 {
				t.Errorf("bob got %d of his own group messages, want 0", c)
			}
			if c := bob.count(message.SmsResMesType) + bob.count(message.ErrorResMesType); c != 0 {
				t.Errorf("classic bob got %d answers to a good SmsMes, want none", c)
			}
		})
	}
}

func TestGroupMessageInvalid(t *testing.T) {
	_, n := startOneNode(t)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	classic := user(t, n.Addr, 3, "classic", message.ProtoClassic)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)

	tests := []struct {
		name  string
		frame []byte
		want  int
	}{
		{"empty content", envelopeFrame(message.SmsMesType, `{"content":""}`), message.CodeInvalid},
		{"no content", envelopeFrame(message.SmsMesType, `{}`), message.CodeInvalid},
		{"4097 bytes", envelopeFrame(message.SmsMesType, `{"content":"`+strings.Repeat("a", 4097)+`"}`), message.CodeTooLarge},
		{"4097 bytes of multibyte text", envelopeFrame(message.SmsMesType, `{"content":"`+strings.Repeat("é", 2048)+`a"}`), message.CodeTooLarge},
		{"invalid UTF-8 byte", envelopeFrame(message.SmsMesType, "{\"content\":\"bad \xff byte\"}"), message.CodeInvalid},
		{"truncated UTF-8 sequence", envelopeFrame(message.SmsMesType, "{\"content\":\"cut \xe4\xb8\"}"), message.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bind(t, alice, classic, bob)
			alice.sendRaw(tt.frame)
			var res message.SmsResMes
			alice.next(message.SmsResMesType, &res)
			if res.Code != tt.want || res.Error == "" {
				t.Errorf("proto 2: got %+v, want code %d with an error sentence", res, tt.want)
			}
			classic.sendRaw(tt.frame)
			if code, notice := nextNotice(t, classic); code != tt.want {
				t.Errorf("classic: got %+v, want a notice of code %d", notice, tt.want)
			}
			// Nothing was relayed: bob's next group message is the good one after.
			alice.group("good")
			if got := decode[message.SmsMes](t, bob.nextN(message.SmsMesType, 1)[0]); got.Content != "good" {
				t.Errorf("bob got %q, want the rejected message not relayed", got.Content)
			}
			bob.takeAll(message.SmsMesType)
			if !alice.isOpen() || !classic.isOpen() {
				t.Fatalf("got the connection closed, want it open after a malformed request")
			}
		})
	}
	// 4096 bytes is the limit, not over it.
	res := alice.group(strings.Repeat("a", 4096))
	if res.Code != message.CodeOK {
		t.Errorf("4096 bytes: got %+v, want code 200", res)
	}
}

func TestPrivateMessageErrors(t *testing.T) {
	_, n := startOneNode(t)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)
	tests := []struct {
		name string
		req  message.PrivateMes
		want int
	}{
		{"no such user", message.PrivateMes{ToUserID: 4242, Content: "hello?"}, message.CodeNoSuchUser},
		{"content over 4096 bytes", message.PrivateMes{ToUserID: 2, Content: strings.Repeat("a", 4097)}, message.CodeTooLarge},
		{"empty content", message.PrivateMes{ToUserID: 2, Content: ""}, message.CodeInvalid},
		{"clientMsgId over 64 bytes", message.PrivateMes{ToUserID: 2, Content: "x", ClientMsgID: strings.Repeat("c", 65)}, message.CodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bind(t, alice, bob)
			res := ask[message.PrivateResMes](alice, message.PrivateMesType, tt.req, message.PrivateResMesType)
			if res.Code != tt.want || res.Error == "" || res.MsgID != "" {
				t.Errorf("got %+v, want code %d, an error sentence and no msgId", res, tt.want)
			}
			if got := marker(t, alice, bob, 2); len(got) != 0 {
				t.Errorf("bob got %+v, want the rejected message not delivered", got)
			}
		})
	}
	// 4096 bytes is allowed.
	if res := alice.private(2, strings.Repeat("a", 4096), "c-max"); res.Code != message.CodeOK || res.ClientMsgID != "c-max" {
		t.Errorf("4096 bytes: got %+v, want code 200 with clientMsgId echoed", res)
	}
}

func TestPrivateClientMsgIDDedup(t *testing.T) {
	recipientCases(t, "offline recipient", message.ProtoAck, func(t *testing.T, n *node, alice, bob *client, online bool) {
		first := alice.private(2, "only once", "c-1")
		second := alice.private(2, "only once", "c-1")
		other := alice.private(2, "another", "c-2")
		if first.Code != message.CodeOK || second.Code != message.CodeOK || first.ClientMsgID != "c-1" || second.ClientMsgID != "c-1" {
			t.Fatalf("got %+v and %+v, want code 200 with clientMsgId c-1 twice", first, second)
		}
		if second.MsgID != first.MsgID {
			t.Errorf("got msgIds %s then %s, want the same for a repeated clientMsgId", first.MsgID, second.MsgID)
		}
		if other.Code != message.CodeOK || other.MsgID == first.MsgID {
			t.Errorf("got %+v for a new clientMsgId, want code 200 and a new msgId", other)
		}
		if !online {
			bob = login(t, n.Addr, 2, message.ProtoAck)
		}
		got := marker(t, alice, bob, 2)
		if g, want := msgIDs(got), []string{first.MsgID, other.MsgID}; !slices.Equal(g, want) {
			t.Errorf("got %q (%q), want %q once each", g, contents(got), want)
		}
	})
}

func TestRateLimit(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) {
		c.RatePrivate, c.BurstPrivate = 1, 2
		c.RateGroup, c.BurstGroup = 1, 2
	})
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	classic := user(t, n.Addr, 3, "classic", message.ProtoClassic)
	user(t, n.Addr, 2, "bob", message.ProtoAck)

	tests := []struct {
		name  string
		c     *client
		typ   string
		req   any
		codes func(t *testing.T, c *client) []int
	}{
		{"private", alice, message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "hi"}, func(t *testing.T, c *client) []int {
			var out []int
			for _, f := range c.nextN(message.PrivateResMesType, 3) {
				out = append(out, decode[message.PrivateResMes](t, f).Code)
			}
			return out
		}},
		{"group proto 2", alice, message.SmsMesType, message.SmsMes{Content: "hi all"}, func(t *testing.T, c *client) []int {
			var out []int
			for _, f := range c.nextN(message.SmsResMesType, 3) {
				out = append(out, decode[message.SmsResMes](t, f).Code)
			}
			return out
		}},
		{"group classic", classic, message.SmsMesType, message.SmsMes{Content: "hi all"}, func(t *testing.T, c *client) []int {
			out := make([]int, 2, 3) // classic gets no answer on success
			out[0], out[1] = 200, 200
			code, _ := nextNotice(t, c)
			return append(out, code)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bind(t, tt.c)
			for range 3 {
				tt.c.send(tt.typ, tt.req)
			}
			got := tt.codes(t, tt.c)
			want := []int{200, 200, 429}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
				t.Errorf("got codes %v for 3 quick messages, want %v", got, want)
			}
		})
	}
}
