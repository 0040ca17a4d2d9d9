package chat

import (
	"sync"
	"sync/atomic"
)

// A broadcast queues one shared frame to every session, holding each one's writer,
// and a bounded set of goroutines writes them, chunk by chunk as they are queued:
// starting a writer goroutine per session would cost 10,000 goroutines for one
// message to 10,000 sessions. A held session's writer waits for the broadcast's,
// so concurrent broadcasts (the presence notices of many logins) share writes.
// The writers never wait for a socket: one whose socket is full hands the rest to
// a writer goroutine of the session's own (flushHere). They take the sessions in
// runs from a shared index, in the order of their sockets (fanOut).

// fanOutWriters bounds the writers of one broadcast.
const fanOutWriters = 8

// sessionsPerWriter is how many sessions one more writer is worth.
const sessionsPerWriter = 512

// writerRun is how many sessions a writer takes from the index at a time: its
// sockets follow each other in the kernel's tables, and the index's cache line
// moves between the cores once per run rather than once per session.
const writerRun = 16

// fanOutList is the sessions of one broadcast. Its writers and the broadcaster
// each hold a reference; the last one to let go puts it back in the pool, so that
// a broadcast to 10,000 sessions does not leave 80 KB of garbage behind.
type fanOutList struct {
	conns []*conn
	refs  atomic.Int32
}

var fanOutLists = sync.Pool{New: func() any { return new(fanOutList) }}

func newFanOutList() *fanOutList {
	l := fanOutLists.Get().(*fanOutList)
	l.refs.Store(1)
	return l
}

func (l *fanOutList) unref() {
	if l.refs.Add(-1) == 0 {
		clear(l.conns)
		l.conns = l.conns[:0]
		fanOutLists.Put(l)
	}
}

// pushChunk is how many sessions the broadcaster queues to before writers may
// start on them: the first writes start after 256 queues, not after 10,000.
const pushChunk = 256

// queueHeld queues f to every session of l (classic sessions get classic instead:
// classicFrame), holding each one's writer, and lets the writers run them chunk by
// chunk as the chunks are queued. It returns how many sessions took the frame, once
// it is queued to all (so that the broadcasts of one sender reach each session in
// order) and every session has been taken by a writer. It lets go of the caller's
// reference to l. The writers are counted in s.goroutines.
func (s *Server) queueHeld(l *fanOutList, f, classic []byte) int {
	defer l.unref()
	targets := l.conns
	if len(targets) == 0 {
		return 0
	}
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
				targets[j].releaseHere()
			}
		}
	}
	for range min(fanOutWriters, 1+len(targets)/sessionsPerWriter) {
		l.refs.Add(1)
		s.goTracked(writer)
	}
	n := 0
	for k, ch := range chunks {
		for _, c := range targets[k*pushChunk : min(len(targets), (k+1)*pushChunk)] {
			c.hold() // written by a writer here, not by a goroutine of its own
			g := f
			if c.classic() {
				g = classic
			}
			if c.enqueueBroadcast(g) {
				n++
			}
		}
		close(ch)
	}
	<-taken
	return n
}
