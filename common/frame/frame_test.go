package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// header returns a length prefix of n.
func header(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

// frames concatenates the frames of bodies into one stream.
func frames(bodies ...string) []byte {
	var b []byte
	for _, body := range bodies {
		b = Append(b, []byte(body))
	}
	return b
}

// failReader fails the test if anything reads from it: Read must reject a bad
// length before it touches the body.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("body read after a length that must be rejected")
	return 0, io.ErrUnexpectedEOF
}

func TestReadStream(t *testing.T) {
	bodies := []string{`{"type":"PingMes","data":"{}"}`, "x", "hello, 世界"}
	tests := []struct {
		name string
		r    func([]byte) io.Reader
	}{
		{"several frames in one buffer", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"one byte per read", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"half reads", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"data with EOF", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r(frames(bodies...))
			for i, want := range bodies {
				got, err := Read(r, 64, nil)
				if err != nil || string(got) != want {
					t.Fatalf("frame %d: got %q, %v, want %q, nil", i, got, err, want)
				}
			}
			if got, err := Read(r, 64, nil); err != io.EOF {
				t.Errorf("after the last frame: got %q, %v, want io.EOF", got, err)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		max   int
		want  error
	}{
		{"empty stream", nil, 64, io.EOF},
		{"truncated header", []byte{0, 0}, 64, io.ErrUnexpectedEOF},
		{"zero length", header(0), 64, ErrEmptyFrame},
		{"length above limit", append(header(65), make([]byte, 65)...), 64, ErrFrameTooLarge},
		{"length at limit", append(header(64), make([]byte, 63)...), 64, io.ErrUnexpectedEOF},
		{"truncated body", append(header(5), "abc"...), 64, io.ErrUnexpectedEOF},
		{"header only", header(5), 64, io.ErrUnexpectedEOF},
		{"negative limit", header(1), -1, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tt.input), tt.max, nil)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("got %q, %v, want nil, %v", got, err, tt.want)
			}
		})
	}
}

// TestReadRejectsBeforeBody proves that a bad length is rejected without reading
// or allocating the body, so that a peer cannot make the server allocate 4 GiB
// with 4 bytes.
func TestReadRejectsBeforeBody(t *testing.T) {
	tests := []struct {
		name string
		n    uint32
		max  int
		want error
	}{
		{"zero", 0, 64, ErrEmptyFrame},
		// Large enough that the runtime's own allocations meanwhile (a few KiB under
		// -race) cannot be mistaken for the body.
		{"one above limit", 1<<20 + 1, 1 << 20, ErrFrameTooLarge},
		{"max uint32", 0xFFFFFFFF, 65536, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(header(tt.n)), failReader{t})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := Read(r, tt.max, nil)
			runtime.ReadMemStats(&after)
			if err != tt.want || got != nil {
				t.Errorf("got %q, %v, want nil, %v", got, err, tt.want)
			}
			// Anything the runtime allocates meanwhile is tiny next to a body of n bytes.
			if grew := after.TotalAlloc - before.TotalAlloc; tt.n > 0 && grew >= uint64(tt.n) {
				t.Errorf("got %d bytes allocated, want less than the %d of the body", grew, tt.n)
			}
		})
	}
}

func TestReadReusesBuf(t *testing.T) {
	tests := []struct {
		name  string
		cap   int
		body  string
		reuse bool
	}{
		{"fits", 16, "hello", true},
		{"exact fit", 5, "hello", true},
		{"too small", 4, "hello", false},
		{"nil buf", 0, "hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 0, tt.cap)
			got, err := Read(bytes.NewReader(frames(tt.body)), 64, buf)
			if err != nil || string(got) != tt.body {
				t.Fatalf("got %q, %v, want %q, nil", got, err, tt.body)
			}
			reused := tt.cap > 0 && &got[0] == &buf[:1][0]
			if reused != tt.reuse {
				t.Errorf("got reuse of buf %v, want %v", reused, tt.reuse)
			}
		})
	}

	// A reader loop that hands the returned slice back must see each frame whole,
	// even when a long frame is followed by a short one.
	r := bytes.NewReader(frames("a long first body", "short"))
	var buf []byte
	for _, want := range []string{"a long first body", "short"} {
		got, err := Read(r, 64, buf[:0])
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v, want %q, nil", got, err, want)
		}
		buf = got
	}
}

func TestWriteAppendSetLength(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []byte
	}{
		{"one byte", "x", []byte{0, 0, 0, 1, 'x'}},
		{"ascii", "hello", append(header(5), "hello"...)},
		{"utf-8 counts bytes", "世", append(header(3), "世"...)},
		{"256 bytes", string(make([]byte, 256)), append(header(256), make([]byte, 256)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Append(nil, []byte(tt.body)); !bytes.Equal(got, tt.want) {
				t.Errorf("Append: got %x, want %x", got, tt.want)
			}
			var w bytes.Buffer
			if err := Write(&w, []byte(tt.body)); err != nil || !bytes.Equal(w.Bytes(), tt.want) {
				t.Errorf("Write: got %x, %v, want %x", w.Bytes(), err, tt.want)
			}
			f := append(make([]byte, HeaderLen), tt.body...)
			SetLength(f)
			if !bytes.Equal(f, tt.want) {
				t.Errorf("SetLength: got %x, want %x", f, tt.want)
			}
		})
	}
}

// countingWriter counts Write calls: Write must hand the kernel one buffer, so that
// concurrent writers that each hold a lock per call never interleave frames.
type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestWriteIsOneCall(t *testing.T) {
	var w countingWriter
	if err := Write(&w, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if w.calls != 1 {
		t.Errorf("got %d Write calls, want 1", w.calls)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frames(`{"type":"PingMes","data":"{}"}`), 64)
	f.Add(frames("a", "bc"), 2)
	f.Add(header(0), 64)
	f.Add(header(0xFFFFFFFF), 65536)
	f.Add(append(header(5), "abc"...), 64)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		// A limit the fuzzer's short inputs can reach: crossing it matters, its size
		// does not (the body grows as bytes arrive, whatever the prefix announces).
		max = min(max, 1<<17)
		r := bytes.NewReader(data)
		var buf []byte
		for {
			body, err := Read(r, max, buf[:0])
			if err != nil {
				if body != nil {
					t.Fatalf("got body %q with error %v, want nil", body, err)
				}
				switch {
				case err == io.EOF, err == io.ErrUnexpectedEOF, err == ErrEmptyFrame, err == ErrFrameTooLarge:
				default:
					t.Fatalf("got unexpected error %v", err)
				}
				return
			}
			if len(body) == 0 || len(body) > max {
				t.Fatalf("got body of %d bytes, want 1..%d", len(body), max)
			}
			// Re-encoding the body must give back the bytes just consumed.
			end := len(data) - r.Len()
			if got, want := Append(nil, body), data[end-HeaderLen-len(body):end]; !bytes.Equal(got, want) {
				t.Fatalf("got re-encoded %x, want %x", got, want)
			}
			buf = body
		}
	})
}
