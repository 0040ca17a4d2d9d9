package main

// End-to-end tests: the real client binary against the real server binary and a
// real redis-server. TestE2EInteractive drives two clients in pseudo-terminals, as two
// people would; TestE2EScripted pipes the README's script into the client.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// clientBinary builds the client once per test binary; it skips the end-to-end test
// where the server or the go tool is missing, and in -short mode.
func clientBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if files, _ := filepath.Glob("../server/*.go"); len(files) == 0 {
		t.Skip("no server main package in ../server yet")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not found")
	}
	return chattest.Build(t, "chat/client")
}

// startServer starts redis and the chat server (its binary built by chattest) with
// the extra flags, and returns the server's address once it accepts connections.
func startServer(t *testing.T, flags ...string) string {
	t.Helper()
	return chattest.StartServer(t, redistest.Start(t).Addr, flags...).Addr
}

// ptyClient is a client running in a pseudo-terminal, as in a person's terminal.
type ptyClient struct {
	t    *testing.T
	name string
	tty  *os.File // the pty's controlling side
	out  *syncBuffer
	mark int // output before mark has been matched by waitFor already
	done chan error
}

func startPTY(t *testing.T, bin, addr, name string) *ptyClient {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 250})
	if err != nil {
		t.Fatal(err)
	}
	c := &ptyClient{t: t, name: name, tty: tty, out: &syncBuffer{}, done: make(chan error, 1)}
	copied := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			c.out.Write(buf[:n])
			if err != nil { // EIO once the client has exited
				close(copied)
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		<-copied
		c.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
		if t.Failed() {
			t.Logf("%s's terminal:\n%s", name, c.out)
		}
	})
	return c
}

// waitFor waits until s appears in the output after what earlier waits matched.
func (c *ptyClient) waitFor(s string) {
	c.t.Helper()
	checkFor(c.t, c.name+" to show "+strconv.Quote(s), func() bool {
		out := c.out.String()
		i := strings.Index(out[c.mark:], s)
		if i < 0 {
			return false
		}
		c.mark += i + len(s)
		return true
	})
}

// typeText types s without Enter.
func (c *ptyClient) typeText(s string) {
	c.t.Helper()
	if _, err := c.tty.Write([]byte(s)); err != nil {
		c.t.Fatalf("typing into %s's terminal: %v", c.name, err)
	}
}

// answer waits for prompt and types line and Enter.
func (c *ptyClient) answer(prompt, line string) {
	c.t.Helper()
	c.waitFor(prompt)
	c.typeText(line + "\r")
}

// exit waits for the client to exit and checks it exited 0.
func (c *ptyClient) exit() {
	c.t.Helper()
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Errorf("%s's client: %v", c.name, err)
		}
	case <-time.After(waitLimit):
		c.t.Fatalf("%s's client did not exit", c.name)
	}
}

func (c *ptyClient) register(id, pwd, name string) {
	c.t.Helper()
	c.answer("Choice: ", "2")
	c.answer("New user id: ", id)
	c.answer("Password: ", pwd)
	c.answer("Password again: ", pwd)
	c.answer("Nickname: ", name)
	c.waitFor("Registered user " + id + ". You can log in now.")
}

func (c *ptyClient) login(id, pwd string) {
	c.t.Helper()
	c.answer("Choice: ", "1")
	c.answer("User id: ", id)
	c.answer("Password: ", pwd)
	c.waitFor("Logged in as ")
}

func TestE2EInteractive(t *testing.T) {
	clientBin := clientBinary(t)
	addr := startServer(t)
	alice := startPTY(t, clientBin, addr, "alice")
	bob := startPTY(t, clientBin, addr, "bob")

	alice.register("100", "alice-pw", "alice")
	bob.register("101", "bob-pw-1", "bob")
	alice.login("100", "alice-pw")
	alice.waitFor("alice (100)")
	bob.login("101", "bob-pw-1")
	alice.waitFor("* bob (101) is online") // while alice sits at her prompt

	// Both see each other online.
	alice.answer("Choice: ", "1")
	alice.waitFor("Online users: 2")
	alice.waitFor("alice (100) (you)")
	alice.waitFor("bob (101)")
	bob.answer("Choice: ", "1")
	bob.waitFor("Online users: 2")
	bob.waitFor("alice (100)")
	bob.waitFor("bob (101) (you)")

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
	alice.answer("Choice: ", "3")
	alice.answer("To user id: ", "101")
	alice.answer("Message: ", "psst bob")
	alice.waitFor("Delivered to bob (101).")
	bob.waitFor("[private] alice (100): psst bob")
	bob.typeText(" line\r")
	bob.waitFor("Sent to the group: half typed line")
	alice.waitFor("[group] bob (101): half typed line")

	// Bob logs out; a private message to him is stored and shown at his next login.
	bob.answer("Choice: ", "5")
	bob.waitFor("Logged out.")
	alice.waitFor("* bob (101) went offline")
	alice.answer("Choice: ", "3")
	alice.answer("To user id: ", "101")
	alice.answer("Message: ", "are you there?")
	alice.waitFor("bob (101) is offline: the message is stored")
	bob.login("101", "bob-pw-1")
	bob.waitFor("[private, offline] alice (100): are you there?")

	// The session's conversation, then goodbye.
	alice.answer("Choice: ", "4")
	alice.waitFor("[private] you -> bob (101): are you there?")
	for _, c := range []*ptyClient{alice, bob} {
		c.answer("Choice: ", "5")
		c.waitFor("Logged out.")
		c.answer("Choice: ", "3")
		c.waitFor("Bye.")
		c.exit()
	}
	for _, c := range []*ptyClient{alice, bob} {
		if out := c.out.String(); strings.Contains(out, "alice-pw") || strings.Contains(out, "bob-pw-1") {
			t.Errorf("%s's terminal shows a password:\n%s", c.name, out)
		}
	}
}

// runScript runs the client with script as its stdin and returns its output.
// env is added to the client's environment.
func runScript(t *testing.T, bin, addr, script string, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(script)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("client: %v; output:\n%s", err, out)
		}
	case <-time.After(2 * waitLimit):
		cmd.Process.Kill()
		t.Fatalf("the client did not exit; output:\n%s", out)
	}
	return out.String()
}

func TestE2EScripted(t *testing.T) {
	clientBin := clientBinary(t)
	addr := startServer(t)

	out := runScript(t, clientBin, addr, "2\n100\n123456\n123456\nscripted\n3\n")
	if want := "Registered user 100."; !strings.Contains(out, want) {
		t.Fatalf("registration: got output\n%s\nwant %q", out, want)
	}

	out = runScript(t, clientBin, addr, "1\n100\n123456\n2\nhello all\n5\n3\n")
	for _, want := range []string{
		"Logged in as scripted (100).",
		"Sent to the group: hello all",
		"Logged out.",
		"Bye.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got output\n%s\nwant it to contain %q", out, want)
		}
	}

	// Unknown user, wrong password and an unreachable server are explained.
	out = runScript(t, clientBin, addr, "1\n555\n123456\n1\n100\nwrong-pw\n")
	for _, want := range []string{"No such user 555 (500). Choose 2 to register first.", "Wrong password for user 100 (403)."} {
		if !strings.Contains(out, want) {
			t.Errorf("got output\n%s\nwant it to contain %q", out, want)
		}
	}
	dead := chattest.FreeAddr(t)
	out = runScript(t, clientBin, dead, "1\n100\n123456\n")
	if want := "cannot reach server at " + dead + ": "; !strings.Contains(out, want) {
		t.Errorf("got output\n%s\nwant it to contain %q", out, want)
	}
}

func TestE2ETLS(t *testing.T) {
	clientBin := clientBinary(t)
	dir := t.TempDir()
	ca, cert, key := chattest.WriteCert(t, dir)
	addr := startServer(t, "-tls-cert", cert, "-tls-key", key)

	// CHAT_TLS_CA alone turns TLS on and trusts the test CA.
	out := runScript(t, clientBin, addr, "2\n100\n123456\n123456\ntls user\n", "CHAT_TLS_CA="+ca)
	if want := "Registered user 100."; !strings.Contains(out, want) {
		t.Errorf("got output\n%s\nwant it to contain %q", out, want)
	}
	// Without the CA the certificate is refused.
	out = runScript(t, clientBin, addr, "1\n100\n123456\n", "CHAT_TLS=true")
	if want := "cannot reach server at " + addr + ": tls: failed to verify certificate"; !strings.Contains(out, want) {
		t.Errorf("got output\n%s\nwant it to contain %q", out, want)
	}
}
