package main

// End-to-end tests: the real client binary against the real server binary and a
// real redis-server. TestE2EInteractive drives two clients in pseudo-terminals, as two
// people would; TestE2EScripted pipes the README's script into the client.

import (
	"strings"
	"testing"

	"chat/internal/chattest"
)

func TestE2EInteractive(t *testing.T) {
	addr := startServer(t)
	alice, bob := startAliceAndBob(t, addr, addr)
	alice.waitFor("alice (100)")
	bob.login("101", "bob-pw-1")
	alice.waitFor("* bob (101) is online") // while alice sits at her prompt

	// Both see each other online.
	for _, tt := range []struct {
		c    *ptyClient
		want []string
	}{
		{alice, []string{"Online users: 2", "alice (100) (you)", "bob (101)"}},
		{bob, []string{"Online users: 2", "alice (100)", "bob (101) (you)"}},
	} {
		tt.c.answer("Choice: ", "1")
		tt.c.waitForAll(tt.want...)
	}

	// A group message shows on bob's screen while he sits at a prompt.
	alice.answer("Choice: ", "2")
	alice.answer("Message to the group: ", "hello bob, 你好 !")
	alice.waitFor("Sent to the group: hello bob, 你好 !")
	bob.waitFor("[group] alice (100): hello bob, 你好 !")

	// A private message arrives while bob is half-way through typing a line;
	// what he typed survives and is sent whole.
	bob.answer("Choice: ", "2")
	bob.waitFor("Message to the group: ")
	bob.typeText("half typed")
	bob.waitFor("half typed")
	alice.sendPrivate("101", "psst bob")
	alice.waitFor("Delivered to bob (101).")
	bob.waitFor("[private] alice (100): psst bob")
	bob.typeText(" line\r")
	bob.waitFor("Sent to the group: half typed line")
	alice.waitFor("[group] bob (101): half typed line")

	// Bob logs out; a private message to him is stored and shown at his next login.
	bob.logout()
	alice.waitFor("* bob (101) went offline")
	alice.sendPrivate("101", "are you there?")
	alice.waitFor("bob (101) is offline: the message is stored")
	bob.login("101", "bob-pw-1")
	bob.waitFor("[private, offline] alice (100): are you there?")

	// The session's conversation, then goodbye.
	alice.answer("Choice: ", "4")
	alice.waitFor("[private] you -> bob (101): are you there?")
	quit(alice, bob)
	for _, c := range []*ptyClient{alice, bob} {
		if out := c.out.String(); strings.Contains(out, "alice-pw") || strings.Contains(out, "bob-pw-1") {
			t.Errorf("%s's terminal shows a password:\n%s", c.name, out)
		}
	}
}

func TestE2EScripted(t *testing.T) {
	clientBin := clientBinary(t)
	addr := startServer(t)

	out := runScript(t, clientBin, addr, "2\n100\n123456\n123456\nscripted\n3\n")
	if !wantOutput(t, out, "Registered user 100.") {
		t.FailNow()
	}

	out = runScript(t, clientBin, addr, "1\n100\n123456\n2\nhello all\n5\n3\n")
	wantOutput(t, out, "Logged in as scripted (100).", "Sent to the group: hello all", "Logged out.", "Bye.")

	// Unknown user, wrong password and an unreachable server are explained.
	out = runScript(t, clientBin, addr, "1\n555\n123456\n1\n100\nwrong-pw\n")
	wantOutput(t, out, "No such user 555 (500). Choose 2 to register first.", "Wrong password for user 100 (403).")
	dead := chattest.FreeAddr(t)
	out = runScript(t, clientBin, dead, "1\n100\n123456\n")
	wantOutput(t, out, "cannot reach server at "+dead+": ")
}

func TestE2ETLS(t *testing.T) {
	clientBin := clientBinary(t)
	dir := t.TempDir()
	ca, cert, key := chattest.WriteCert(t, dir)
	addr := startServer(t, "-tls-cert", cert, "-tls-key", key)

	// CHAT_TLS_CA alone turns TLS on and trusts the test CA.
	out := runScript(t, clientBin, addr, "2\n100\n123456\n123456\ntls user\n", "CHAT_TLS_CA="+ca)
	wantOutput(t, out, "Registered user 100.")
	// Without the CA the certificate is refused.
	out = runScript(t, clientBin, addr, "1\n100\n123456\n", "CHAT_TLS=true")
	wantOutput(t, out, "cannot reach server at "+addr+": tls: failed to verify certificate")
}
