package transport

import (
	"syscall"
	"time"
)

// flushHere is the connection's writer, run by whoever queued the first frame
// while none ran (push, or the last Release of a hold): it writes what the
// socket takes at once, round after round, until the queue is empty, then
// ends. If the socket is full, what is left goes to a writer goroutine of its
// own, which waits for it: a slow reader never keeps its sender, or a fan-out
// writing to thousands of sockets in turn, waiting. So at most one goroutine
// writes to nc at a time, an idle connection has none (a goroutine's stack is
// most of what an idle connection would cost), and a frame that fits the socket
// costs no goroutine start. Each round takes everything queued and writes it
// with one call: a burst of frames costs one system call. The batch being
// written stays counted in queued until it is written.
func (c *Conn) flushHere() { c.writeRounds(writeRound{}, true) }

// writeRound is what one round of the writer took from the queue.
type writeRound struct {
	frames *[][]byte
	acks   []string  // for Owner.Written once the frames are written
	full   []*[]byte // chunks the frames were copied into, free once written
	chunk  *[]byte
	cost   int // what the round held of queued
}

// writeRounds runs the writer's rounds after last, which is written. The
// direct write (writeNow) runs without mu: inSyscall tells Close to leave
// closing the socket to this goroutine, so that its descriptor cannot be
// closed, and maybe reused, under the write. The acks of the frames written
// go to the owner once mu is released.
func (c *Conn) writeRounds(last writeRound, handOff bool) {
	var acks []string
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			c.tell(acks)
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
			c.tell(acks)
			if drained {
				signal(c.drained)
			}
			if closing {
				c.Close(ReasonNone) // keeps the reason CloseAfterFlush gave
			}
			return
		}
		c.inSyscall = c.fd >= 0
		c.mu.Unlock()
		c.tell(acks)
		if drained {
			signal(c.drained)
		}
		rest, err := c.writeNow(*r.frames)
		c.mu.Lock()
		c.inSyscall = false
		if err == nil && len(rest) == 0 {
			// Written whole: let go of the round without a lock round trip of
			// its own.
			c.written(&r)
			acks, last = r.acks, r
			if c.closed && c.fd >= 0 {
				c.mu.Unlock()
				c.closeNow() // Close left it to this goroutine
				c.tell(acks)
				return
			}
			continue
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			if c.fd >= 0 {
				c.closeNow() // Close left it to this goroutine
			}
			return
		}
		if err == nil {
			if handOff {
				c.handOff(r, rest)
				return
			}
			err = c.write(rest)
		}
		if err != nil {
			c.Close(WriteError)
			return
		}
		c.mu.Lock()
		c.written(&r)
		acks, last = r.acks, r
	}
}

// handOff starts a goroutine that writes what the socket did not take of r at
// once, waiting for it, then goes on as the connection's writer. (A function of
// its own: the closure's variables would be moved to the heap where they are
// declared, at every round.)
func (c *Conn) handOff(r writeRound, rest [][]byte) {
	c.cfg.Go(func() {
		if err := c.write(rest); err != nil {
			c.Close(WriteError)
			return
		}
		c.mu.Lock()
		c.written(&r)
		c.mu.Unlock()
		c.tell(r.acks)
		c.writeRounds(r, false)
	})
}

// written lets go of what r held once its frames are written, and keeps its
// frames' array for the next round unless it grew large (c.mu held).
func (c *Conn) written(r *writeRound) {
	c.cfg.FramesWritten.Add(float64(len(*r.frames)))
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

// tell gives the owner the acks of frames written (c.mu not held).
func (c *Conn) tell(acks []string) {
	if len(acks) > 0 {
		c.owner.Written(acks)
	}
}

// writeNow writes what of frames the socket takes without waiting, with one
// system call, and returns the rest. Going through net.Conn costs a fan-out,
// which writes to thousands of sockets once each, a cache miss per socket in
// its locks, poller state and deadline (BENCHMARKS.md, chat-load fanout). A socket
// that is full gets the rest through net.Conn (write), which waits for it with
// the write deadline. Without a descriptor (Config.Plain, or not a socket)
// everything is the rest.
func (c *Conn) writeNow(frames [][]byte) (rest [][]byte, err error) {
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

// writeChunk is how much a connection without writev copies per write.
const writeChunk = 32 << 10

// write writes a batch of frames through net.Conn. On a socket it is one
// writev over the frames themselves: a shared frame is never copied per
// connection. Other connections (TLS) would make a write of each frame: for
// them the frames are copied into pieces of a pooled buffer, a write per piece.
func (c *Conn) write(frames [][]byte) error {
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
	buf := GetBuffer()
	defer PutBuffer(buf)
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

// renewWriteDeadline gives the next write between 7/8 of WriteTimeout and all
// of it. Setting a deadline re-arms a runtime timer, which is costly on every
// write of a fan-out (BENCHMARKS.md, chat-load fanout); moving it only once it has
// fallen an eighth behind makes that rare on a busy connection.
func (c *Conn) renewWriteDeadline() {
	t := c.cfg.WriteTimeout
	now := time.Now()
	if dl := now.Add(t).UnixNano(); dl-c.writeDeadline > int64(t/8) {
		c.nc.SetWriteDeadline(time.Unix(0, dl))
		c.writeDeadline = dl
	}
}
