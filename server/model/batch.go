package model

import (
	"context"
	"sync"

	"github.com/gomodule/redigo/redis"
)

// batcher runs the calls of one script made by many goroutines in shared
// pipelines, the way a database commits a group of transactions: a caller that finds
// fewer than `leaders` round trips under way starts a leader goroutine, which takes
// every entry queued meanwhile into one pipeline, and keeps going while entries keep
// coming, then ends. An entry is one caller's calls (a connection's burst of
// messages); it is never split, so its calls run in order on one Redis connection.
// Each caller waits for its own replies, so one connection's entries stay one at a
// time and in order; but a hundred busy connections cost the node and Redis one
// round trip, not a hundred.
type batcher struct {
	pool    *redis.Pool
	script  *redis.Script
	leaders int // round trips under way at once, at most

	mu      sync.Mutex
	queued  []*batchCall
	leading int
}

// batchCall is one caller's entry, and its replies once done is closed.
type batchCall struct {
	calls   [][]any
	replies []any
	err     error
	done    chan struct{}
}

// maxBatch bounds one pipeline's calls, so that one round trip stays short (an
// entry larger than that still goes whole).
const maxBatch = 256

func newBatcher(pool *redis.Pool, script *redis.Script, leaders int) *batcher {
	return &batcher{pool: pool, script: script, leaders: leaders}
}

// do runs the script once per element of calls, in order, in one pipeline, and
// returns the replies; a call's reply is a redis.Error if the script failed. err
// is set if the round trip failed (then any call may or may not have run).
func (b *batcher) do(ctx context.Context, calls [][]any) (replies []any, err error) {
	call := &batchCall{calls: calls, done: make(chan struct{})}
	b.mu.Lock()
	b.queued = append(b.queued, call)
	lead := b.leading < b.leaders
	if lead {
		b.leading++
	}
	b.mu.Unlock()
	if lead {
		go b.lead()
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		select {
		case <-call.done: // answered after all: the answer wins
		default:
			// The call may still run: callers must tolerate that (a private message
			// answered 505 may be kept; its clientMsgId makes a retry safe).
			return nil, ctx.Err()
		}
	}
	return call.replies, call.err
}

// lead runs round trips until nothing is queued.
func (b *batcher) lead() {
	for {
		b.mu.Lock()
		n, calls := 0, 0
		for n < len(b.queued) && (n == 0 || calls+len(b.queued[n].calls) <= maxBatch) {
			calls += len(b.queued[n].calls)
			n++
		}
		batch := b.queued[:n:n]
		b.queued = b.queued[n:]
		if n == 0 {
			b.queued = nil
			b.leading--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.roundTrip(batch)
	}
}

func (b *batcher) roundTrip(batch []*batchCall) {
	conn := b.pool.Get()
	defer conn.Close()
	var calls [][]any
	if len(batch) == 1 {
		calls = batch[0].calls
	} else {
		for _, c := range batch {
			calls = append(calls, c.calls...)
		}
	}
	replies, err := pipelineScript(conn, b.script, calls)
	for _, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.replies, replies = replies[:len(c.calls):len(c.calls)], replies[len(c.calls):]
		}
		close(c.done)
	}
}
