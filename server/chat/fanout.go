package chat

import (
	"sync"
	"sync/atomic"
	"time"
)

// A broadcast takes a snapshot of the sessions, then a bounded set of goroutines
// queues the one shared frame to each and runs its writer right there: starting a
// writer goroutine per session would cost 10,000 goroutines for one message to
// 10,000 sessions. The writers take sessions from a shared index, so one whose
// socket is full only stalls the writer that took it; if the index stops moving
// (every writer is stalled), another writer starts. The broadcast returns once the
// frame is queued to every session, so that the broadcasts of one sender reach
// each session in order.

// fanOutWriters bounds the writers of one broadcast while none stalls.
const fanOutWriters = 8

// sessionsPerWriter is how many sessions one more writer is worth.
const sessionsPerWriter = 512

// fanOutStall is how long the index may stand still before another writer starts.
const fanOutStall = 20 * time.Millisecond

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

// queueAll queues f to every session of l but exclude's (only to those whose login
// was answered) and writes it, and returns how many took it once every one of them
// has it queued. It lets go of the caller's reference to l.
func queueAll(l *fanOutList, f []byte) int {
	defer l.unref()
	targets := l.conns
	var next, queued, took atomic.Int64
	all := make(chan struct{})
	writer := func() {
		defer l.unref()
		for {
			i := int(next.Add(1)) - 1
			if i >= len(targets) {
				return
			}
			c := targets[i]
			c.hold() // the writer runs here, not in a goroutine of its own
			if c.enqueueBroadcast(f) {
				took.Add(1)
			}
			if int(queued.Add(1)) == len(targets) {
				close(all)
			}
			c.releaseHere()
		}
	}
	spawn := func() {
		l.refs.Add(1)
		go writer()
	}
	if len(targets) == 0 {
		return 0
	}
	for range min(fanOutWriters, 1+len(targets)/sessionsPerWriter) {
		spawn()
	}
	last := int64(-1)
	for {
		select {
		case <-all:
			return int(took.Load())
		case <-time.After(fanOutStall):
		}
		if at := next.Load(); at == last {
			spawn()
		} else {
			last = at
		}
	}
}
