package chat

import (
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"chat/common/frame"
	"chat/common/message"
	"chat/server/model"
)

// closeReason records why a connection closed; the first reason given wins.
type closeReason int

const (
	reasonNone        closeReason = iota
	ClientClosed                  // the peer closed or the read failed
	ProtocolViolation             // bad length or a body that is not an envelope
	LoginTimeout                  // no successful login in time
	FrameTimeout                  // a frame was started and not finished in time
	Replaced                      // a newer login of the same user took over
	SlowConsumer                  // the outbound queue overflowed
	WriteError                    // writing to the peer failed or timed out
	LoggedOut                     // the user sent LogoutMes
	ServerShutdown                // the server is shutting down
)

var reasonNames = [...]string{"none", "client_closed", "protocol_violation", "login_timeout", "frame_timeout",
	"replaced", "slow_consumer", "write_error", "logged_out", "server_shutdown"}

func (r closeReason) String() string { return reasonNames[r] }

// readBufferSize is small on purpose: an idle connection holds it for its whole
// life. A frame that is all in the read buffer is decoded in place; a larger one
// is read into its own buffer, which grows as the frame's bytes arrive
// (frame.Read). A busy connection reads through a big pooled buffer instead
// (readbuf.go) while it stays busy.
const readBufferSize = 512

// maxFrameBeforeLogin bounds a frame before a successful login. What may come then
// (LoginMes, RegisterMes, PingMes) takes a few hundred bytes; a larger frame is a
// protocol violation (413), so that an unauthenticated peer cannot make the server
// hold more than this per connection.
const maxFrameBeforeLogin = 4096

// conn is one client connection. Its reading goroutine (serve) runs the handlers
// one at a time and owns the session fields. Everyone hands frames to enqueue; the
// connection's writer (flush) is the only one to write to nc.
type conn struct {
	// The writer's state, guarded by mu. It comes first, with the session fields
	// a broadcast reads, so that queueing a broadcast frame touches one cache line
	// of each session and writing it two: a broadcast touches thousands of
	// sessions once each, and each line is a cache miss.
	mu     sync.Mutex
	out    *[][]byte // frames waiting for the writer; nil while none do
	queued int       // what out and the batch being written hold (frameCost or copyCost each)
	srv    *Server
	// fd is nc's socket, which the writer writes to directly while it holds mu
	// (writeNow); -1 if nc is not a socket.
	fd       int32
	holds    int32 // holders of the writer (burst.go): while any, it does not start
	ready    bool  // logged in and answered: broadcasts may come
	writing  bool  // a writer is running
	deferred bool  // a writer is due once the holds end
	closing  bool  // no more frames; the writer closes nc after flushing
	closed   bool  // nc is closed
	// drainWanted: waitQueueBelow waits for the writer to write; only then does
	// the writer signal drained, which on every write would cost a broadcast a
	// channel operation per session.
	drainWanted bool
	// replacedEarly: a newer login took over before this one was answered.
	replacedEarly bool
	// Session, set once by the reading goroutine at login before the conn is
	// published in the hub, and read-only after that.
	user  int
	proto int

	chunk *[]byte   // the chunk copied frames go to; nil until the first of a writer's round
	acks  []string  // ids of classic recipients' messages to forget once written
	full  []*[]byte // chunks filled up, whose frames are queued

	reason  closeReason
	drained chan struct{} // the writer wrote what drainWanted waited for
	gone    chan struct{} // closed once nc is closed

	nc       net.Conn
	addr     string // remote IP, for per-address limits
	br       *readBuffer
	vectored bool // nc writes a batch with one writev (net.Buffers)
	// writeDeadline is nc's write deadline (Unix ns), owned by the writer.
	writeDeadline int64
	// batch is what the writer's writev has left to write: a field, as
	// net.Buffers.WriteTo would move a local to the heap at every write.
	batch net.Buffers

	// More of the session, set at login like user and proto.
	name  string
	sid   string
	token string // the session token of a proto-2 login; never logged

	privateRate, groupRate bucket // used by the reading goroutine only
	bodyUTF8               bool   // the frame being handled is valid UTF-8

	sends *[]model.SendRequest // private messages of this burst (burst.go), reading goroutine only; nil if none

	inbox inboxState
	rooms sessionRooms // guarded by inbox.mu
}

func newConn(s *Server, nc net.Conn) *conn {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		host = nc.RemoteAddr().String()
	}
	_, vectored := nc.(*net.TCPConn)
	return &conn{
		srv:      s,
		nc:       nc,
		addr:     host,
		br:       newReadBuffer(nc, readBufferSize),
		vectored: vectored,
		fd:       socketFD(nc),
		drained:  make(chan struct{}, 1),
		gone:     make(chan struct{}),
	}
}

// serve reads the connection on a goroutine counted in srv.goroutines. Once
// the connection ends, it ends the session, waits for what is queued to be
// written (or the writer to give up) and untracks the connection. Before that,
// the reading may move on to a fresh goroutine (readLoop), which serves the rest.
func (c *conn) serve() {
	reason, movedOn := c.readLoop()
	if movedOn {
		return
	}
	c.br.drop()
	c.endSession(reason)
	<-c.gone
	c.srv.untrack(c)
}

// readLoop reads and dispatches frames until one must end the connection. The
// frames one read brought are a burst: their answers go out in one write, their
// private messages in one Redis round trip (burst.go).
//
// A goroutine that has handled a burst does not wait for the next frame itself:
// with nothing buffered, it hands the reading on to a fresh goroutine and ends
// (movedOn). Handling a frame grows the goroutine's stack to 8 KiB or more, and
// the runtime halves the stack of a parked goroutine only while it uses less
// than a quarter of it, counting 800 bytes of guard: a read waiting for data
// uses about 1.5 KiB by that count, so an idle session would keep 4 KiB of stack
// for as long as it is idle. A fresh goroutine starts with the stack the
// runtime's goroutines used on average at the last collection, rounded up: 2 KiB
// when most of them wait like this one. That is 2 KiB less per idle session, 37
// MiB at 19,000, for a goroutine start per wait: the p2p, logins and cluster
// loads show no cost beyond their noise (BENCHMARKS.md).
func (c *conn) readLoop() (reason closeReason, movedOn bool) {
	handled := false
	for {
		// Wait for a frame holding only the small buffer: most connections are idle.
		c.br.release()
		if handled && c.br.Buffered() == 0 {
			c.srv.goTracked(c.serve)
			return reasonNone, true
		}
		if _, err := c.br.Peek(1); err != nil {
			return c.readFailed(err), false
		}
		if reason, end := c.readBurst(); end {
			return reason, false
		}
		handled = true
	}
}

// readBurst handles frames until one ends the connection or the next is not
// buffered in full. From the second frame on it holds the writer, so that the
// burst's answers go out together; a lone frame (a login, say, which may take a
// while) does not keep what others send this connection waiting.
func (c *conn) readBurst() (reason closeReason, end bool) {
	held := false
	defer func() {
		if held {
			c.release()
		}
	}()
	for {
		body, inPlace, err := c.readFrame()
		if err != nil {
			return c.readFailed(err), true
		}
		c.bodyUTF8 = utf8.Valid(body)
		m, err := message.Decode(body) // copies what it keeps
		if inPlace {
			c.br.Discard(frame.HeaderLen + len(body))
		}
		if err != nil {
			c.runSends()
			c.replyError(message.CodeBadEnvelope, "the body is not a message envelope", "")
			return ProtocolViolation, true
		}
		if c.dispatch(m) {
			return LoggedOut, true
		}
		if c.srv.shuttingDown.Load() {
			c.runSends()
			return ServerShutdown, true
		}
		if _, ok := c.frameBuffered(); !ok {
			c.runSends()
			return reasonNone, false
		}
		if !held {
			c.hold()
			held = true
		}
	}
}

// readFrame reads one frame whose first byte has arrived. A frame all in the read
// buffer is returned in place (inPlace: the caller discards it from c.br once
// done with it); any other is read into a buffer of its own that grows as its
// bytes arrive and is garbage once handled, so that a connection holds no more
// than the part of a frame it has received. Once logged in, a connection may stay
// idle as long as it likes, but a frame it has started must arrive within
// FrameTimeout; before login, the login deadline set at accept bounds everything.
func (c *conn) readFrame() (body []byte, inPlace bool, err error) {
	limit := c.srv.cfg.MaxFrame
	if c.user == 0 {
		limit = min(limit, maxFrameBeforeLogin)
	}
	if n, ok := c.frameBuffered(); ok {
		if n == 0 || n > limit {
			_, err := frame.Read(c.br, limit, nil) // the codec's own error
			return nil, false, err
		}
		f, _ := c.br.Peek(frame.HeaderLen + n)
		return f[frame.HeaderLen:], true, nil
	}
	if c.user == 0 {
		body, err := frame.Read(c.br, limit, nil)
		return body, false, err
	}
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.FrameTimeout))
	body, err = frame.Read(c.br, limit, nil)
	c.nc.SetReadDeadline(time.Time{})
	// Shutdown sets its flag before its deadline: if the deadline was cleared
	// above, the flag is seen here.
	if err == nil && c.srv.shuttingDown.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
	return body, false, err
}

// frameBuffered reports whether a whole frame is already in the read buffer, so
// that reading it cannot stall and needs no deadline, and the length of its body.
func (c *conn) frameBuffered() (n int, ok bool) {
	buffered := c.br.Buffered()
	if buffered < frame.HeaderLen {
		return 0, false
	}
	hdr, _ := c.br.Peek(frame.HeaderLen)
	length := uint64(binary.BigEndian.Uint32(hdr))
	return int(length), uint64(buffered) >= frame.HeaderLen+length
}

// readFailed answers what it can of a failed read and says why the connection ends.
func (c *conn) readFailed(err error) closeReason {
	c.runSends() // the burst's answers come first
	switch {
	case err == frame.ErrFrameTooLarge:
		c.replyError(message.CodeTooLarge, "frame too large", "")
		return ProtocolViolation
	case err == frame.ErrEmptyFrame:
		c.replyError(message.CodeBadEnvelope, "empty frame", "")
		return ProtocolViolation
	case c.srv.shuttingDown.Load():
		return ServerShutdown
	case isTimeout(err) && c.user == 0:
		c.replyError(message.CodeUnauthorized, "no login in time", "")
		return LoginTimeout
	case isTimeout(err):
		return FrameTimeout
	}
	return ClientClosed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// enqueue hands frame f to the writer, which keeps it until written: f must not
// change after. ack, if set, is the id of a classic recipient's private message to
// forget once the frame is written. It reports whether the frame was queued.
func (c *conn) enqueue(f []byte, ack string) bool {
	return c.push(f, ack, false, false)
}

// enqueueCopy is enqueue of a copy of f, for a frame of this connection alone put
// together in a buffer the caller uses again.
func (c *conn) enqueueCopy(f []byte, ack string) bool {
	return c.push(f, ack, false, true)
}

// enqueueBroadcast is enqueue for broadcasts, which only sessions whose login
// has been answered get.
func (c *conn) enqueueBroadcast(f []byte) bool {
	return c.push(f, "", true, false)
}

// slotSize is what a frame's place in a queue costs besides the frame.
const slotSize = int(unsafe.Sizeof([]byte(nil)))

// frameCost is what holding f for a client costs: the frame's whole array (a
// broadcast frame's is shared, so this counts it once per client, an upper bound)
// and its slot in the queue.
func frameCost(f []byte) int { return cap(f) + slotSize }

// push queues f, or a copy of it. A connection that would hold more than
// MaxQueue, counting the batch its writer is writing, is closed instead: a slow
// reader must not make its senders wait or the server hold its backlog.
func (c *conn) push(f []byte, ack string, onlyReady, copied bool) bool {
	c.mu.Lock()
	if c.closing || onlyReady && !c.ready {
		c.mu.Unlock()
		return false
	}
	cost := frameCost(f)
	if copied {
		cost = c.copyCost(f)
	}
	if c.queued+cost > c.srv.cfg.MaxQueue {
		c.mu.Unlock()
		c.srv.metrics.queueOverflows.Inc()
		c.close(SlowConsumer)
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
		c.deferred, start = true, false // the last release starts it
	}
	c.mu.Unlock()
	if start {
		c.srv.goTracked(c.flush)
	}
	return true
}

// setReady lets broadcasts come, now that the login is answered. It reports
// whether the session was replaced meanwhile.
func (c *conn) setReady() (replaced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = true
	return c.replacedEarly
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// close closes the connection now, dropping what is queued.
func (c *conn) close(reason closeReason) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.closing = true, true
	if c.reason == reasonNone {
		c.reason = reason
	}
	// The chunks are left to the collector: the writer may be writing from them.
	c.out, c.acks, c.queued, c.chunk, c.full = nil, nil, 0, nil, nil
	c.mu.Unlock()
	c.nc.Close()
	close(c.gone)
}

// closeAfterFlush lets the writer send what is queued, then close.
func (c *conn) closeAfterFlush(reason closeReason) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.reason = reason
	}
	idle := !c.writing
	c.mu.Unlock()
	if idle {
		c.close(reasonNone)
	}
}

// isClosing reports whether the connection takes no more frames.
func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// flush is the connection's writer. push starts it when frames wait and none
// runs; it writes until the queue is empty, then ends. So at most one goroutine
// writes to nc at a time, and an idle connection has none (a goroutine's stack is
// most of what an idle connection would cost). Each round takes everything queued
// and writes it with one call: a burst of frames costs one system call. The batch
// being written stays counted in queued until it is written.
func (c *conn) flush() { c.writeRounds(writeRound{}, false) }

// flushHere is flush for a fan-out writer, which writes to thousands of sockets
// in turn: if this one's is full, what is left goes to a writer goroutine of its
// own, so that a slow reader never keeps the other sessions waiting.
func (c *conn) flushHere() { c.writeRounds(writeRound{}, true) }

// writeRound is what one round of the writer took from the queue.
type writeRound struct {
	frames *[][]byte
	acks   []string  // to forget once the frames are written
	full   []*[]byte // chunks the frames were copied into, free once written
	chunk  *[]byte
	cost   int // what the round held of queued
}

// writeRounds runs the writer's rounds after last, which is written.
func (c *conn) writeRounds(last writeRound, handOff bool) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		c.queued -= last.cost
		// Swap in the last round's array: the pushers append to it while the
		// taken frames are written, and the two never share an array.
		// The chunks go with the frames copied into them: once these are
		// written, they are free, and the frames that come meanwhile take
		// another. So a connection holds a chunk only while a copied frame waits.
		r := writeRound{frames: c.out, acks: c.acks, full: c.full, chunk: c.chunk, cost: c.queued}
		c.out, c.acks, c.full, c.chunk = last.frames, nil, nil, nil
		drained := last.cost > 0 && c.drainWanted
		if drained {
			c.drainWanted = false
		}
		if r.frames == nil || len(*r.frames) == 0 {
			c.writing = false
			// All is written: an idle connection holds no queue array.
			putFrameList(c.out)
			putFrameList(r.frames)
			c.out = nil
			closing := c.closing
			c.mu.Unlock()
			if drained {
				signal(c.drained)
			}
			if closing {
				c.close(reasonNone) // keeps the reason closeAfterFlush gave
			}
			return
		}
		rest, err := c.writeNow(*r.frames)
		c.mu.Unlock()
		if drained {
			signal(c.drained)
		}
		if err == nil && len(rest) > 0 {
			if handOff {
				c.handOff(r, rest)
				return
			}
			err = c.write(rest)
		}
		if err != nil {
			c.close(WriteError)
			return
		}
		c.written(&r)
		last = r
	}
}

// handOff starts a goroutine that writes what the socket did not take of r at
// once, waiting for it, then goes on as the connection's writer. (A function of
// its own: the closure's variables would be moved to the heap where they are
// declared, at every round.)
func (c *conn) handOff(r writeRound, rest [][]byte) {
	c.srv.goTracked(func() {
		if err := c.write(rest); err != nil {
			c.close(WriteError)
			return
		}
		c.written(&r)
		c.writeRounds(r, false)
	})
}

// written lets go of what r held once its frames are written, and keeps its
// frames' array for the next round unless it grew large.
func (c *conn) written(r *writeRound) {
	c.srv.metrics.framesWritten.Add(float64(len(*r.frames)))
	if len(r.acks) > 0 {
		c.srv.forget(c.user, r.acks)
	}
	for _, b := range r.full {
		putChunk(b)
	}
	if r.chunk != nil {
		putChunk(r.chunk)
	}
	clear(*r.frames) // let the written frames be collected
	*r.frames = (*r.frames)[:0]
	if cap(*r.frames) > maxPooledFrames {
		r.frames = nil
	}
}

// frameLists holds the queue arrays of connections whose writer is idle: a
// connection takes one as frames come, and gives it back once they are written.
// It holds pointers, so that putting one back allocates nothing: a broadcast
// gives one back per session.
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
// are queued or being written. Broadcast frames are shared by the queues, never
// copied.
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
func (c *conn) copyCost(f []byte) int {
	cost := len(f) + slotSize
	if c.chunk != nil && len(f) <= maxChunkedFrame && len(f) > cap(*c.chunk)-len(*c.chunk) {
		cost += cap(*c.chunk) - len(*c.chunk)
	}
	return cost
}

// copyFrame returns a copy of f in the connection's chunk (c.mu held).
func (c *conn) copyFrame(f []byte) []byte {
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

// writeNow writes what of frames the socket takes without waiting, with one
// system call, and returns the rest (c.mu held, so that close cannot close the
// socket meanwhile). A broadcast writes to thousands of sockets once each, and
// going through net.Conn, whose locks, poller state and deadline each cost a cache
// miss per socket, was a third of the node's user-space time in a broadcast's
// profile. A socket that is full gets the rest through net.Conn, which waits for
// it with the write deadline.
func (c *conn) writeNow(frames [][]byte) (rest [][]byte, err error) {
	if c.fd < 0 {
		return frames, nil
	}
	n, err := writeNonblocking(int(c.fd), frames)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return frames, nil
	}
	if err != nil {
		return nil, err
	}
	for len(frames) > 0 && n >= len(frames[0]) {
		n -= len(frames[0])
		frames = frames[1:]
	}
	if len(frames) > 0 {
		frames[0] = frames[0][n:]
	}
	return frames, nil
}

// write writes a batch of frames. On a socket it is one writev over the frames
// themselves: a broadcast frame is shared by every queue, never copied per client.
// Other connections (TLS) would make a write of each frame: for them the frames
// are copied into chunks of a pooled buffer, a chunk per write.
func (c *conn) write(frames [][]byte) error {
	c.renewWriteDeadline()
	if len(frames) == 1 {
		_, err := c.nc.Write(frames[0])
		return err
	}
	if c.vectored {
		c.batch = frames // WriteTo consumes c.batch, not frames
		_, err := c.batch.WriteTo(c.nc)
		c.batch = nil
		return err
	}
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for i, f := range frames {
		b = append(b, f...)
		if len(b) >= writeChunk || i == len(frames)-1 {
			if _, err := c.nc.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	*buf = b
	return nil
}

// renewWriteDeadline gives the next write between 7/8 of WriteTimeout and all of
// it. Setting a deadline re-arms a runtime timer, which cost a tenth of a
// broadcast's CPU when it was done on every write; moving it only once it has
// fallen an eighth behind makes that rare on a busy connection.
func (c *conn) renewWriteDeadline() {
	t := c.srv.cfg.WriteTimeout
	now := time.Now()
	if dl := now.Add(t).UnixNano(); dl-c.writeDeadline > int64(t/8) {
		c.nc.SetWriteDeadline(time.Unix(0, dl))
		c.writeDeadline = dl
	}
}

// waitQueueBelow waits until fewer than n bytes are queued; false if the
// connection closes first. One goroutine at a time may wait: the connection's
// delivery.
func (c *conn) waitQueueBelow(n int) bool {
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

// bufferPool holds the write buffers of connections without writev, so that
// idle connections hold none.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeChunk is how much a connection without writev copies per write.
const writeChunk = 32 << 10

// maxPooledBuffer keeps one huge frame from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}
