package model

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/gomodule/redigo/redis"
)

// batcher runs the calls of one script made by many goroutines in shared
// pipelines, the way a database commits a group of transactions: a call that finds
// fewer than `leaders` round trips under way starts a leader goroutine, which takes
// every call queued meanwhile into one pipeline, and keeps going while calls keep
// coming, then ends. Each caller still waits for its own reply, so one connection's
// requests stay one at a time and in order; but a hundred busy connections cost the
// node and Redis one round trip, not a hundred.
type batcher struct {
	pool    *redis.Pool
	script  *redis.Script
	leaders int // round trips under way at once, at most

	mu      sync.Mutex // guards queued and leading
	queued  []*batchCall
	leading int
}

// batchCall is one caller's call, and its reply once done is closed.
type batchCall struct {
	ctx   context.Context // the caller's
	args  []any
	reply any
	err   error
	done  chan struct{}
}

// maxBatch bounds one pipeline, so that one round trip stays short.
const maxBatch = 256

func newBatcher(pool *redis.Pool, script *redis.Script, leaders int) *batcher {
	return &batcher{pool: pool, script: script, leaders: leaders}
}

// do runs the script with args and returns its reply.
func (b *batcher) do(ctx context.Context, args ...any) (any, error) {
	call := &batchCall{ctx: ctx, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queued = append(b.queued, call)
	lead := b.leading < b.leaders
	if lead {
		b.leading++
	}
	b.mu.Unlock()
	if lead && !b.leadAlone(call) {
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
	return call.reply, call.err
}

// leadAlone runs call's round trip on its caller's goroutine when it is the
// only call queued, the common case of a node whose clients send one message
// at a time: a leader goroutine would cost a start and two switches per call.
// The round trip then waits for call's context alone. It reports false, having
// done nothing, if other calls are queued: a leader goroutine takes them all.
// Calls queued meanwhile go to a leader goroutine, which takes over the slot.
func (b *batcher) leadAlone(call *batchCall) bool {
	b.mu.Lock()
	if len(b.queued) != 1 || b.queued[0] != call {
		b.mu.Unlock()
		return false
	}
	b.queued = nil
	b.mu.Unlock()
	if batch := live([]*batchCall{call}); len(batch) > 0 {
		b.roundTrip(batch)
	}
	b.mu.Lock()
	more := len(b.queued) > 0
	if !more {
		b.leading--
	}
	b.mu.Unlock()
	if more {
		go b.lead()
	}
	return true
}

// lead runs round trips until nothing is queued.
func (b *batcher) lead() {
	for {
		b.mu.Lock()
		n := min(len(b.queued), maxBatch)
		batch := b.queued[:n:n]
		b.queued = b.queued[n:]
		if n == 0 {
			b.queued = nil
			b.leading--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		if batch = live(batch); len(batch) > 0 {
			b.roundTrip(batch)
		}
	}
}

// live returns the calls of batch whose callers still wait, in place; the others
// end unrun. Their callers were answered when their contexts ended: running them
// later (Redis was slow or hung, and calls piled up behind the round trips under
// way) would only keep what the clients were told may not be kept, and hold a
// connection and Redis for nobody.
func live(batch []*batchCall) []*batchCall {
	n := 0
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		batch[n] = c
		n++
	}
	return batch[:n]
}

// roundTrip runs one pipeline. It is cut short once every caller in it has
// given up waiting (their contexts ended): nobody is left to use the replies.
func (b *batcher) roundTrip(batch []*batchCall) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := int64(len(batch))
	for _, c := range batch {
		stop := context.AfterFunc(c.ctx, func() {
			if atomic.AddInt64(&waiting, -1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	calls := make([][]any, len(batch))
	for i, c := range batch {
		calls[i] = c.args
	}
	var replies []any
	conn, err := get(ctx, b.pool)
	if err == nil {
		replies, err = pipelineScript(conn, b.script, calls)
		conn.Close()
	}
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else if e, ok := replies[i].(redis.Error); ok {
			c.err = e
		} else {
			c.reply = replies[i]
		}
		close(c.done)
	}
}
