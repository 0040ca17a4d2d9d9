package chat_test

// Harness helpers for private messages: the two kinds of recipient, and reading
// an inbox up to a marker.

import (
	"testing"

	"chat/common/message"
	"chat/internal/redistest"
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
			r := redistest.Start(t)
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
		before = append(before, privates(t, to.takeAll(message.PrivateMesType))...)
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
