package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// pipeConn returns a Conn with default settings whose peer is the
// other end of a net.Pipe: nothing written to it goes anywhere until peer reads.
func pipeConn(t *testing.T) (c *Conn, peer net.Conn) {
	t.Helper()
	end, peer := net.Pipe()
	c = newTestConn(testConfig(4<<20, 30*time.Second), end)
	t.Cleanup(func() {
		c.Close(ReasonNone)
		peer.Close()
	})
	return c, peer
}

// blockedWithBacklog queues a frame and waits until the writer is writing it
// (and so blocked: peer reads only its first byte), then queues backlog bytes
// behind it.
func blockedWithBacklog(t *testing.T, c *Conn, peer net.Conn, backlog int) {
	t.Helper()
	if !c.Queue(bytes.Repeat([]byte{'a'}, 100), "") {
		t.Fatal("enqueue of the first frame refused")
	}
	// The byte comes once the writer has taken the frame off the queue.
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, make([]byte, 1)); err != nil {
		t.Fatalf("the writer never wrote the first frame: %v", err)
	}
	peer.SetReadDeadline(time.Time{})
	if !c.Queue(bytes.Repeat([]byte{'b'}, backlog), "") {
		t.Fatal("enqueue of the backlog refused")
	}
}

// WaitQueueBelowAsync runs c.WaitQueueBelow(n) and delivers its result.
func WaitQueueBelowAsync(c *Conn, n int) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- c.WaitQueueBelow(n) }()
	return done
}

// stillWaiting fails t if WaitQueueBelow has returned within a short span: the
// span is the check (nothing may happen during it), not a synchronisation.
func stillWaiting(t *testing.T, done <-chan bool) {
	t.Helper()
	select {
	case got := <-done:
		t.Fatalf("WaitQueueBelow returned %v while the backlog was still queued, want it to wait", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// result waits for WaitQueueBelow's result.
func result(t *testing.T, done <-chan bool) bool {
	t.Helper()
	select {
	case got := <-done:
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("WaitQueueBelow never returned")
		return false
	}
}

func TestWaitQueueBelow(t *testing.T) {
	t.Run("below already", func(t *testing.T) {
		c, _ := pipeConn(t)
		if got := result(t, WaitQueueBelowAsync(c, 1)); !got {
			t.Errorf("empty queue: got %v, want true", got)
		}
	})
	t.Run("true once the queue drains", func(t *testing.T) {
		c, peer := pipeConn(t)
		blockedWithBacklog(t, c, peer, 200)
		done := WaitQueueBelowAsync(c, 150)
		stillWaiting(t, done)
		go io.Copy(io.Discard, peer)
		if got := result(t, done); !got {
			t.Errorf("after the peer read: got %v, want true", got)
		}
	})
	// Closing ends the wait, whether the queue is above n or at it (not below).
	for _, n := range []int{150, 200} {
		t.Run(fmt.Sprintf("false when the conn closes, n %d", n), func(t *testing.T) {
			c, peer := pipeConn(t)
			blockedWithBacklog(t, c, peer, 200)
			done := WaitQueueBelowAsync(c, n)
			stillWaiting(t, done)
			c.Close(WriteError)
			if got := result(t, done); got {
				t.Errorf("after close: got %v, want false", got)
			}
		})
	}
	t.Run("false when already closing", func(t *testing.T) {
		c, peer := pipeConn(t)
		blockedWithBacklog(t, c, peer, 200)
		c.CloseAfterFlush(ReasonNone)
		if got := result(t, WaitQueueBelowAsync(c, 1<<30)); got {
			t.Errorf("closing conn: got %v, want false", got)
		}
	})
}

// TestPlainConn: with Config.Plain, a socket gets no descriptor of its own (every
// write goes through net.Conn), its reader stays on its goroutine, and frames
// still reach the peer whole and in order.
func TestPlainConn(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain %v", plain), func(t *testing.T) {
			cfg := testConfig(4<<20, 30*time.Second)
			cfg.Plain = plain
			c, peer := socketPair(t, cfg)
			if got := c.FD() >= 0; got == plain {
				t.Errorf("direct writes: got %v, want %v", got, !plain)
			}
			if got := c.br.raw != nil; got == plain {
				t.Errorf("reads without waiting: got %v, want %v", got, !plain)
			}
			if got := c.Idle(true); got == plain {
				t.Errorf("a reader that handled frames hands on: got %v, want %v", got, !plain)
			}
			frames := patterned(50, 1000)
			c.Hold()
			for _, f := range frames {
				if !c.Queue(f, "") {
					t.Fatal("a frame was refused")
				}
			}
			c.Release()
			want := bytes.Join(frames, nil)
			if b := <-readAll(peer, len(want)); !bytes.Equal(b, want) {
				t.Errorf("the peer got %d bytes, want %d: the stream differs at byte %d", len(b), len(want), firstDifference(b, want))
			}
		})
	}
}

// TestCloseDuringWrites closes connections while their writers write to them
// directly, without the lock: whichever of Close and the writer closes the
// socket, it is closed once, and Gone ends.
func TestCloseDuringWrites(t *testing.T) {
	cfg := testConfig(64<<20, 30*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 100 {
		// Default buffers and a peer that reads: the socket is rarely full, so
		// the writer is mostly in a direct write.
		peer, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		nc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c := newTestConn(cfg, nc)
		go io.Copy(io.Discard, peer)
		frame := make([]byte, 1<<10)
		for range 64 {
			c.Queue(frame, "")
		}
		time.Sleep(time.Duration(i%10) * 20 * time.Microsecond) // a spread of moments, not a synchronisation
		c.Close(ClientClosed)
		select {
		case <-c.Gone():
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d: not closed", i)
		}
		if got := c.Reason(); got != ClientClosed {
			t.Errorf("connection %d: got reason %v, want %v", i, got, ClientClosed)
		}
	}
}

// TestIdleHandsOnOncePerInterval: the reading moves on to a fresh goroutine
// after handling frames, but a connection that keeps chatting does so once per
// handOnEvery, not before every wait.
func TestIdleHandsOnOncePerInterval(t *testing.T) {
	c, _ := socketPair(t, testConfig(4<<20, 30*time.Second))
	steps := []struct {
		handled bool
		back    time.Duration // the last hand-on made this much older first
		want    bool
	}{
		{handled: false, want: false},
		{handled: true, want: true},
		{handled: true, want: false},
		{handled: true, back: handOnEvery / 2, want: false},
		{handled: true, back: handOnEvery / 2, want: true},
		{handled: false, back: 2 * handOnEvery, want: false},
	}
	for i, s := range steps {
		c.handedOnAt -= int64(s.back)
		if got := c.Idle(s.handled); got != s.want {
			t.Errorf("step %d (handled %v): got %v, want %v", i, s.handled, got, s.want)
		}
	}
}
