package main

// The end-to-end harness: the real client binary, in a pseudo-terminal (ptyClient)
// or fed a script (runScript), against the real server binary and a real redis-server.

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

// TestMain removes the binaries chattest built: the end-to-end tests build the client and the server.
func TestMain(m *testing.M) { chattest.Main(m) }

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
// It skips the test first where clientBinary does.
func startServer(t *testing.T, flags ...string) string {
	t.Helper()
	clientBinary(t)
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

// waitForAll waits for each of ss in turn, each after the one before.
func (c *ptyClient) waitForAll(ss ...string) {
	c.t.Helper()
	for _, s := range ss {
		c.waitFor(s)
	}
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

// startAliceAndBob starts alice (100) on aliceAddrs and bob (101) on bobAddr in
// their terminals, registers both and logs alice in; bob logs in when the test says.
func startAliceAndBob(t *testing.T, aliceAddrs, bobAddr string) (alice, bob *ptyClient) {
	t.Helper()
	bin := clientBinary(t)
	alice = startPTY(t, bin, aliceAddrs, "alice")
	bob = startPTY(t, bin, bobAddr, "bob")
	alice.register("100", "alice-pw", "alice")
	bob.register("101", "bob-pw-1", "bob")
	alice.login("100", "alice-pw")
	return alice, bob
}

// sendPrivate sends text to user id to from the session menu.
func (c *ptyClient) sendPrivate(to, text string) {
	c.t.Helper()
	c.answer("Choice: ", "3")
	c.answer("To user id: ", to)
	c.answer("Message: ", text)
}

// sayInRoom sends text to room id room from the session menu.
func (c *ptyClient) sayInRoom(room, text string) {
	c.t.Helper()
	c.answer("Choice: ", "11")
	c.answer("Room id: ", room)
	c.answer("Message: ", text)
}

// history asks for the history of a (u)ser or a (r)oom with the id.
func (c *ptyClient) history(kind, id string) {
	c.t.Helper()
	c.answer("Choice: ", "12")
	c.answer("History of a (u)ser or a (r)oom? ", kind)
	if kind == "r" {
		c.answer("Room id: ", id)
	} else {
		c.answer("User id: ", id)
	}
}

// logout logs out from the session menu.
func (c *ptyClient) logout() {
	c.t.Helper()
	c.answer("Choice: ", "5")
	c.waitFor("Logged out.")
}

// quit logs each client out, exits it and checks it exited 0.
func quit(clients ...*ptyClient) {
	for _, c := range clients {
		c.t.Helper()
		c.logout()
		c.answer("Choice: ", "3")
		c.waitFor("Bye.")
		c.exit()
	}
}

// wantOutput checks out contains each of wants, and reports whether it does.
func wantOutput(t *testing.T, out string, wants ...string) bool {
	t.Helper()
	ok := true
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("got output\n%s\nwant it to contain %q", out, want)
			ok = false
		}
	}
	return ok
}
