package chat

import (
	"bufio"
	"io"
	"sync"
)

// errBufferFull: a Peek asked for more than the buffer holds.
var errBufferFull = bufio.ErrBufferFull

// bigReadBufferSize is the read buffer of a busy connection: one read brings a
// burst of this much, whose frames are handled before anything is written.
const bigReadBufferSize = 16 << 10

// bigReadBuffers holds the read buffers of busy connections, so that only the
// connections reading right now hold one.
var bigReadBuffers = sync.Pool{New: func() any { b := make([]byte, bigReadBufferSize); return &b }}

// readBuffer is the buffered reader of a connection (the part of bufio.Reader
// the connection uses). It reads through a small buffer of its own until a read
// fills it: the connection is busy, and it moves to a big pooled buffer. It gives
// the big one back when it waits for the next frame with nothing buffered
// (release), so an idle connection holds only the small one.
type readBuffer struct {
	rd    io.Reader
	small []byte  // held for the connection's life
	big   *[]byte // the pooled buffer in use; nil while small
	buf   []byte  // small or *big
	r, w  int     // buf[r:w] is buffered
	err   error   // of the last read; returned once what is buffered is used
}

func newReadBuffer(rd io.Reader, size int) *readBuffer {
	small := make([]byte, size)
	return &readBuffer{rd: rd, small: small, buf: small}
}

// Buffered returns how many bytes can be read without reading rd.
func (b *readBuffer) Buffered() int { return b.w - b.r }

// Peek returns the next n bytes without consuming them, reading rd until they
// are buffered. n must not exceed the buffer. With fewer, it returns what there
// is and the read's error.
func (b *readBuffer) Peek(n int) ([]byte, error) {
	for b.w-b.r < n && b.err == nil {
		b.fill()
	}
	if b.w-b.r < n {
		return b.buf[b.r:b.w], b.readErr()
	}
	return b.buf[b.r : b.r+n], nil
}

// Discard skips the next n buffered bytes; n must not exceed Buffered.
func (b *readBuffer) Discard(n int) {
	b.r += n
}

// Read reads into p: what is buffered, else one read of rd (straight into p when
// p is at least as large as the buffer).
func (b *readBuffer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.readErr()
		}
		if len(p) >= len(b.buf) {
			return b.rd.Read(p)
		}
		b.fill()
		if b.r == b.w {
			return 0, b.readErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// fill makes one read of rd after what is buffered. The small buffer full from
// the last read means the peer sends faster than it is read: the rest moves to a
// big buffer, and the reads from now on go there.
func (b *readBuffer) fill() {
	if b.big == nil && b.w == len(b.buf) {
		big := bigReadBuffers.Get().(*[]byte)
		b.w = copy(*big, b.buf[b.r:b.w])
		b.r = 0
		b.big, b.buf = big, *big
	} else if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	if b.w == len(b.buf) {
		b.err = errBufferFull
		return
	}
	n, err := b.rd.Read(b.buf[b.w:])
	b.w += n
	b.err = err
}

func (b *readBuffer) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// release gives the big buffer back if nothing is buffered in it: the
// connection is about to wait for its next frame.
func (b *readBuffer) release() {
	if b.big == nil || b.r != b.w {
		return
	}
	bigReadBuffers.Put(b.big)
	b.big, b.buf = nil, b.small
	b.r, b.w = 0, 0
}
