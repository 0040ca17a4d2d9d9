// Package transport carries length-prefixed frames over one client connection:
// frames in (a read buffer that is small while the connection is idle), frames
// out (a bounded queue and the one goroutine that writes it to the socket), the
// fan-out of one frame to many connections, the cut-off of a slow reader, and a
// close that happens once and records why.
//
// It knows nothing of sessions or messages. Its owner (package chat) reads
// frames on the connection's reading goroutine and queues frames from any
// goroutine; Conn does the rest.
//
// The system-call fast paths (a write that does not go through net.Conn,
// a read of what has arrived without waiting, a reader handed to a fresh
// goroutine) are all behind Config.Plain: with it set, every read and write
// goes through net.Conn and nothing else.
package transport

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts events; prometheus.Counter is one.
type Counter interface{ Add(float64) }

// Owner is told what concerns the connection's owner.
type Owner interface {
	// Written is given the acks (see Conn.Queue) of frames once they are
	// written. It runs on the writer: it must not wait for long.
	Written(acks []string)
}

// Config is what every connection of one server shares.
type Config struct {
	MaxQueue     int           // bytes held for one connection (queued and being written) before it is cut off
	WriteTimeout time.Duration // one write to the peer may take this long
	// Plain turns the system-call fast paths off: every write and read goes
	// through net.Conn, and a connection's reader stays on its goroutine.
	Plain bool
	// Go runs f on a new goroutine that the owner counts (the writers, the
	// fan-out's writers, a reader handed on).
	Go func(f func())

	FramesWritten Counter // frames written to peers
	Overflows     Counter // connections cut off as slow consumers
}

// Conn is one connection's transport. Its zero value is not usable: see Init.
//
// Writes: frames are queued (Queue, QueueCopy, FanOut) from any goroutine; a
// writer goroutine, started when frames wait and none runs, is the only one to
// write to the socket, and ends when the queue is empty, so an idle connection
// has none. Hold/Release keep the writer from starting, so that what is queued
// meanwhile goes out in one write.
//
// Reads: only the owner's reading goroutine calls the read methods (reader.go).
type Conn struct {
	// mu guards the writer's state below, from out to drainWanted (but cfg
	// and fd, set by Init), and chunk, acks, full and reason. It is never
	// held during a read or a write, nor while the owner is told what was
	// written; nothing that holds it takes another lock.
	//
	// The fields a fan-out touches (mu, out, queued, cfg, fd, holds and the
	// flags) come first: a fan-out touches thousands of connections once each,
	// and each cache line is a miss (BENCHMARKS.md, chat-load fanout).
	mu     sync.Mutex
	out    *[][]byte // frames waiting for the writer; nil while none do
	queued int       // what out and the batch being written hold (frameCost or copyCost each)
	cfg    *Config
	// fd is the socket, which the writer writes to directly (writeNow); -1 if
	// the connection is not a socket or Config.Plain is set.
	fd       int32
	holds    int32 // holders of the writer: while any, it does not start
	ready    bool  // shared frames (FanOut) are taken
	writing  bool  // a writer is running
	deferred bool  // a writer is due once the holds end
	closing  bool  // no more frames; the writer closes nc after flushing
	closed   bool  // Close has run: nothing more is written
	// inSyscall: the writer is in a direct write to fd, which Close must not
	// close under it; Close then leaves closing nc to the writer.
	inSyscall bool
	// drainWanted: WaitQueueBelow waits for the writer to write; only then does
	// the writer signal drained, which on every write would cost a fan-out a
	// channel operation per connection.
	drainWanted bool

	chunk *[]byte   // the chunk copied frames go to; nil until the first of a writer's round
	acks  []string  // acks of queued frames, for Owner.Written
	full  []*[]byte // chunks filled up, whose frames are queued

	reason  Reason
	drained chan struct{} // the writer wrote what drainWanted waited for
	gone    chan struct{} // closed once nc is closed

	owner    Owner
	nc       net.Conn
	vectored bool // nc writes a batch with one writev (net.Buffers)
	// writeDeadline is nc's write deadline (Unix ns), owned by the writer.
	writeDeadline int64
	// batch is what the writer's writev has left to write: a field, as
	// net.Buffers.WriteTo would move a local to the heap at every write.
	batch net.Buffers

	// The reader's state, owned by the reading goroutine.
	br      *readBuffer
	discard int // bytes of the last frame returned in place, skipped at the next read
	// handedOnAt is when the reading last moved on to a fresh goroutine (Idle),
	// in Unix ns; zero before.
	handedOnAt int64
	// kept: Idle kept the reading goroutine within its interval; its next wait
	// lasts until the interval ends at most (WaitFrame).
	kept bool
	// readDeadline is the owner's read deadline (SetReadDeadline), in Unix ns,
	// zero for none: what the socket's deadline goes back to after a wait of
	// WaitFrame's or ReadFrame's own.
	readDeadline atomic.Int64
}

// Init makes c the transport of nc. It is a method, not a constructor, so
// that the owner can keep Conn inside its own struct.
func (c *Conn) Init(cfg *Config, nc net.Conn, owner Owner) {
	_, vectored := nc.(*net.TCPConn)
	c.cfg, c.nc, c.owner, c.vectored = cfg, nc, owner, vectored
	c.fd = -1
	if !cfg.Plain {
		c.fd = socketFD(nc)
	}
	c.br = newReadBuffer(nc, readBufferSize, !cfg.Plain)
	c.drained = make(chan struct{}, 1)
	c.gone = make(chan struct{})
}

// FD is the socket's descriptor, -1 if none is used: the order of a fan-out.
func (c *Conn) FD() int32 { return c.fd }

// SetReady lets shared frames (FanOut) in: the owner calls it once the
// connection may get them (its session's login is answered).
func (c *Conn) SetReady() {
	c.mu.Lock()
	c.ready = true
	c.mu.Unlock()
}

// Close closes the connection now, dropping what is queued. The first reason
// given to Close or CloseAfterFlush is the one kept. It may be called any
// number of times, from any goroutine.
func (c *Conn) Close(reason Reason) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.closing = true, true
	if c.reason == ReasonNone {
		c.reason = reason
	}
	// The chunks are left to the collector: the writer may be writing from them.
	c.out, c.acks, c.queued, c.chunk, c.full = nil, nil, 0, nil, nil
	writerHasFD := c.inSyscall
	c.mu.Unlock()
	if writerHasFD {
		return // the writer closes nc as soon as its write returns (closeNow)
	}
	c.closeNow()
}

// closeNow closes the socket, once Close has marked the connection closed.
func (c *Conn) closeNow() {
	c.nc.Close()
	close(c.gone)
}

// CloseAfterFlush lets the writer send what is queued, then close.
func (c *Conn) CloseAfterFlush(reason Reason) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.reason = reason
	}
	idle := !c.writing
	c.mu.Unlock()
	if idle {
		c.Close(ReasonNone)
	}
}

// IsClosing reports whether the connection takes no more frames.
func (c *Conn) IsClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// Reason is why the connection closed (ReasonNone while open).
func (c *Conn) Reason() Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Gone is closed once the socket is closed.
func (c *Conn) Gone() <-chan struct{} { return c.gone }

// SetReadDeadline sets the socket's read deadline (a login's, or Shutdown's;
// the zero time for none). It may be called from any goroutine.
func (c *Conn) SetReadDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.readDeadline.Store(ns)
	c.nc.SetReadDeadline(t)
}

// restoreReadDeadline gives the socket back the owner's read deadline after a
// wait of the reader's own. The owner's is read again once set: one set
// meanwhile from another goroutine (Shutdown's) is not undone.
func (c *Conn) restoreReadDeadline() {
	ns := c.readDeadline.Load()
	c.nc.SetReadDeadline(unixTime(ns))
	if again := c.readDeadline.Load(); again != ns {
		c.nc.SetReadDeadline(unixTime(again))
	}
}

// unixTime is the time of Unix ns, the zero time for 0.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// RemoteHost is the peer's IP address, for limits per address.
func RemoteHost(nc net.Conn) string {
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
