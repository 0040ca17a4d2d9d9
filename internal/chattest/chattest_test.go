package chattest_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// TestMain removes the binaries chattest built: the tests build the server.
func TestMain(m *testing.M) { chattest.Main(m) }

func TestFreeAddr(t *testing.T) {
	addr := chattest.FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l.Close()
}

func TestWriteCert(t *testing.T) {
	caFile, certFile, keyFile := chattest.WriteCert(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the certificate does not verify for 127.0.0.1 against the CA: %v", err)
	}
}

func TestStartServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server; skipped in -short mode")
	}
	r := redistest.Start(t)
	p := chattest.StartServer(t, r.Addr)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatalf("dial %s: %v", p.Addr, err)
	}
	c.Close()
	p.Signal(t, syscall.SIGTERM, 15*time.Second)
	p.Kill() // after the exit: does nothing
	if c, err := net.Dial("tcp", p.Addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after SIGTERM", p.Addr)
	}
}

func TestLaunchReportsAnEarlyExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	spec := chattest.Spec{
		Bin:     sh,
		Args:    []string{"-c", "echo cannot listen >&2; exit 3"},
		Addr:    chattest.FreeAddr(t),
		LogPath: filepath.Join(t.TempDir(), "out.log"),
	}
	p, err := chattest.Launch(spec)
	if err == nil {
		p.Kill()
		t.Fatalf("got a process at %s, want an error", p.Addr)
	}
	for _, want := range []string{"exited before it accepted connections", "cannot listen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
}

func TestLaunchAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server; skipped in -short mode")
	}
	r := redistest.Start(t)
	addr, err := chattest.PickAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := chattest.Launch(chattest.Spec{
		Bin:     chattest.ServerBinary(t),
		Args:    []string{"-addr", addr, "-redis", r.Addr},
		Addr:    addr,
		LogPath: filepath.Join(t.TempDir(), "server.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if p.Pid() <= 0 {
		t.Errorf("Pid: got %d, want the process id", p.Pid())
	}
	p.Stop(15 * time.Second)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after Stop", addr)
	}
	p.Stop(time.Second) // after the exit: does nothing
}
