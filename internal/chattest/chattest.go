// Package chattest runs chat servers and makes TLS certificates for tests of both
// sides.
//
// It is to the chat server what net/http/httptest is to an HTTP handler: a test of
// the server or of the client starts the real server binary (built once per test
// binary) on a free loopback port against a Redis it names, talks to it, and leaves
// the cleanup to chattest.
package chattest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds the wait for a started server to accept connections.
const StartTimeout = 10 * time.Second

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// build is the outcome of building one package.
type build struct {
	once sync.Once
	bin  string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// Build builds the main package pkg of this module (an import path such as
// "chat/client") with the go build flags, once per test binary for each pkg and
// flags, and returns the path of the executable, in a temporary directory shared
// by the tests. It fails tb if the build fails.
func Build(tb testing.TB, pkg string, flags ...string) string {
	tb.Helper()
	key := strings.Join(append([]string{pkg}, flags...), " ")
	buildsMu.Lock()
	b := builds[key]
	if b == nil {
		b = &build{}
		builds[key] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "chattest-bin")
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(dir, filepath.Base(pkg))
		args := append(append([]string{"build", "-o", b.bin}, flags...), pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New(err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		tb.Fatalf("go build %s: %v", key, b.err)
	}
	return b.bin
}

// ServerBinary builds the chat server (chat/server) once per test binary, with
// -race when the test binary has the race detector, and returns the path of the
// executable; see Build.
func ServerBinary(tb testing.TB) string {
	tb.Helper()
	if raceEnabled {
		return Build(tb, "chat/server", "-race")
	}
	return Build(tb, "chat/server")
}

// moduleRoot is the directory of go.mod, two levels above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a chat server running as its own process.
type Process struct {
	// Addr is the host:port the server listens on.
	Addr string

	cmd     *exec.Cmd
	logPath string        // the server's stdout and stderr
	done    chan struct{} // closed when the process has exited
}

// StartServer runs the server binary on a free loopback port; see StartServerAt.
func StartServer(tb testing.TB, redisAddr string, args ...string) *Process {
	tb.Helper()
	return StartServerAt(tb, FreeAddr(tb), redisAddr, args...)
}

// StartServerAt runs the server binary with -addr addr, -redis redisAddr and
// -bcrypt-cost 4 (fast logins), then args; it waits until the server accepts
// connections and fails tb if the server exits or does not accept within
// StartTimeout. The process is killed at cleanup, and its output is logged if tb
// failed (and copied to stderr as it comes with go test -v).
func StartServerAt(tb testing.TB, addr, redisAddr string, args ...string) *Process {
	tb.Helper()
	all := append([]string{"-addr", addr, "-redis", redisAddr, "-bcrypt-cost", "4"}, args...)
	cmd := exec.Command(ServerBinary(tb), all...)
	p := &Process{Addr: addr, cmd: cmd, logPath: filepath.Join(tb.TempDir(), "server.log"), done: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	var out io.Writer = logFile
	if testing.Verbose() {
		out = io.MultiWriter(logFile, os.Stderr)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatal(err)
	}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	// Registered after TempDir's, so it runs before the log is removed.
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("server %s log:\n%s", addr, p.log())
		}
	})
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-p.done:
			tb.Fatalf("the server at %s exited before it accepted connections:\n%s", addr, p.log())
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for the server at %s to accept connections", StartTimeout, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL and waits for it to exit. Calling it again,
// or after the process has exited, does nothing.
func (p *Process) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig and waits up to timeout for the process to exit, failing tb if
// it does not.
func (p *Process) Signal(tb testing.TB, sig os.Signal, timeout time.Duration) {
	tb.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		tb.Fatalf("the server did not exit within %v of %v", timeout, sig)
	}
}

// log returns what the server has written to stdout and stderr so far.
func (p *Process) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// WriteCert writes to dir a test CA (ca.pem), and a certificate for 127.0.0.1
// signed by it (cert.pem) with its key (key.pem), valid for an hour either side
// of now, and returns the three paths.
func WriteCert(tb testing.TB, dir string) (caFile, certFile, keyFile string) {
	tb.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	caKey, leafKey := newKey(), newKey()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chat test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		tb.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}
