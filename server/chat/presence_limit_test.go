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
			// Bob's pong comes once his login's handler is done: a change to
			// announce is counted by then.
			bob.ping()
			if tt.notice {
				checkFor(t, waitTimeout, "alice to see bob online", func() bool {
					return alice.count(message.NotifyUserStatusMesType) > 0
				})
				return
			}
			if got := presenceChanges(t, n); got != 0 {
				t.Errorf("got %d presence changes to announce, want 0", got)
			}
			if got := alice.count(message.NotifyUserStatusMesType); got != 0 {
				t.Errorf("got %d presence notices, want none", got)
			}
		})
	}
}
