package redistest

import (
	"net"
	"testing"
)

// Silent stands for a hung Redis: it listens on addr ("127.0.0.1:0" for a free
// port, or the address of a Redis that was stopped, to take its place) and accepts
// connections that never get an answer, until the test ends. It returns the
// address it listens on.
func Silent(t testing.TB, addr string) string {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("redistest: listening on %s for a silent Redis: %v", addr, err)
	}
	held := make(chan net.Conn, 1024)
	go func() {
		defer close(held)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			held <- nc
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for nc := range held {
			nc.Close()
		}
	})
	return l.Addr().String()
}
