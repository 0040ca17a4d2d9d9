package transport

import (
	"bufio"
	"io"
	"sync"
	"syscall"
)

// bigReadBufferSize is the read buffer of a busy connection: one read brings a
// burst of this much, whose frames are handled before anything is written.
const bigReadBufferSize = 16 << 10

// bigReadBuffers holds the read buffers of busy connections, so that only the
// connections reading right now hold one.
var bigReadBuffers = sync.Pool{New: func() any { b := make([]byte, bigReadBufferSize); return &b }}

// readBuffer is the buffered reader of a connection (the part of bufio.Reader
// the connection uses). It reads through a small buffer of its own until a read
// fills it: the peer sends faster than it is read, and the next reads go to a big
// pooled buffer, which bring the frames of a whole burst at once. A read that
// does not fill the big buffer has drained the socket, so the next one would
// likely wait: it goes back to the small buffer (if what is buffered fits), as
// does waiting for the next frame with nothing buffered (release). So only a
// connection reading right now holds a big buffer; an idle one, or one stalled
// inside a frame, holds the small one and what frame.Read allocated.
type readBuffer struct {
	rd     io.Reader
	raw    syscall.RawConn // rd's socket, for reads that do not wait; nil if none
	small  []byte          // held for the connection's life
	big    *[]byte         // the pooled buffer in use; nil while small
	buf    []byte          // small or *big
	r, w   int             // buf[r:w] is buffered
	filled bool            // the last read filled buf: more is likely waiting
	err    error           // of the last read; returned once what is buffered is used
}

// newReadBuffer returns a readBuffer of rd whose own buffer has size bytes;
// readNow reads without waiting only if direct is set.
func newReadBuffer(rd io.Reader, size int, direct bool) *readBuffer {
	small := make([]byte, size)
	b := &readBuffer{rd: rd, small: small, buf: small}
	if sc, ok := rd.(syscall.Conn); ok && direct {
		b.raw, _ = sc.SyscallConn()
	}
	return b
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

// fill makes one read of rd after what is buffered, in the buffer the last
// read's outcome calls for.
func (b *readBuffer) fill() {
	buffered, old := b.buf[b.r:b.w], b.big
	switch {
	case b.big == nil && b.filled:
		b.big = bigReadBuffers.Get().(*[]byte)
		b.buf = *b.big
	case b.big != nil && !b.filled && len(buffered) <= len(b.small):
		b.big, b.buf = nil, b.small
	}
	b.w = copy(b.buf, buffered)
	b.r = 0
	if old != nil && old != b.big {
		bigReadBuffers.Put(old) // once its bytes are copied out
	}
	if b.w == len(b.buf) {
		b.err = bufio.ErrBufferFull // a Peek asked for more than the buffer holds
		return
	}
	n, err := b.rd.Read(b.buf[b.w:])
	b.filled = n == len(b.buf)-b.w
	b.w += n
	b.err = err
}

func (b *readBuffer) readErr() error {
	err := b.err
	b.err = nil
	return err
}

// release makes the next read go to the small buffer if nothing is buffered:
// the connection is about to wait for its next frame, maybe for long. A
// connection holding the big buffer first takes what has arrived meanwhile
// without waiting (readNow): while its peer keeps sending, it keeps the buffer
// and its bursts whole.
func (b *readBuffer) release() {
	if b.r != b.w {
		return
	}
	b.r, b.w = 0, 0
	if b.big != nil && b.readNow() {
		return
	}
	b.filled = false
	if b.big != nil {
		bigReadBuffers.Put(b.big)
		b.big, b.buf = nil, b.small
	}
}

// drop gives the big buffer back for good: the connection reads no more.
func (b *readBuffer) drop() {
	if b.big != nil {
		bigReadBuffers.Put(b.big)
		b.big, b.buf, b.r, b.w = nil, b.small, 0, 0
	}
}

// readNow reads into the empty buffer what has arrived on the socket, without
// waiting. It reports whether anything had; a failure is left to the read that
// follows, which waits and reports it.
func (b *readBuffer) readNow() bool {
	if b.raw == nil {
		return false
	}
	n := 0
	err := b.raw.Read(func(fd uintptr) bool {
		n, _ = readNonblocking(fd, b.buf) // -1 and EAGAIN if nothing has arrived
		return true                       // never wait
	})
	if err != nil || n <= 0 {
		return false
	}
	b.w, b.filled = n, n == len(b.buf)
	return true
}
