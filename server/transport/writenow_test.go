package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// socketPair returns the server's end of a loopback TCP connection, as a conn of
// s, and the peer's end. Both have small buffers, so that a few hundred KB fill
// them while the peer does not read.
func socketPair(t *testing.T, s *Config) (*Conn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	peer.(*net.TCPConn).SetReadBuffer(4096)
	nc.(*net.TCPConn).SetWriteBuffer(4096)
	c := newTestConn(s, nc)
	if c.fd < 0 && !s.Plain {
		t.Fatal("a TCP connection got no socket to write to directly")
	}
	return c, peer.(*net.TCPConn)
}

func testServer() *Config {
	return testConfig(64<<20, time.Hour)
}

// patterned returns n frames of size bytes, each of its own bytes.
func patterned(n, size int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	return frames
}

// fillSocket writes frames with writeNow until the socket takes only part of
// them, and returns everything written so far, in order, and what was left.
func fillSocket(t *testing.T, c *Conn, frames [][]byte) (wrote []byte, rest [][]byte) {
	t.Helper()
	all := bytes.Join(frames, nil)
	for i := 0; i < 10000; i++ {
		batch := append([][]byte(nil), frames...) // writeNow may slice the first frame it leaves
		c.mu.Lock()
		rest, err := c.writeNow(batch)
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("writeNow: %v", err)
		}
		left := bytes.Join(rest, nil)
		if !bytes.HasSuffix(all, left) {
			t.Fatalf("writeNow left %d bytes that are not the end of the %d given", len(left), len(all))
		}
		wrote = append(wrote, all[:len(all)-len(left)]...)
		if len(rest) > 0 {
			return wrote, rest
		}
	}
	t.Fatal("the socket never filled up")
	return nil, nil
}

// readAll reads n bytes from peer, or what came before an error or 10 s.
func readAll(peer net.Conn, n int) chan []byte {
	got := make(chan []byte, 1)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() {
		b := make([]byte, n)
		k, _ := io.ReadFull(peer, b)
		got <- b[:k]
	}()
	return got
}

// TestWriteNowLeavesTheRest fills a socket whose peer does not read with
// writeNow, then writes what it left the way the writer does, and checks that
// the peer gets every byte once, in order: one frame or a batch, cut anywhere.
func TestWriteNowLeavesTheRest(t *testing.T) {
	tests := []struct {
		name         string
		frames, size int
	}{
		{"one frame", 1, 100 << 10},
		{"a batch of frames", 5, 20 << 10},
		{"many small frames", 200, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := socketPair(t, testServer())
			wrote, rest := fillSocket(t, c, patterned(tt.frames, tt.size))
			want := append(wrote, bytes.Join(rest, nil)...)
			got := readAll(peer, len(want))
			if err := c.write(rest); err != nil {
				t.Fatalf("writing the rest: %v", err)
			}
			if b := <-got; !bytes.Equal(b, want) {
				t.Errorf("the peer got %d bytes, want %d: the stream differs at byte %d", len(b), len(want), firstDifference(b, want))
			}
		})
	}
}

// TestWriterPassesAFullSocket: whoever writes what is queued (the last Release
// of a hold, as a fan-out writer or a burst's reader does, or a Queue while no
// writer runs) must return without waiting when the socket is full and its
// peer does not read (the write deadline is an hour away), and what was queued
// must still reach the peer, in order, once the peer reads.
func TestWriterPassesAFullSocket(t *testing.T) {
	for _, held := range []bool{true, false} {
		t.Run(fmt.Sprintf("held %v", held), func(t *testing.T) {
			c, peer := socketPair(t, testServer())
			wrote, rest := fillSocket(t, c, patterned(4, 16<<10))
			f := bytes.Repeat([]byte("broadcast"), 1000)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if held {
					c.Hold()
					defer c.Release()
				}
				for _, g := range append(rest, f) {
					if !c.Queue(g, "") {
						t.Error("a frame was refused")
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the writer waited for the full socket")
			}
			want := append(append(wrote, bytes.Join(rest, nil)...), f...)
			if b := <-readAll(peer, len(want)); !bytes.Equal(b, want) {
				t.Errorf("the peer got %d bytes, want %d: the stream differs at byte %d", len(b), len(want), firstDifference(b, want))
			}
		})
	}
}

func firstDifference(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
