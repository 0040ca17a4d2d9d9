package transport

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// pipeConn returns a conn of a server with default settings whose peer is the
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
