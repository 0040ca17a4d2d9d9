package main

// The worker side of the realistic scenario (realistic.go): the pairs a worker
// process holds send open loop (openloop.go), one message in flight each, and
// report a timeline of what arrived.

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chat/common/message"
)

// realCmd starts the realistic load in the workers (the "real" command).
type realCmd struct {
	Cmd     string  `json:"cmd"`
	StartNs int64   `json:"startNs"` // unix ns: the schedules start, and the timelines count from here
	EndNs   int64   `json:"endNs"`   // no send is scheduled from here on
	StopNs  int64   `json:"stopNs"`  // senders behind their schedule give up here
	Rate    float64 `json:"rate"`    // messages per second of each sender
	Size    int     `json:"size"`
	Seed    uint64  `json:"seed"`
}

// realReport is a worker's answer: the pairs' counts (as in p2p) and the timeline.
type realReport struct {
	Event
	Unsent   int64     `json:"unsent"`
	Timeline *timeline `json:"timeline"`
}

// realContent is a message's content, with its scheduled send time instead of the
// time it is written (makeContent), so that receipts measure from the schedule.
func realContent(seq int, at time.Time, size int) string {
	s := "R|" + strconv.Itoa(seq) + "|" + strconv.FormatInt(at.UnixNano(), 10) + "|"
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

// sendOpenLoop runs one oneInFlight sender per pair on the real clock, with the
// schedule c gives, until all are done; send writes a message and waits for
// nothing, p.response gets each answer. A pair's messages go on numbering from
// the last run's. It returns the messages sent and unsent.
func sendOpenLoop(ctx context.Context, ps []*pair, c realCmd, tl *timeline, send func(p *pair, seq int, content string) error) (int64, int64) {
	start, end, stopAt := time.Unix(0, c.StartNs), time.Unix(0, c.EndNs), time.Unix(0, c.StopNs)
	var sent, unsent atomic.Int64
	var wg sync.WaitGroup
	for _, p := range ps {
		answers := make(chan bool, 1)
		p.mu.Lock()
		base := p.sentN
		p.onAnswer = func(bool) {
			select {
			case answers <- true:
			default:
			}
		}
		p.onReceipt = tl.receipt
		p.mu.Unlock()
		s := oneInFlight{
			sleepUntil: func(t time.Time) bool { return sleepCtx(ctx, time.Until(t)) },
			send: func(seq int, at time.Time) error {
				seq += base
				tl.wrote(at, time.Now())
				if err := send(p, seq, realContent(seq, at, c.Size)); err != nil {
					return err
				}
				sent.Add(1)
				p.mu.Lock()
				p.sentN = seq + 1
				p.mu.Unlock()
				return nil
			},
			answered: func(deadline time.Time) bool {
				t := time.NewTimer(time.Until(deadline))
				defer t.Stop()
				select {
				case <-answers:
					return true
				case <-t.C:
				case <-ctx.Done():
				}
				return false
			},
		}
		sched := newSchedule(start, c.Rate, c.Seed, uint64(p.sid))
		wg.Go(func() {
			_, n := s.run(sched, end, stopAt)
			unsent.Add(int64(n))
		})
	}
	wg.Wait()
	return sent.Load(), unsent.Load()
}

// runReal is the "real" command: the pairs send as line (a realCmd) says, then
// the worker waits for what is in flight and reports: the timeline of this run,
// the counts of all runs so far.
func (w *worker) runReal(ctx context.Context, line []byte) {
	var c realCmd
	if err := json.Unmarshal(line, &c); err != nil {
		w.emit(Event{Ev: "fatal", Err: "real: " + err.Error()})
		return
	}
	tl := newTimeline(time.Unix(0, c.StartNs))
	var ready []*pair
	for _, p := range w.pairs {
		if p.s != nil && p.r != nil {
			ready = append(ready, p)
		}
	}
	var sendErr atomic.Value
	_, unsent := sendOpenLoop(ctx, ready, c, tl, func(p *pair, seq int, content string) error {
		// A clientMsgId with each send, as the terminal client does: the node
		// dedups by it, and a send answered 505 is known by it (pair.lost).
		err := p.s.send(message.PrivateMesType, message.PrivateMes{ToUserID: p.rid, Content: content, ClientMsgID: strconv.Itoa(seq)})
		if err != nil {
			sendErr.CompareAndSwap(nil, err.Error())
		}
		return err
	})
	var sent int64 // by all runs: the pairs count what arrived of them all
	for _, p := range w.pairs {
		p.mu.Lock()
		sent += int64(p.sentN)
		p.mu.Unlock()
	}
	e := w.drainPairs(ctx, sent)
	if v, ok := sendErr.Load().(string); ok {
		e.Err = v
	}
	r := realReport{Event: w.withDropErr(e), Unsent: unsent, Timeline: tl.pack()}
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.out.Encode(r)
}
