package chat_test

// Harness helpers for private messages: the two kinds of recipient, reading an
// inbox up to a marker, and private messages in either form (PrivateMes, or the
// SmsMes a classic session gets).

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"chat/common/message"
)

// recipientCases runs f in a subtest "online recipient", where bob (2) is logged
// in with bobProto, then in a subtest offlineName, where bob is registered but not
// logged in (bob is nil); in each, alice (1) is logged in with proto 2 on a fresh
// node n.
func recipientCases(t *testing.T, offlineName string, bobProto int, f func(t *testing.T, n *node, alice, bob *client, online bool)) {
	for _, online := range []bool{true, false} {
		name := offlineName
		if online {
			name = "online recipient"
		}
		t.Run(name, func(t *testing.T) {
			r := newStorage(t)
			n := startNode(t, r, "n1", nil)
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			var bob *client
			if online {
				bob = user(t, n.Addr, 2, "bob", bobProto)
			} else {
				registerUser(t, n.Addr, 2, "bob")
			}
			f(t, n, alice, bob, online)
		})
	}
}

// privates decodes frames that are all PrivateMes.
func privates(t testing.TB, fs []received) []message.PrivateMes {
	t.Helper()
	out := make([]message.PrivateMes, len(fs))
	for i, f := range fs {
		out[i] = decode[message.PrivateMes](t, f)
	}
	return out
}

// marker sends a marker private message from `from` to `to` and waits until it
// arrives: the inbox is read in order, so every message stored before it for `to`
// (including any redelivery) has come by then. It returns the PrivateMes that came
// before the marker, and fails if the marker is not the last one.
func marker(t testing.TB, from, to *client, toID int) []message.PrivateMes {
	t.Helper()
	const text = "marker: everything before me has come"
	res := from.private(toID, text, "")
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

// contents lists the contents of ms, in order.
func contents(ms []message.PrivateMes) []string {
	return fieldOf(ms, func(m message.PrivateMes) string { return m.Content })
}

// msgIDs lists the ids of ms, in order.
func msgIDs(ms []message.PrivateMes) []string {
	return fieldOf(ms, func(m message.PrivateMes) string { return m.MsgID })
}

func fieldOf(ms []message.PrivateMes, field func(message.PrivateMes) string) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = field(m)
	}
	return out
}

// privateOf turns a frame a session got into the private message it carries: a
// PrivateMes, or the SmsMes a classic session gets instead. ok is false for other
// frames, group messages included.
func privateOf(f received) (m message.PrivateMes, ok bool, err error) {
	switch f.Type {
	case message.PrivateMesType:
		err = json.Unmarshal([]byte(f.Data), &m)
		return m, err == nil, err
	case message.SmsMesType:
		var s message.SmsMes
		if err := json.Unmarshal([]byte(f.Data), &s); err != nil {
			return m, false, err
		}
		m = message.PrivateMes{MsgID: s.MsgID, FromUserID: s.UserID, FromUserName: s.UserName, SentAt: s.SentAt}
		if m.Content, ok = strings.CutPrefix(s.Content, message.OfflinePrivatePrefix); ok {
			m.Offline = true
			return m, true, nil
		}
		m.Content, ok = strings.CutPrefix(s.Content, message.PrivatePrefix)
		return m, ok, nil
	}
	return m, false, nil
}

// takePrivates removes and returns the private messages waiting on c, in arrival
// order, in either form (see privateOf). It does not fail the test, so goroutines
// may use it.
func takePrivates(c *client) ([]message.PrivateMes, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []message.PrivateMes
	var errs []error
	kept := c.frames[:0]
	for _, f := range c.frames {
		m, ok, err := privateOf(f)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			got = append(got, m)
		} else {
			kept = append(kept, f)
		}
	}
	c.frames = kept
	return got, errors.Join(errs...)
}

// nextPrivates waits for n private messages on c and returns them in order.
func nextPrivates(t testing.TB, c *client, n int) []message.PrivateMes {
	t.Helper()
	var got []message.PrivateMes
	checkFor(t, waitTimeout, strconv.Itoa(n)+" private messages", func() bool {
		ms, err := takePrivates(c)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ms...)
		return len(got) >= n
	})
	if len(got) > n {
		t.Fatalf("got %d private messages, want %d: %+v", len(got), n, got)
	}
	return got
}
