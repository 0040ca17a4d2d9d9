package transport

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"chat/common/frame"
)

// TestReadFrame reads frames the way the owner's reading goroutine does: a burst
// of whole frames comes in place, each valid until the next read; a frame over
// the limit is refused; one that stops half way ends with its timeout.
func TestReadFrame(t *testing.T) {
	c, peer := pipeConn(t)
	bodies := [][]byte{[]byte("one"), []byte("two"), bytes.Repeat([]byte{'x'}, 300)}
	var wire []byte
	for _, b := range bodies {
		wire = frame.Append(wire, b)
	}
	go peer.Write(wire) // one write: a burst
	if err := c.WaitFrame(); err != nil {
		t.Fatalf("WaitFrame: %v", err)
	}
	for i, want := range bodies {
		got, err := c.ReadFrame(1000, time.Second)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %q, %v, want %q", i, got, err, want)
		}
		if buffered, last := c.FrameBuffered(), i == len(bodies)-1; buffered == last {
			t.Fatalf("after frame %d: FrameBuffered %v, want %v", i, buffered, !last)
		}
	}

	go peer.Write(frame.Append(nil, make([]byte, 2000)))
	if _, err := c.ReadFrame(1000, time.Second); !errors.Is(err, frame.ErrFrameTooLarge) {
		t.Errorf("a frame over the limit: got %v, want %v", err, frame.ErrFrameTooLarge)
	}
}

func TestReadFrameTimeout(t *testing.T) {
	c, peer := pipeConn(t)
	go peer.Write([]byte{0, 0, 0, 10, 'a'}) // 10 bytes announced, 1 sent
	if err := c.WaitFrame(); err != nil {
		t.Fatalf("WaitFrame: %v", err)
	}
	_, err := c.ReadFrame(1000, 50*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("a stalled frame: got %v, want a timeout", err)
	}
}
