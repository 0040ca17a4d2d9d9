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
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chat/internal/redistest"
)

// StartTimeout bounds the wait for a started server to accept connections.
const StartTimeout = 10 * time.Second

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := PickAddr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

// PickAddr is FreeAddr for a caller without a testing.TB.
func PickAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// build is the outcome of building one package.
type build struct {
	once sync.Once
	dir  string // of its own, in buildDir
	bin  string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
	buildDir string // made by the first Build, removed by RemoveBuilds
)

// Build builds the main package pkg of this module (an import path such as
// "chat/client") with the go build flags, once per test binary for each pkg and
// flags, and returns the path of the executable, in a temporary directory shared
// by the tests. It fails tb if the build fails. A package whose tests build
// binaries runs them through Main, which removes the builds at the end.
func Build(tb testing.TB, pkg string, flags ...string) string {
	tb.Helper()
	key := strings.Join(append([]string{pkg}, flags...), " ")
	buildsMu.Lock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "chattest-bin")
		if err != nil {
			buildsMu.Unlock()
			tb.Fatalf("go build %s: %v", key, err)
		}
		buildDir = dir
	}
	b := builds[key]
	if b == nil {
		b = &build{dir: filepath.Join(buildDir, strconv.Itoa(len(builds)))}
		builds[key] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		if b.err = os.Mkdir(b.dir, 0o755); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, filepath.Base(pkg))
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

// RemoveBuilds removes every executable Build made (tens of MB each). Main calls
// it once the tests are done; after it, Build builds again.
func RemoveBuilds() error {
	buildsMu.Lock()
	defer buildsMu.Unlock()
	dir := buildDir
	buildDir, builds = "", map[string]*build{}
	if dir == "" {
		return nil
	}
	return os.RemoveAll(dir)
}

// Main runs the tests of m, stops redistest's shared cluster if they started it
// and removes what Build made, then exits with the tests' status: the TestMain
// of a package whose tests build binaries or share a cluster, so that no run
// leaves them behind.
func Main(m *testing.M) {
	code := m.Run()
	if err := redistest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "chattest:", err)
		code = max(code, 1)
	}
	if err := RemoveBuilds(); err != nil {
		fmt.Fprintln(os.Stderr, "chattest:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// ServerBinary builds the chat server (chat/server) once per test binary, with
// -race when the test binary has the race detector, and returns the path of the
// executable; see Build.
func ServerBinary(tb testing.TB) string {
	tb.Helper()
	if RaceEnabled {
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
// -bcrypt-cost 4 (fast logins), then args, and waits until the server accepts
// connections (see Launch); it fails tb if it does not. The process is killed at
// cleanup, and its output is logged if tb failed (and copied to stderr as it comes
// with go test -v).
func StartServerAt(tb testing.TB, addr, redisAddr string, args ...string) *Process {
	tb.Helper()
	spec := Spec{
		Bin:     ServerBinary(tb),
		Addr:    addr,
		Args:    append([]string{"-addr", addr, "-redis", redisAddr, "-bcrypt-cost", "4"}, args...),
		LogPath: filepath.Join(tb.TempDir(), "server.log"),
	}
	if testing.Verbose() {
		spec.Echo = os.Stderr
	}
	p, err := Launch(spec)
	if err != nil {
		tb.Fatal(err)
	}
	// Registered after TempDir's, so it runs before the log is removed.
	tb.Cleanup(func() {
		p.Kill()
		if tb.Failed() {
			tb.Logf("server %s log:\n%s", addr, p.log())
		}
	})
	return p
}

// Spec says how Launch runs a server.
type Spec struct {
	Bin  string   // the executable
	Args []string // its arguments, which make it listen at Addr
	Addr string   // host:port that accepts connections once the server is up
	// LogPath is the file that gets the server's stdout and stderr.
	LogPath string
	// Echo, when not nil, gets a copy of that output as it comes.
	Echo io.Writer
}

// Launch starts spec.Bin and returns once spec.Addr accepts connections. If the
// process exits first, or does not accept within StartTimeout, Launch kills it
// and returns an error that quotes its output. The caller owns the process: Kill
// or Stop ends it. StartServer is Launch for a test; Launch serves programs such
// as the load generator, which run servers they built themselves.
func Launch(spec Spec) (*Process, error) {
	logFile, err := os.Create(spec.LogPath)
	if err != nil {
		return nil, err
	}
	var out io.Writer = logFile
	if spec.Echo != nil {
		out = io.MultiWriter(logFile, spec.Echo)
	}
	cmd := exec.Command(spec.Bin, spec.Args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &Process{Addr: spec.Addr, cmd: cmd, logPath: spec.LogPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	if err := p.waitAccept(); err != nil {
		p.Kill()
		return nil, fmt.Errorf("%s: %w; its output:\n%s", spec.Bin, err, p.log())
	}
	return p, nil
}

// waitAccept polls until p.Addr accepts a connection, the process exits or
// StartTimeout passes.
func (p *Process) waitAccept() error {
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it accepted connections at %s", p.Addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not accept connections at %s within %v", p.Addr, StartTimeout)
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

// Stop sends SIGTERM, which lets the server shut down gracefully, and waits for
// the exit; after grace it kills the process. Stopping an exited process does
// nothing.
func (p *Process) Stop(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

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

// CheckFor polls cond until it holds or timeout passes, then fails tb.
func CheckFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Poll(timeout, cond) {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll is CheckFor for goroutines, which must not fail the test: it reports
// whether cond held within timeout.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
