package transport

import (
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// heldCost is what holding frame f costs the server, computed here on its own: the
// frame's whole array and a slice header for its place in a queue.
func heldCost(f []byte) int { return cap(f) + int(unsafe.Sizeof(f)) }

// TestQueueCountsWhatItHolds pushes frames to a connection whose peer never reads
// (a net.Pipe: the first write blocks for good) until the connection is cut off,
// and checks that what it held then never passed MaxQueue: the batch the writer is
// stuck on counts, every frame counts its array and its slot, and so do the frames
// that wait while a burst or a broadcast holds the writer.
func TestQueueCountsWhatItHolds(t *testing.T) {
	const maxQueue = 64 << 10
	tests := []struct {
		name  string
		first []byte // written first; the writer blocks on it
		next  func() []byte
		held  bool // the writer is held (hold) from the start: nothing is written
	}{
		{"a batch in flight counts", make([]byte, 40<<10), func() []byte { return make([]byte, 1<<10) }, false},
		{"small frames count their array and slot", make([]byte, 34, 64), func() []byte { return make([]byte, 34, 64) }, false},
		{"frames waiting for a held writer count", make([]byte, 40<<10), func() []byte { return make([]byte, 1<<10) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testConfig(maxQueue, 30*time.Second)
			nc, peer := net.Pipe()
			defer peer.Close()
			c := newTestConn(s, nc)
			if tt.held {
				c.Hold()
			}
			if !c.Queue(tt.first, "") {
				t.Fatal("the first frame was refused")
			}
			held := heldCost(tt.first)
			if !tt.held {
				waitTaken(t, c) // the writer is stuck writing the first frame
			}
			var f []byte
			for i := 0; ; i++ {
				if i == 1e6 {
					t.Fatal("never cut off")
				}
				f = tt.next()
				if !c.Queue(f, "") {
					break
				}
				held += heldCost(f)
			}
			if held > maxQueue {
				t.Errorf("held %d bytes before the cut-off, want at most MaxQueue = %d", held, maxQueue)
			}
			if held+heldCost(f) <= maxQueue {
				t.Errorf("cut off at %d bytes held, while the refused frame would have fit in %d", held, maxQueue)
			}
			if got := c.Reason(); got != SlowConsumer {
				t.Errorf("got close reason %v, want %v", got, SlowConsumer)
			}
			if tt.held {
				c.Release() // the writer it starts finds the connection closed
			}
			select {
			case <-c.gone:
			case <-time.After(10 * time.Second):
				t.Error("the connection was not closed")
			}
		})
	}
}

// TestBroadcastFramesAreNotCopied gives a batch of frames shared by every queue,
// as a broadcast does, to connections whose peers do not read, and checks that
// the writers stuck on it hold no copy of their own.
func TestBroadcastFramesAreNotCopied(t *testing.T) {
	const (
		conns  = 20
		frames = 256
		size   = 4 << 10
	)
	s := testConfig(4<<20, 30*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batch := make([][]byte, frames)
	for i := range batch {
		batch[i] = make([]byte, size)
	}
	var cs []*Conn
	for range conns {
		peer, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		peer.(*net.TCPConn).SetReadBuffer(4096) // it never reads
		nc, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		nc.(*net.TCPConn).SetWriteBuffer(4096)
		c := newTestConn(s, nc)
		defer c.Close(ClientClosed)
		// Queued before any writer runs, so that it takes the whole batch at once.
		c.mu.Lock()
		c.writing = true
		c.mu.Unlock()
		for _, f := range batch {
			c.Queue(f, "")
		}
		cs = append(cs, c)
	}
	before := heapInUse()
	for _, c := range cs {
		go c.flushHere()
	}
	for _, c := range cs {
		waitTaken(t, c) // and is stuck writing it
	}
	grew := int64(heapInUse()) - int64(before)
	t.Logf("%d writers stuck on a shared batch of %d bytes: heap %+d bytes", conns, frames*size, grew)
	if copies := int64(conns * frames * size / 4); grew > copies {
		t.Errorf("heap grew by %d bytes, want less than %d: the writers copy the frames", grew, copies)
	}
}

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// waitTaken polls until c's writer has taken every queued frame.
func waitTaken(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		taken := framesWaiting(c) == 0
		c.mu.Unlock()
		if taken {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never took the queued frames")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHeldWriterWritesOnce: frames queued while the writer is held wait, and the
// last release writes them all in one write.
func TestHeldWriterWritesOnce(t *testing.T) {
	s := testConfig(4<<20, 30*time.Second)
	nc, peer := net.Pipe()
	defer peer.Close()
	c := newTestConn(s, nc)
	defer c.Close(ClientClosed)
	c.Hold()
	c.Hold() // a burst and a broadcast at once
	frames := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	for _, f := range frames {
		if !c.Queue(f, "") {
			t.Fatalf("frame %q refused", f)
		}
	}
	c.Release()
	c.mu.Lock()
	waiting, deferred := framesWaiting(c), c.deferred
	c.mu.Unlock()
	if waiting != len(frames) || !deferred {
		t.Fatalf("one hold left: %d frames wait (deferred %v), want all %d waiting for the writer", waiting, deferred, len(frames))
	}
	c.Release()
	buf := make([]byte, 64)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := peer.Read(buf) // a net.Pipe read gets what one write wrote, at most
	if want := "onetwothree"; err != nil || string(buf[:n]) != want {
		t.Errorf("first read: got %q, %v, want %q: every held frame in one write", buf[:n], err, want)
	}
}

// framesWaiting is how many frames wait for c's writer (c.mu held).
func framesWaiting(c *Conn) int {
	if c.out == nil {
		return 0
	}
	return len(*c.out)
}
