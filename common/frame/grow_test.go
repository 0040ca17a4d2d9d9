package frame

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// stalledFrame is a header announcing n bytes followed by only sent of them: a peer
// that stalls inside a frame (the stream then ends, so that Read returns).
func stalledFrame(n uint32, sent int) io.Reader {
	return bytes.NewReader(append(header(n), bytes.Repeat([]byte{'x'}, sent)...))
}

// allocated returns the bytes allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadGrowsAsBytesArrive proves that a frame's buffer follows what arrived,
// not what was announced: a peer that announces 1 MiB and stalls after a few bytes
// costs a few bytes.
func TestReadGrowsAsBytesArrive(t *testing.T) {
	const announced = 1 << 20
	// The runtime allocates a little on its own meanwhile (a few KiB under -race).
	const noise = 8 << 10
	for _, sent := range []int{0, 1, 100, 1000, 10000, 100000} {
		t.Run("", func(t *testing.T) {
			r := stalledFrame(announced, sent)
			var err error
			grew := allocated(func() { _, err = Read(r, announced, nil) })
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
			}
			// Doubling: at most twice what arrived plus the first step, and every step
			// before the last one is at most as large as the last one.
			if bound := uint64(4*sent + 2*firstStep + noise); grew > bound {
				t.Errorf("%d of %d bytes sent: got %d bytes allocated, want at most %d", sent, announced, grew, bound)
			}
		})
	}
}

// TestReadUsesBufBeforeGrowing proves that a caller's buffer too small for the
// frame is filled before anything is allocated.
func TestReadUsesBufBeforeGrowing(t *testing.T) {
	buf := make([]byte, 0, 4096)
	r := stalledFrame(1<<20, 4000)
	var err error
	grew := allocated(func() { _, err = Read(r, 1<<20, buf) })
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if grew >= 4096 {
		t.Errorf("got %d bytes allocated while the body fit in buf, want less than 4096", grew)
	}
}

// TestReadGrownBody checks the body read in steps, whatever the reads look like,
// and that its buffer stays within twice its length.
func TestReadGrownBody(t *testing.T) {
	for _, n := range []int{1, firstStep - 1, firstStep, firstStep + 1, 3*firstStep + 7, 65536} {
		body := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, r := range []io.Reader{
			bytes.NewReader(Append(nil, body)),
			iotest.OneByteReader(bytes.NewReader(Append(nil, body))),
			iotest.HalfReader(bytes.NewReader(Append(nil, body))),
		} {
			got, err := Read(r, 65536, nil)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%d bytes: got %d bytes, %v, want the body", n, len(got), err)
			}
			if cap(got) > max(2*n, firstStep) {
				t.Errorf("%d bytes: got a buffer of %d, want at most %d", n, cap(got), max(2*n, firstStep))
			}
		}
	}
}
