package chat_test

import (
	"testing"

	"chat/common/message"
	"chat/server/chat"
)

// PresenceLimit's zero value is the default limit, and a negative one turns
// presence notices off.
func TestPresenceLimitZeroAndNegative(t *testing.T) {
	tests := []struct {
		name   string
		limit  int
		notice bool
	}{
		{"zero takes the default", 0, true},
		{"negative is never", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newStorage(t)
			n := startNode(t, r, "n1", func(c *chat.Config) { c.PresenceLimit = tt.limit })
			alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
			bob := user(t, n.Addr, 2, "bob", message.ProtoAck)
			// Bob's pong comes once his login's handler, notice included, is
			// done; alice's pong then comes after any notice queued for her.
			for _, c := range []*client{bob, alice} {
				c.send(message.PingMesType, message.PingMes{})
				c.next(message.PongMesType, nil)
			}
			if got := alice.count(message.NotifyUserStatusMesType); (got > 0) != tt.notice {
				t.Errorf("got %d presence notices, want some: %v", got, tt.notice)
			}
		})
	}
}
