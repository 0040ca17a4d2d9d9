package main

import (
	"strings"
	"testing"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// TestE2EReconnect kills the node a client is on: the client comes back on the
// other node by itself, without anyone typing, and shows the private message
// sent to it meanwhile.
func TestE2EReconnect(t *testing.T) {
	clientBinary(t) // skips before redis and the nodes start
	r := redistest.Start(t)
	n1 := chattest.StartServer(t, r.Addr, "-heartbeat", "500ms")
	n2 := chattest.StartServer(t, r.Addr, "-heartbeat", "500ms")
	alice, bob := startAliceAndBob(t, n1.Addr+","+n2.Addr, n2.Addr)
	alice.waitFor("Choice: ")
	bob.login("101", "bob-pw-1")

	n1.Kill()
	alice.waitFor("Connection lost, reconnecting…")
	bob.sendPrivate("100", "are you back?")
	alice.waitFor("Reconnected to " + n2.Addr + " as alice (100).")
	alice.waitFor("bob (101): are you back?")
	if out := alice.out.String(); strings.Contains(out, "refused the session token") || strings.Contains(out, "log in again") {
		t.Errorf("alice was asked for her password again:\n%s", out)
	}

	// The session goes on on n2: alice answers, bob gets it.
	alice.sendPrivate("101", "yes, on the other node")
	alice.waitFor("Delivered to bob (101).")
	bob.waitFor("[private] alice (100): yes, on the other node")
	quit(alice, bob)
}
