package chat

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPasswordPoolBoundsConcurrency(t *testing.T) {
	const workers, jobs = 3, 12
	p := newPasswordPool(workers, time.Minute)
	var running, most, done atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			ok, _ := p.run(context.Background(), func() {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				running.Add(-1)
				done.Add(1)
			})
			if !ok {
				t.Error("a job was turned away although the wait is a minute")
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.running.Load() != workers || p.waiting.Load() != jobs-workers {
		if time.Now().After(deadline) {
			t.Fatalf("got %d running and %d waiting, want %d and %d", p.running.Load(), p.waiting.Load(), workers, jobs-workers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if got := most.Load(); got != workers {
		t.Errorf("got at most %d jobs at once, want %d", got, workers)
	}
	if got := done.Load(); got != jobs {
		t.Errorf("got %d jobs done, want %d", got, jobs)
	}
}

func TestPasswordPoolTurnsAwayLongWaits(t *testing.T) {
	p := newPasswordPool(1, 20*time.Millisecond)
	hold, held := make(chan struct{}), make(chan struct{})
	go p.run(context.Background(), func() {
		close(held)
		<-hold
	})
	<-held
	defer close(hold)

	ran := false
	ok, retry := p.run(context.Background(), func() { ran = true })
	if ok || ran {
		t.Fatalf("got ok=%v ran=%v with the only slot held, want the job turned away", ok, ran)
	}
	if retry < minRetryAfter || retry > maxRetryAfter {
		t.Errorf("got retryAfter %v, want it within [%v, %v]", retry, minRetryAfter, maxRetryAfter)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.wait = time.Minute
	if ok, _ := p.run(ctx, func() { ran = true }); ok || ran {
		t.Errorf("got ok=%v ran=%v for an ended context, want the job turned away", ok, ran)
	}
}

func TestPasswordPoolRetryAfterGrowsWithTheQueue(t *testing.T) {
	p := newPasswordPool(2, time.Second)
	p.mean.Store(int64(100 * time.Millisecond))
	for _, tc := range []struct {
		queued int64
		want   time.Duration
	}{
		{0, 250 * time.Millisecond}, // one job's time, raised to the minimum
		{10, 600 * time.Millisecond},
		{100, 5100 * time.Millisecond},
		{100000, 30 * time.Second},
	} {
		if got := p.retryAfter(tc.queued); got != tc.want {
			t.Errorf("retryAfter(%d) = %v, want %v", tc.queued, got, tc.want)
		}
	}
}
