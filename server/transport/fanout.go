package transport

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// A fan-out queues one shared frame to many connections, holding each one's
// writer, and a bounded set of goroutines writes them, run by run as they are
// queued: a writer goroutine per connection would cost a goroutine per
// recipient for every message. A held connection's writer waits for the
// fan-out's, so concurrent fan-outs (the presence notices of many logins)
// share writes. The fan-out's writers never wait for a socket: one whose
// socket is full hands the rest to a writer goroutine of the connection's own
// (flushHere). See BENCHMARKS.md, chat-load fanout, for what each choice below is worth.

// fanOutWriters bounds the writers of one fan-out.
const fanOutWriters = 8

// connsPerWriter is how many connections one more writer is worth.
const connsPerWriter = 512

// writerRun is how many connections a writer takes from the shared index at a
// time: their sockets follow each other in the kernel's tables, and the index's
// cache line moves between the cores once per run rather than once per
// connection.
const writerRun = 16

// pushChunk is how many connections the fan-out queues to before writers may
// start on them, so that the first writes do not wait for the last queue.
const pushChunk = 256

// FanOut is the connections one shared frame goes to. Its writers and the
// caller each hold a reference; the last one to let go puts it back in the
// pool, so that a fan-out leaves no list behind for the collector.
type FanOut struct {
	cfg     *Config
	targets []target
	refs    atomic.Int32
}

// target is a connection of a fan-out, and whether it gets the alternative
// frame, or parts of its own instead.
type target struct {
	c     *Conn
	alt   bool
	parts *[2][]byte
}

var fanOuts = sync.Pool{New: func() any { return new(FanOut) }}

// NewFanOut returns an empty fan-out whose goroutines run with cfg.Go.
func NewFanOut(cfg *Config) *FanOut {
	l := fanOuts.Get().(*FanOut)
	l.cfg = cfg
	l.refs.Store(1)
	return l
}

// Add makes c a target; alt: it gets the alternative frame of Send.
func (l *FanOut) Add(c *Conn, alt bool) {
	l.targets = append(l.targets, target{c: c, alt: alt})
}

// AddParts makes c a target that gets a and b, each if not empty, instead of
// the frames of Send: parts of a shared frame with what c must not get cut out,
// at no copy.
func (l *FanOut) AddParts(c *Conn, a, b []byte) {
	l.targets = append(l.targets, target{c: c, parts: &[2][]byte{a, b}})
}

func (l *FanOut) unref() {
	if l.refs.Add(-1) == 0 {
		clear(l.targets)
		l.targets = l.targets[:0]
		l.cfg = nil
		fanOuts.Put(l)
	}
}

// Send queues f to every target that takes shared frames (SetReady), alt to
// those added with alt, and has them written. It returns how many took the
// frame, once it is queued to all (so that the frames of one sender reach each
// connection in order) and a writer has taken every connection. It lets go of
// l: the caller must not use it after.
//
// The targets go in the order of their sockets: the kernel hands out the lowest
// free descriptor, so this is the order of its tables and mostly of the
// sockets' memory, here and at local peers (BENCHMARKS.md, chat-load fanout).
func (l *FanOut) Send(f, alt []byte) int {
	defer l.unref()
	targets := l.targets
	if len(targets) == 0 {
		return 0
	}
	slices.SortFunc(targets, func(a, b target) int { return cmp.Compare(a.c.fd, b.c.fd) })
	chunks := make([]chan struct{}, (len(targets)+pushChunk-1)/pushChunk)
	for k := range chunks {
		chunks[k] = make(chan struct{})
	}
	var next atomic.Int64
	taken := make(chan struct{})
	var once sync.Once
	writer := func() {
		defer l.unref()
		for {
			i := int(next.Add(writerRun)) - writerRun
			if i >= len(targets) {
				once.Do(func() { close(taken) })
				return
			}
			for j := i; j < min(i+writerRun, len(targets)); j++ {
				if j == i || j%pushChunk == 0 {
					<-chunks[j/pushChunk]
				}
				targets[j].c.Release()
			}
		}
	}
	for range min(fanOutWriters, 1+len(targets)/connsPerWriter) {
		l.refs.Add(1)
		l.cfg.Go(writer)
	}
	n := 0
	for k, ch := range chunks {
		for _, t := range targets[k*pushChunk : min(len(targets), (k+1)*pushChunk)] {
			t.c.Hold() // written by a writer here, not by a goroutine of its own
			if t.parts != nil {
				if t.c.pushParts(t.parts) {
					n++
				}
				continue
			}
			g := f
			if t.alt {
				g = alt
			}
			if t.c.push(g, "", true, false) {
				n++
			}
		}
		close(ch)
	}
	<-taken
	return n
}
