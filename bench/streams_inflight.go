package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// streamsOneInFlight is the realistic scenario's baseline: the same durable work
// done by Redis streams alone, in the same shape: n pairs, each sender XADDs one
// message to its receiver's stream and waits for the reply before the next, on
// the schedule c gives (open loop); each receiver XREAD BLOCKs and XDELs what it
// read (readStreamLoop). A receiver blocks until an entry comes: with a few
// messages a second per receiver, a timeout would add empty XREADs to what
// Redis does for each message. It returns
// the pairs' counts, the timeline and the messages behind schedule at the end;
// the caller measures the CPU.
func streamsOneInFlight(ctx context.Context, addr string, n int, c realCmd, drain time.Duration) (*realRun, error) {
	prefix := fmt.Sprintf("bench:r:%d:", rand.IntN(1<<30))
	ps, senders, receivers, err := dialStreamPairs(addr, n)
	defer closeConns(senders, receivers)
	if err != nil {
		return nil, err
	}
	defer deleteStreams(addr, prefix, n)
	var stop atomic.Bool
	var firstErr atomic.Value
	fail := func(err error) {
		if !stop.Load() {
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}
	tl := newTimeline(time.Unix(0, c.StartNs))
	done := make(chan struct{})
	for i, p := range ps {
		go func() {
			defer func() { done <- struct{}{} }()
			readStreamLoop(receivers[i], prefix+strconv.Itoa(i), p, 0, &stop, fail)
		}()
	}
	sent, unsent := sendOpenLoop(ctx, ps, c, tl, func(p *pair, seq int, content string) error {
		i := p.sid / 2 // dialStreamPairs
		payload, err := streamPayload(p, content)
		if err == nil {
			_, err = redis.String(senders[i].Do("XADD", prefix+strconv.Itoa(i), "*", "m", payload))
		}
		if err != nil {
			fail(err)
			return err
		}
		p.response(true, "")
		return nil
	})
	var sentN atomic.Int64
	sentN.Store(sent)
	waitSettled(ctx, ps, &sentN, drain)
	stop.Store(true)
	closeConns(receivers)
	for range ps {
		<-done
	}
	counts := tally(ps)
	counts.Sent = sent
	r := &realRun{res: mergeResults([]Event{counts}, 0), tl: tl, unsent: unsent}
	if v, ok := firstErr.Load().(string); ok {
		r.res.err = v
	}
	return r, nil
}
