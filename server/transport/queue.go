package transport

import (
	"sync"
	"unsafe"
)

// Queue hands frame f to the writer, which keeps it until written: f must not
// change after. ack, if not empty, goes to Owner.Written once the frame is
// written. It reports whether the frame was queued: false once the connection
// is closing, or when the frame would pass MaxQueue, which closes it
// (SlowConsumer): a slow reader must not make its senders wait or the server
// hold its backlog.
func (c *Conn) Queue(f []byte, ack string) bool { return c.push(f, ack, false, false) }

// QueueCopy is Queue of a copy of f, for a frame of this connection alone put
// together in a buffer the caller uses again.
func (c *Conn) QueueCopy(f []byte, ack string) bool { return c.push(f, ack, false, true) }

// slotSize is what a frame's place in a queue costs besides the frame.
const slotSize = int(unsafe.Sizeof([]byte(nil)))

// frameCost is what holding f for a peer costs: the frame's whole array (a
// shared frame's is shared, so this counts it once per connection, an upper
// bound) and its slot in the queue.
func frameCost(f []byte) int { return cap(f) + slotSize }

// push queues f, or a copy of it; onlyReady: only if the connection takes
// shared frames (SetReady).
func (c *Conn) push(f []byte, ack string, onlyReady, copied bool) bool {
	c.mu.Lock()
	if c.closing || onlyReady && !c.ready {
		c.mu.Unlock()
		return false
	}
	cost := frameCost(f)
	if copied {
		cost = c.copyCost(f)
	}
	if c.queued+cost > c.cfg.MaxQueue {
		c.mu.Unlock()
		c.cfg.Overflows.Add(1)
		c.Close(SlowConsumer)
		return false
	}
	if copied {
		f = c.copyFrame(f)
	}
	if c.out == nil {
		c.out = frameLists.Get().(*[][]byte)
	}
	*c.out = append(*c.out, f)
	c.queued += cost
	if ack != "" {
		c.acks = append(c.acks, ack)
	}
	start := !c.writing
	c.writing = true
	if start && c.holds > 0 {
		c.deferred, start = true, false // the last Release starts it
	}
	c.mu.Unlock()
	if start {
		c.flushHere()
	}
	return true
}

// pushParts queues the parts that are not empty, in order; true if any was. Like a
// shared frame, they go only to a connection that takes shared frames (SetReady).
func (c *Conn) pushParts(parts *[2][]byte) bool {
	queued := false
	for _, p := range parts {
		if len(p) > 0 && c.push(p, "", true, false) {
			queued = true
		}
	}
	return queued
}

// Hold keeps the writer from starting until Release: what is queued meanwhile
// goes out in one write.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// Release ends a Hold; the last one writes what is queued meanwhile (flushHere).
func (c *Conn) Release() {
	if c.unhold() {
		c.flushHere()
	}
}

// unhold ends a hold and reports whether the caller must run the writer.
func (c *Conn) unhold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holds--
	start := c.holds == 0 && c.deferred
	if start {
		c.deferred = false
	}
	return start
}

// WaitQueueBelow waits until fewer than n bytes are queued; false if the
// connection closes first. One goroutine at a time may wait (the owner's
// delivery of stored messages).
func (c *Conn) WaitQueueBelow(n int) bool {
	for {
		c.mu.Lock()
		queued, closing := c.queued, c.closing
		c.drainWanted = !closing && queued >= n
		c.mu.Unlock()
		if closing {
			return false
		}
		if queued < n {
			return true
		}
		select {
		case <-c.drained:
		case <-c.gone:
			return false
		}
	}
}

// frameLists holds the queue arrays of connections whose writer is idle: a
// connection takes one as frames come, and gives it back once they are written.
// It holds pointers, so that putting one back allocates nothing: a fan-out
// gives one back per connection.
var frameLists = sync.Pool{New: func() any { return new([][]byte) }}

// maxPooledFrames bounds the queue arrays kept for the next round or in the pool:
// a burst's frames fit, a broadcast storm's backlog does not stay.
const maxPooledFrames = 32

func putFrameList(l *[][]byte) {
	if l != nil && cap(*l) <= maxPooledFrames {
		*l = (*l)[:0]
		frameLists.Put(l)
	}
}

// A frame of one connection alone (an answer, a private message) is put together
// in a buffer its encoder uses again, and copied into a chunk of the connection's:
// a pooled buffer the frames after it are copied into too, rather than an
// allocation of its own. The connection holds its chunks only while copied frames
// are queued or being written. Shared frames are never copied.
const (
	chunkSize       = 8 << 10
	maxChunkedFrame = chunkSize / 8 // a larger frame is copied into an array of its own
)

var chunks = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func putChunk(b *[]byte) {
	*b = (*b)[:0]
	chunks.Put(b)
}

// copyCost is what queueing a copy of f costs (c.mu held): the bytes and the slot,
// and the free end of the chunk it fills up, which no frame uses any more.
func (c *Conn) copyCost(f []byte) int {
	cost := len(f) + slotSize
	if c.chunk != nil && len(f) <= maxChunkedFrame && len(f) > cap(*c.chunk)-len(*c.chunk) {
		cost += cap(*c.chunk) - len(*c.chunk)
	}
	return cost
}

// copyFrame returns a copy of f in the connection's chunk (c.mu held).
func (c *Conn) copyFrame(f []byte) []byte {
	if len(f) > maxChunkedFrame {
		return append(make([]byte, 0, len(f)), f...)
	}
	if c.chunk == nil || len(f) > cap(*c.chunk)-len(*c.chunk) {
		if c.chunk != nil {
			c.full = append(c.full, c.chunk)
		}
		c.chunk = chunks.Get().(*[]byte)
	}
	b := *c.chunk
	n := len(b)
	b = append(b, f...)
	*c.chunk = b
	return b[n:len(b):len(b)]
}

// bufferPool holds scratch buffers, for encoding a frame before QueueCopy and
// for the writes of connections without writev, so that idle connections hold
// none.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooledBuffer keeps one huge frame from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

// GetBuffer returns a pooled scratch buffer; PutBuffer gives it back.
func GetBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

// PutBuffer gives back a buffer of GetBuffer, unless it grew too large to keep.
func PutBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}
