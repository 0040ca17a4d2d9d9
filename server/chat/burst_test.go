package chat_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"chat/common/frame"
	"chat/common/message"
	"chat/server/chat"
)

// TestBurstAnswersInRequestOrder sends many requests in one write, so that the
// server handles them as one burst (their private messages kept in one round trip),
// and checks that every answer comes, in request order, and that the recipient gets
// each message once, in send order.
func TestBurstAnswersInRequestOrder(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)

	type req struct {
		typ     string
		payload any
	}
	private := func(to int, content, id string) req {
		return req{message.PrivateMesType, message.PrivateMes{ToUserID: to, Content: content, ClientMsgID: id}}
	}
	reqs := []req{
		private(2, "one", "c1"),
		private(999, "to nobody", "c2"),
		{message.PingMesType, message.PingMes{}},
		private(2, "two", "c3"),
		private(2, "", "c4"),
		private(2, "one again", "c1"), // a retry: answered with c1's id, not delivered
		{message.AckMesType, message.AckMes{MsgIDs: []string{"not-an-id"}}},
		private(2, "three", "c5"),
	}
	// want is the answers, in order: the type, and for PrivateResMes its clientMsgId and code.
	want := []string{
		"PrivateResMes c1 200", "PrivateResMes c2 404", "PongMes", "PrivateResMes c3 200",
		"PrivateResMes c4 422", "PrivateResMes c1 200", "ErrorResMes", "PrivateResMes c5 200",
	}
	var burst []byte
	for _, rq := range reqs {
		body, err := message.Encode(rq.typ, rq.payload)
		if err != nil {
			t.Fatal(err)
		}
		burst = frame.Append(burst, body)
	}
	alice.sendRaw(burst)

	got := answersInOrder(t, alice, len(want), message.NotifyUserStatusMesType, message.NotifyUsersStatusMesType)
	ids := map[string]string{}
	for i, f := range got {
		desc := f.Type
		if f.Type == message.PrivateResMesType {
			var res message.PrivateResMes
			if err := json.Unmarshal([]byte(f.Data), &res); err != nil {
				t.Fatal(err)
			}
			desc = fmt.Sprintf("%s %s %d", f.Type, res.ClientMsgID, res.Code)
			if res.Code == message.CodeOK {
				if first, seen := ids[res.ClientMsgID]; seen && first != res.MsgID {
					t.Errorf("answer %d: retry of %s got msgId %s, want the first send's %s", i, res.ClientMsgID, res.MsgID, first)
				}
				ids[res.ClientMsgID] = res.MsgID
			}
		}
		if desc != want[i] {
			t.Errorf("answer %d: got %s, want %s", i, desc, want[i])
		}
	}

	for _, content := range []string{"one", "two", "three"} {
		var m message.PrivateMes
		bob.next(message.PrivateMesType, &m)
		if m.Content != content || m.FromUserID != 1 {
			t.Errorf("bob got %q from %d, want %q from 1", m.Content, m.FromUserID, content)
		}
	}
	if extra := bob.count(message.PrivateMesType); extra != 0 {
		t.Errorf("bob got %d messages more than the three sent", extra)
	}
}

// TestBurstToClassicWithInboxCap: the messages of one burst to an offline user are
// each checked against the inbox's cap (the third is refused, 429), and the kept ones
// reach the user's classic session at login as SmsMes marked private and offline, in
// send order, their text as it was sent.
func TestBurstToClassicWithInboxCap(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(cfg *chat.Config) { cfg.InboxMax = 2 })
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, 2, "carol")
	contents := []string{"a<b", `c&"d"`, "e>f"}
	var burst []byte
	for i, content := range contents {
		body, err := message.Encode(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: content, ClientMsgID: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		burst = frame.Append(burst, body)
	}
	alice.sendRaw(burst)
	want := []string{"m0 200", "m1 200", fmt.Sprint("m2 ", message.CodeRateLimited)}
	for i, f := range answersInOrder(t, alice, len(want), message.NotifyUserStatusMesType, message.NotifyUsersStatusMesType) {
		var res message.PrivateResMes
		if err := json.Unmarshal([]byte(f.Data), &res); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res.ClientMsgID, " ", res.Code); f.Type != message.PrivateResMesType || got != want[i] {
			t.Errorf("answer %d: got %s %s, want PrivateResMes %s", i, f.Type, got, want[i])
		}
	}
	carol := user(t, n.Addr, 2, "carol", message.ProtoClassic)
	for _, content := range contents[:2] {
		var m message.SmsMes
		carol.next(message.SmsMesType, &m)
		if want := message.OfflinePrivatePrefix + content; m.Content != want || m.UserID != 1 {
			t.Errorf("carol got %q from %d, want %q from 1", m.Content, m.UserID, want)
		}
	}
}

// answersInOrder waits for the first n frames c got that are not of a type in skip,
// and returns them in the order they came.
func answersInOrder(t *testing.T, c *client, n int, skip ...string) []received {
	t.Helper()
	var got []received
	checkFor(t, waitTimeout, fmt.Sprintf("%d answers", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		got = got[:0]
		for _, f := range c.frames {
			if !slices.Contains(skip, f.Type) {
				got = append(got, f)
			}
		}
		return len(got) >= n
	})
	return got[:n]
}
