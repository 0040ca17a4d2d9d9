package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"time"

	"chat/common/frame"
)

// ErrHandOn is WaitFrame's answer when the reading goroutine should hand the
// reading on to a fresh one after all: it waited until Idle's interval ended.
var ErrHandOn = errors.New("hand the reading on")

// readBufferSize is small on purpose: an idle connection holds it for its whole
// life. A frame that is all in the read buffer is returned in place; a larger
// one is read into its own buffer, which grows as the frame's bytes arrive
// (frame.Read). A busy connection reads through a big pooled buffer instead
// (readbuf.go) while it stays busy.
const readBufferSize = 512

// The read methods are called by the owner's reading goroutine only.

// WaitFrame waits until the next frame's first byte has arrived, or the read
// fails (the peer closed, a deadline passed). A goroutine that Idle kept on
// waits until the end of its interval at most: then WaitFrame returns
// ErrHandOn, and the reading goes on in a fresh goroutine, as Idle would have
// had it.
func (c *Conn) WaitFrame() error {
	c.skipLast()
	if !c.kept {
		_, err := c.br.Peek(1)
		return err
	}
	c.kept = false
	at := c.handedOnAt + int64(handOnEvery)
	c.nc.SetReadDeadline(time.Unix(0, at))
	// The owner's deadline, read once this one is set (a Shutdown's set
	// meanwhile is seen), comes first if it is earlier.
	if owner := c.readDeadline.Load(); owner != 0 && owner <= at {
		c.nc.SetReadDeadline(unixTime(owner))
	}
	_, err := c.br.Peek(1)
	c.restoreReadDeadline()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && c.br.Buffered() == 0 {
		if owner := c.readDeadline.Load(); owner == 0 || time.Now().UnixNano() < owner {
			c.handedOnAt = time.Now().UnixNano()
			return ErrHandOn
		}
	}
	return err
}

// ReadFrame reads the next frame, of at most limit bytes (frame.ErrFrameTooLarge
// beyond). A frame all in the read buffer is returned in place, valid until the
// next read method; any other is read into a buffer of its own that grows as its
// bytes arrive, so that a connection holds no more than the part of a frame it
// has received. A frame not buffered whole must arrive within timeout, unless
// timeout is zero (then the socket's read deadline, if any, bounds it).
func (c *Conn) ReadFrame(limit int, timeout time.Duration) ([]byte, error) {
	c.skipLast()
	if n, ok := c.frameBuffered(); ok {
		if n == 0 || n > limit {
			return frame.Read(c.br, limit, nil) // the codec's own error
		}
		f, _ := c.br.Peek(frame.HeaderLen + n)
		c.discard = frame.HeaderLen + n
		return f[frame.HeaderLen:], nil
	}
	if timeout == 0 {
		return frame.Read(c.br, limit, nil)
	}
	if owner := c.readDeadline.Load(); owner == 0 || time.Now().Add(timeout).UnixNano() < owner {
		c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	body, err := frame.Read(c.br, limit, nil)
	c.restoreReadDeadline()
	return body, err
}

// FrameBuffered reports whether the next frame is in the read buffer whole:
// reading it cannot wait.
func (c *Conn) FrameBuffered() bool {
	c.skipLast()
	_, ok := c.frameBuffered()
	return ok
}

// skipLast discards the frame ReadFrame returned in place.
func (c *Conn) skipLast() {
	if c.discard > 0 {
		c.br.Discard(c.discard)
		c.discard = 0
	}
}

// frameBuffered reports whether a whole frame is in the read buffer, and the
// length of its body.
func (c *Conn) frameBuffered() (n int, ok bool) {
	buffered := c.br.Buffered()
	if buffered < frame.HeaderLen {
		return 0, false
	}
	hdr, _ := c.br.Peek(frame.HeaderLen)
	length := uint64(binary.BigEndian.Uint32(hdr))
	return int(length), uint64(buffered) >= frame.HeaderLen+length
}

// Idle is called by the reading goroutine before it waits for the next frame.
// It lets go of the big read buffer unless bytes have arrived meanwhile
// (readBuffer.release), and reports whether the reading should go on in a
// fresh goroutine: after the goroutine has handled frames (handled), when
// nothing is buffered, Config.Plain is not set, and the reading last moved on
// at least handOnEvery ago. Handling frames grows a goroutine's stack, which
// the runtime does not shrink back to its smallest while the goroutine waits
// in a read; a fresh goroutine starts small, so an idle connection costs less
// (BENCHMARKS.md, chat-load idle). But a fresh goroutine grows its stack again
// at its next frame: a connection that chats moves on once per handOnEvery,
// not at every message (chat-load realistic).
func (c *Conn) Idle(handled bool) (handOn bool) {
	c.skipLast()
	c.br.release()
	if !handled || c.cfg.Plain || c.br.Buffered() != 0 {
		return false
	}
	now := time.Now().UnixNano()
	if now-c.handedOnAt < int64(handOnEvery) {
		c.kept = true // WaitFrame hands on at the interval's end
		return false
	}
	c.handedOnAt = now
	return true
}

// handOnEvery is how often at most the reading of a connection moves on to a
// fresh goroutine.
const handOnEvery = time.Second

// StopReading gives the big read buffer back for good: the reading is over.
func (c *Conn) StopReading() {
	c.skipLast()
	c.br.drop()
}
