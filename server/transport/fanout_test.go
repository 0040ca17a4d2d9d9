package transport

import (
	"io"
	"net"
	"testing"
	"time"
)

// A fan-out's targets get the shared frame, the alternative one, or parts of
// their own, the empty ones skipped; Send counts every target that got any.
func TestFanOutParts(t *testing.T) {
	shared, alt := []byte("shared"), []byte("alt:one,two,three")
	tests := []struct {
		name string
		add  func(l *FanOut, c *Conn)
		want string
	}{
		{"shared", func(l *FanOut, c *Conn) { l.Add(c, false) }, "shared"},
		{"alternative", func(l *FanOut, c *Conn) { l.Add(c, true) }, "alt:one,two,three"},
		{"parts around its own", func(l *FanOut, c *Conn) { l.AddParts(c, alt[:8], alt[11:]) }, "alt:one,,three"},
		{"the first part empty", func(l *FanOut, c *Conn) { l.AddParts(c, alt[:0], alt[8:]) }, "two,three"},
		{"the last part empty", func(l *FanOut, c *Conn) { l.AddParts(c, alt[:7], alt[17:]) }, "alt:one"},
	}
	cfg := testConfig(1<<20, 10*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := NewFanOut(cfg)
	peers := make([]net.Conn, len(tests))
	for i, tt := range tests {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newTestConn(cfg, nc)
		defer c.Close(ClientClosed)
		c.SetReady()
		tt.add(l, c)
		peers[i] = peer
	}
	if got := l.Send(shared, alt); got != len(tests) {
		t.Errorf("Send: got %d, want %d", got, len(tests))
	}
	for i, tt := range tests {
		buf := make([]byte, len(tt.want))
		peers[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(peers[i], buf); err != nil || string(buf) != tt.want {
			t.Errorf("%s: got %q (%v), want %q", tt.name, buf, err, tt.want)
		}
		// Nothing more: a read of one byte more times out.
		peers[i].SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if n, _ := peers[i].Read(make([]byte, 1)); n != 0 {
			t.Errorf("%s: more than %q", tt.name, tt.want)
		}
	}
}
