package transport

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"chat/common/frame"
)

// pipeReader returns a readBuffer over one end of a net.Pipe and the other end,
// which writes what the reader reads (a read takes at most what its buffer holds).
func pipeReader(t *testing.T) (rb *readBuffer, peer net.Conn) {
	t.Helper()
	end, peer := net.Pipe()
	end.SetReadDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() {
		end.Close()
		peer.Close()
	})
	return newReadBuffer(end, readBufferSize, true), peer
}

// writeFrames writes the frames of bodies to peer in one call, in the background.
func writeFrames(t *testing.T, peer net.Conn, bodies [][]byte) {
	t.Helper()
	var wire []byte
	for _, b := range bodies {
		wire = frame.Append(wire, b)
	}
	go peer.Write(wire) // fails only once the test has ended and closed the pipe
}

// readFrames reads n frames the way the connection does (in place when all of a
// frame is buffered, else through frame.Read) and reports whether the big
// buffer was in use after any of them.
func readFrames(t *testing.T, rb *readBuffer, n int) (bodies [][]byte, usedBig bool) {
	t.Helper()
	rb.release()
	if _, err := rb.Peek(1); err != nil {
		t.Fatalf("waiting for the first frame: %v", err)
	}
	for range n {
		var body []byte
		size := -1
		if rb.Buffered() >= frame.HeaderLen {
			hdr, _ := rb.Peek(frame.HeaderLen)
			size = int(binary.BigEndian.Uint32(hdr))
		}
		if size >= 0 && rb.Buffered() >= frame.HeaderLen+size {
			f, _ := rb.Peek(frame.HeaderLen + size)
			body = bytes.Clone(f[frame.HeaderLen:])
			rb.Discard(frame.HeaderLen + size)
		} else {
			var err error
			if body, err = frame.Read(rb, 1<<20, nil); err != nil {
				t.Fatalf("frame %d: %v", len(bodies), err)
			}
		}
		bodies = append(bodies, body)
		usedBig = usedBig || rb.big != nil
	}
	return bodies, usedBig
}

// bodiesOf returns bodies of the given sizes, each filled with its own byte.
func bodiesOf(sizes ...int) [][]byte {
	bodies := make([][]byte, len(sizes))
	for i, n := range sizes {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	return bodies
}

func TestReadBufferSwitchesWithLoad(t *testing.T) {
	rb, peer := pipeReader(t)

	// Idle: a lone small frame is read through the small buffer.
	want := bodiesOf(100)
	writeFrames(t, peer, want)
	got, usedBig := readFrames(t, rb, len(want))
	if usedBig || !bytes.Equal(got[0], want[0]) {
		t.Fatalf("lone frame: used big buffer %v, body intact %v; want false, true", usedBig, bytes.Equal(got[0], want[0]))
	}

	// Busy: the first read fills the small buffer and ends 8 bytes into the second
	// frame, which is finished in the big one; frames larger than the small buffer
	// and than the big one come too.
	sizes := []int{readBufferSize - 2*frame.HeaderLen - 4, 300, 1, 5000, 3 * bigReadBufferSize, 200}
	for i := range 100 {
		sizes = append(sizes, 1+i*37%600)
	}
	want = bodiesOf(sizes...)
	writeFrames(t, peer, want)
	got, usedBig = readFrames(t, rb, len(want))
	if !usedBig {
		t.Errorf("busy connection: big buffer never used, want it used")
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d: got %d bytes %q..., want %d bytes of %q", i, len(got[i]), got[i][:min(len(got[i]), 8)],
				len(want[i]), want[i][0])
		}
	}

	// Idle again: waiting with nothing buffered gives the big buffer back.
	if rb.Buffered() != 0 {
		t.Fatalf("buffered after the last frame: %d, want 0", rb.Buffered())
	}
	rb.release()
	if rb.big != nil || len(rb.buf) != readBufferSize {
		t.Errorf("after release: holds big %v, buffer %d bytes; want false, %d", rb.big != nil, len(rb.buf), readBufferSize)
	}
	want = bodiesOf(50)
	writeFrames(t, peer, want)
	if got, usedBig = readFrames(t, rb, 1); usedBig || !bytes.Equal(got[0], want[0]) {
		t.Errorf("lone frame after release: used big %v, intact %v; want false, true", usedBig, bytes.Equal(got[0], want[0]))
	}
}

func TestReadBufferKeepsBigWhileBytesAreBuffered(t *testing.T) {
	rb, peer := pipeReader(t)
	writeFrames(t, peer, bodiesOf(readBufferSize, 10, 10))
	if _, usedBig := readFrames(t, rb, 2); !usedBig {
		t.Fatal("big buffer never used")
	}
	rb.release() // a frame is still buffered
	if rb.big == nil {
		t.Fatal("release with a frame buffered gave the big buffer back, want it kept")
	}
	if got, _ := readFrames(t, rb, 1); len(got[0]) != 10 {
		t.Errorf("the buffered frame: %d bytes, want 10", len(got[0]))
	}
}

func TestReadBufferStalledFrameHoldsOnlySmall(t *testing.T) {
	rb, peer := pipeReader(t)
	// A full small buffer, then a read into the big one that brings only part of
	// a frame: the socket is drained, the rest would be waited for.
	var wire []byte
	wire = frame.Append(wire, bytes.Repeat([]byte{'a'}, readBufferSize-frame.HeaderLen))
	rest := bytes.Repeat([]byte{'b'}, 600)
	wire = frame.Append(wire, rest)
	go func() {
		peer.Write(wire[:len(wire)-300])
		peer.Write(wire[len(wire)-300:])
	}()
	got, _ := readFrames(t, rb, 1)
	if len(got[0]) != readBufferSize-frame.HeaderLen {
		t.Fatalf("first frame: %d bytes, want %d", len(got[0]), readBufferSize-frame.HeaderLen)
	}
	if _, err := rb.Peek(frame.HeaderLen); err != nil || rb.big == nil {
		t.Fatalf("after the small buffer filled: err %v, holds big %v; want nil, true", err, rb.big != nil)
	}
	body, err := frame.Read(rb, 1<<20, nil)
	if err != nil || !bytes.Equal(body, rest) {
		t.Fatalf("stalled frame: err %v, %d bytes intact %v; want nil, 600, true", err, len(body), bytes.Equal(body, rest))
	}
	if rb.big != nil {
		t.Errorf("the read that waited for the frame's rest went to the big buffer, want the small one")
	}
}

// tcpReader returns a readBuffer over the accepted end of a loopback TCP
// connection (a socket: reads that do not wait are possible) and the dialled end.
func tcpReader(t *testing.T) (rb *readBuffer, peer net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if peer, err = net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	end, err := l.Accept()
	if err != nil {
		peer.Close()
		t.Fatal(err)
	}
	end.SetReadDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() {
		end.Close()
		peer.Close()
	})
	return newReadBuffer(end, readBufferSize, true), peer
}

func TestReadBufferBusySocketKeepsBig(t *testing.T) {
	rb, peer := tcpReader(t)
	if rb.raw == nil {
		t.Skip("no reads that do not wait here")
	}
	batch := bodiesOf(300, 300, 300, 300, 300)
	var wire []byte
	for _, b := range batch {
		wire = frame.Append(wire, b)
	}

	// Bytes that arrived while the burst was handled: the wait point reads them
	// into the big buffer at once and keeps it.
	if _, err := peer.Write(wire); err != nil {
		t.Fatal(err)
	}
	// Polled (a package-internal test has no checkFor): until the batch has arrived,
	// the wait point gives the buffer back, and it is taken again for the next try.
	for deadline := time.Now().Add(5 * time.Second); rb.Buffered() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the batch never arrived")
		}
		holdBig(rb) // as after a busy burst
		rb.release()
	}
	if rb.big == nil {
		t.Fatalf("bytes had arrived at the wait point, yet the big buffer was given back")
	}
	got, _ := readFrames(t, rb, len(batch))
	for i := range batch {
		if !bytes.Equal(got[i], batch[i]) {
			t.Fatalf("frame %d: %d bytes, want %d intact", i, len(got[i]), len(batch[i]))
		}
	}

	// Nothing has arrived: the wait point gives the big buffer back.
	if rb.Buffered() != 0 {
		t.Fatalf("buffered after the batch: %d, want 0", rb.Buffered())
	}
	holdBig(rb)
	rb.release()
	if rb.big != nil || len(rb.buf) != readBufferSize {
		t.Errorf("idle socket at the wait point: holds big %v, buffer %d; want false, %d", rb.big != nil, len(rb.buf), readBufferSize)
	}
}

// holdBig puts an empty rb in the state a busy burst leaves: the big buffer held.
func holdBig(rb *readBuffer) {
	if rb.big == nil {
		rb.big = bigReadBuffers.Get().(*[]byte)
		rb.buf, rb.r, rb.w = *rb.big, 0, 0
	}
}
