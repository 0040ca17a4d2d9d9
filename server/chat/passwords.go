package chat

import (
	"context"
	"sync/atomic"
	"time"
)

// passwordPool runs password work (bcrypt checks and hashes, tens of
// milliseconds of CPU each) at most `workers` at a time, so that a storm of
// password logins leaves CPU for messaging. A request waits on its own
// connection's reading goroutine, so other connections never wait for it; one
// that cannot get a slot within `wait` is turned away with a time to retry.
type passwordPool struct {
	slots   chan struct{}
	wait    time.Duration
	waiting atomic.Int64 // requests waiting for a slot
	running atomic.Int64 // requests holding a slot
	mean    atomic.Int64 // moving average of one job's duration, nanoseconds

	// testHook, when set, runs in every job while it holds its slot.
	testHook atomic.Pointer[func()]
}

// Bounds of the retry time given to a request turned away.
const (
	minRetryAfter = 250 * time.Millisecond
	maxRetryAfter = 30 * time.Second
)

func newPasswordPool(workers int, wait time.Duration) *passwordPool {
	p := &passwordPool{slots: make(chan struct{}, workers), wait: wait}
	p.mean.Store(int64(50 * time.Millisecond)) // bcrypt at cost 10, until measured
	return p
}

// run runs job in a slot. If no slot frees up within the pool's wait (or ctx
// ends first), job does not run and run returns false with how long the caller
// should wait before trying again.
func (p *passwordPool) run(ctx context.Context, job func()) (ok bool, retryAfter time.Duration) {
	p.waiting.Add(1)
	t := time.NewTimer(p.wait)
	select {
	case p.slots <- struct{}{}:
		t.Stop()
		p.waiting.Add(-1)
	case <-t.C:
		return false, p.retryAfter(p.waiting.Add(-1))
	case <-ctx.Done():
		t.Stop()
		return false, p.retryAfter(p.waiting.Add(-1))
	}
	p.running.Add(1)
	defer func() {
		p.running.Add(-1)
		<-p.slots
	}()
	if hook := p.testHook.Load(); hook != nil {
		(*hook)()
	}
	start := time.Now()
	job()
	// An exponential moving average with weight 1/8 for the newest job.
	d := int64(time.Since(start))
	for {
		old := p.mean.Load()
		if p.mean.CompareAndSwap(old, old+(d-old)/8) {
			break
		}
	}
	return true, 0
}

// retryAfter estimates when the requests queued now will have been served.
func (p *passwordPool) retryAfter(queued int64) time.Duration {
	d := time.Duration((queued/int64(cap(p.slots)) + 1) * p.mean.Load())
	return min(max(d, minRetryAfter), maxRetryAfter)
}
