// Package frame reads and writes the length-prefixed frames of the wire protocol:
// a 4-byte big-endian body length followed by that many bytes of body.
package frame

import (
	"encoding/binary"
	"errors"
	"io"
)

// HeaderLen is the size of the length prefix.
const HeaderLen = 4

// Errors of the codec. Both are protocol violations: the stream cannot be resynchronised.
var (
	// ErrFrameTooLarge means the length prefix is above the reader's limit.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrEmptyFrame means the length prefix is zero.
	ErrEmptyFrame = errors.New("empty frame")
)

// firstStep is the most Read allocates for a body before its bytes arrive.
const firstStep = 512

// Read reads one frame and returns its body. The length is checked against limit
// before anything is allocated. The body is read into buf when it fits, so a caller
// that owns buf may reuse it. Otherwise the body grows as its bytes arrive: Read
// reads into a buffer of at most firstStep bytes (or buf's capacity, if larger),
// then doubles it each time it is full, up to the announced length. So a peer that
// announces a large frame and stalls costs what it sent (at most twice that, plus
// firstStep), not what it announced.
// A stream that ends inside a frame gives io.ErrUnexpectedEOF; one that ends between
// frames gives io.EOF.
func Read(r io.Reader, limit int, buf []byte) ([]byte, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	// int64 holds every uint32 and every int, so a negative limit rejects all frames
	// instead of wrapping around to no limit at all.
	if int64(n) > int64(limit) {
		return nil, ErrFrameTooLarge
	}
	size := int(n)
	step := min(size, max(cap(buf), firstStep))
	if step > cap(buf) {
		buf = make([]byte, 0, step)
	}
	buf = buf[:0]
	for {
		got := len(buf)
		buf = buf[:step]
		if _, err := io.ReadFull(r, buf[got:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if step == size {
			return buf, nil
		}
		step = min(size, 2*step)
		buf = append(make([]byte, 0, step), buf...)
	}
}

// Append appends the frame of body (prefix and body) to dst.
func Append(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// Write writes the frame of body to w in one call.
func Write(w io.Writer, body []byte) error {
	_, err := w.Write(Append(make([]byte, 0, HeaderLen+len(body)), body))
	return err
}

// SetLength writes into the first HeaderLen bytes of f the length of the body that
// follows them, for encoders that reserve the prefix and append the body after it.
func SetLength(f []byte) {
	binary.BigEndian.PutUint32(f, uint32(len(f)-HeaderLen))
}
