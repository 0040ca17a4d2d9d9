package chat

import (
	"sync"
	"sync/atomic"
	"time"
)

// A broadcast queues one shared frame to every session, holding each one's writer,
// then a bounded set of goroutines writes them all: starting a writer goroutine
// per session would cost 10,000 goroutines for one message to 10,000 sessions.
// The writers take sessions from a shared index, so one whose socket is full only
// stalls the writer that took it; if the index stops moving (every writer is
// stalled), another writer starts.

// fanOutWriters bounds the writers of one broadcast while none stalls.
const fanOutWriters = 8

// sessionsPerWriter is how many sessions one more writer is worth.
const sessionsPerWriter = 512

// fanOutStall is how long the index may stand still before another writer starts.
const fanOutStall = 20 * time.Millisecond

// writeHeld writes what is queued for every session of targets, each held once by
// the caller, and returns once every session has been taken by a writer.
func writeHeld(targets []*conn) {
	var next atomic.Int64
	taken := make(chan struct{})
	var once sync.Once
	writer := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(targets) {
				once.Do(func() { close(taken) })
				return
			}
			targets[i].releaseHere()
		}
	}
	for range min(fanOutWriters, 1+len(targets)/sessionsPerWriter) {
		go writer()
	}
	last := int64(-1)
	for {
		select {
		case <-taken:
			return
		case <-time.After(fanOutStall):
		}
		if at := next.Load(); at == last {
			go writer()
		} else {
			last = at
		}
	}
}
