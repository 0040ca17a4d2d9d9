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

// TestKeptReaderHandsOnWhenIdle: a reading goroutine that Idle kept (it moved
// on less than handOnEvery ago) waits until that interval ends at most, then
// WaitFrame says to move on after all; the owner's read deadline still holds
// and is the socket's again afterwards.
func TestKeptReaderHandsOnWhenIdle(t *testing.T) {
	const soon = 50 * time.Millisecond
	// keep has Idle keep c's reader, its interval ending soon after base.
	keep := func(c *Conn, base time.Time) {
		t.Helper()
		c.handedOnAt = base.Add(soon - handOnEvery).UnixNano()
		if c.Idle(true) {
			t.Fatal("Idle handed on within the interval")
		}
	}
	timeout := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	tests := []struct {
		name     string
		owner    time.Duration // the owner's deadline from now; 0: none
		write    bool          // a frame arrives before the interval ends
		want     string        // what WaitFrame returns: "hand on", "timeout" or "frame"
		thenWait string        // what a second wait returns with nothing sent: "timeout" or "" (not tried)
	}{
		{"idle, no deadline", 0, false, "hand on", ""},
		{"idle, the owner's deadline later", 300 * time.Millisecond, false, "hand on", "timeout"},
		{"the owner's deadline first", 20 * time.Millisecond, false, "timeout", ""},
		{"a frame first", 0, true, "frame", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := socketPair(t, testConfig(4<<20, 30*time.Second))
			base := time.Now() // both deadlines count from it, however slow the test runs
			if tt.owner != 0 {
				c.SetReadDeadline(base.Add(tt.owner))
			}
			keep(c, base)
			if tt.write {
				peer.Write(frame.Append(nil, []byte("hi")))
			}
			start := time.Now()
			err := c.WaitFrame()
			got := "frame"
			switch {
			case err == ErrHandOn:
				got = "hand on"
			case timeout(err):
				got = "timeout"
			case err != nil:
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("WaitFrame: got %s (%v after %v), want %s", got, err, time.Since(start), tt.want)
			}
			if tt.thenWait != "" {
				stop := time.AfterFunc(5*time.Second, func() { c.Close(ReasonNone) }) // not a hang: a failure
				defer stop.Stop()
				if err := c.WaitFrame(); !timeout(err) {
					t.Errorf("a second wait: got %v, want the owner's deadline to end it", err)
				}
			}
			if tt.write {
				// The frame arrived in time: the interval's deadline is gone.
				if _, err := c.ReadFrame(100, 0); err != nil {
					t.Fatal(err)
				}
				time.AfterFunc(2*soon, func() { peer.Write(frame.Append(nil, []byte("later"))) })
				if err := c.WaitFrame(); err != nil {
					t.Errorf("a wait past the interval after a frame: got %v, want the next frame", err)
				}
			}
		})
	}
}
