package transport

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// copiedHeld is what c holds for the frames copied into its chunks, computed
// from its chunks: each one filled up whole, the used part of the current one,
// and a slot per queued frame.
func copiedHeld(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := framesWaiting(c) * slotSize
	for _, b := range c.full {
		held += cap(*b)
	}
	if c.chunk != nil {
		held += len(*c.chunk)
	}
	return held
}

// TestCopiedFramesCountWhatTheyHold copies frames from one buffer, used again for
// each, to a connection whose peer never reads, until it is cut off: what its
// chunks held never passed MaxQueue, and the frame refused would have.
func TestCopiedFramesCountWhatTheyHold(t *testing.T) {
	const maxQueue = 64 << 10
	c, _ := pipeConn(t)
	c.cfg.MaxQueue = maxQueue // before anything is queued
	if !c.QueueCopy([]byte("first"), "") {
		t.Fatal("the first frame was refused")
	}
	waitTaken(t, c) // the writer is stuck writing it, which holds its slot too
	held := func() int { return copiedHeld(c) + slotSize }
	buf := make([]byte, 0, 1<<10)
	for i := 0; ; i++ {
		if i == 1e5 {
			t.Fatal("never cut off")
		}
		// Sizes that leave chunk ends too small for the next frame.
		buf = append(buf[:0], bytes.Repeat([]byte{byte(i)}, 200+i%7*100)...)
		// What the frame would hold: itself, its slot, and the free end of the
		// chunk it would fill up, which nothing uses then.
		before, cost := held(), len(buf)+slotSize
		c.mu.Lock()
		if c.chunk != nil && len(buf) > cap(*c.chunk)-len(*c.chunk) {
			cost += cap(*c.chunk) - len(*c.chunk)
		}
		c.mu.Unlock()
		if !c.QueueCopy(buf, "") {
			t.Logf("cut off at frame %d, %d bytes held", i, before)
			if before+cost <= maxQueue {
				t.Errorf("cut off with %d bytes held, while a frame costing %d would have fit in %d", before, cost, maxQueue)
			}
			break
		}
		if h := held(); h > maxQueue {
			t.Fatalf("frame %d: %d bytes held, want at most MaxQueue = %d", i, h, maxQueue)
		}
	}
	if got := c.Reason(); got != SlowConsumer {
		t.Errorf("got close reason %v, want %v", got, SlowConsumer)
	}
}

// TestCopiedFrames: a copied frame is written as it was when queued, whatever its
// buffer holds after; large frames take an array of their own; and once all is
// written the connection gives its chunk back.
func TestCopiedFrames(t *testing.T) {
	c, peer := pipeConn(t)
	c.Hold()
	var want []byte
	buf := make([]byte, 0, 2*maxChunkedFrame)
	for i, size := range []int{10, maxChunkedFrame, maxChunkedFrame + 1, 300, 2 * maxChunkedFrame, 7} {
		buf = append(buf[:0], bytes.Repeat([]byte{'a' + byte(i)}, size)...)
		want = append(want, buf...)
		if !c.QueueCopy(buf, "") {
			t.Fatalf("frame %d refused", i)
		}
		clear(buf[:size]) // the caller uses its buffer again
	}
	c.Release()
	got := make([]byte, len(want))
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %q (%v), want %q", got, err, want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		idle, chunk := !c.writing, c.chunk
		c.mu.Unlock()
		if idle {
			if chunk != nil {
				t.Error("the idle connection holds a chunk")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never ended")
		}
		time.Sleep(time.Millisecond)
	}
}
