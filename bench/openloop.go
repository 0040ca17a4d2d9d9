package main

// The open-loop load of the realistic scenario: each sender sends its messages
// at times drawn in advance (exponential gaps, a Poisson process), one at a time,
// and a message's latency runs from the time it was scheduled. A server that
// answers late therefore delays the sender's next messages, and that delay is
// part of their latency, instead of slowing the offered load down and hiding
// (coordinated omission) the very waits being measured.

import (
	"math/rand/v2"
	"sync"
	"time"
)

// schedule is the send times of one sender: a Poisson process of rate per second
// from start. The times depend only on the seed, never on when they are taken.
type schedule struct {
	rng  *rand.Rand
	mean float64 // ns between sends, on average
	next time.Time
}

func newSchedule(start time.Time, rate float64, seed1, seed2 uint64) *schedule {
	s := &schedule{rng: rand.New(rand.NewPCG(seed1, seed2)), mean: float64(time.Second) / rate}
	s.next = start.Add(s.gap()) // senders start at random phases, not all at start
	return s
}

func (s *schedule) gap() time.Duration { return time.Duration(s.rng.ExpFloat64() * s.mean) }

// take returns the next send time.
func (s *schedule) take() time.Time {
	t := s.next
	s.next = t.Add(s.gap())
	return t
}

// oneInFlight is a sender with at most one message in flight, made of what it
// does with the clock and the connection, so that a test can run it on a clock
// of its own.
type oneInFlight struct {
	sleepUntil func(t time.Time) bool                   // false: stop (the run ends)
	send       func(seq int, scheduled time.Time) error // writes message seq
	answered   func(deadline time.Time) bool            // waits for the answer to the last send; false: none by deadline
}

// run sends every message sched schedules before end, each once the one before
// was answered and not before its time, and gives up at stopAt. It returns how
// many it sent and how many scheduled before end it did not (a send failed, an
// answer never came, or stopAt came first).
func (s oneInFlight) run(sched *schedule, end, stopAt time.Time) (sent, unsent int) {
	for seq := 0; ; seq++ {
		at := sched.take()
		if !at.Before(end) {
			return sent, 0
		}
		if !s.sleepUntil(at) || s.send(seq, at) != nil {
			unsent++
			break
		}
		sent++
		if !s.answered(stopAt) {
			break
		}
	}
	for at := sched.take(); at.Before(end); at = sched.take() {
		unsent++
	}
	return sent, unsent
}

// timeTick is the resolution of a timeline: the wave's start and end are placed
// in it to this precision.
const timeTick = 250 * time.Millisecond

// timeline records, by the tick (from Start) a message was scheduled in, its
// latency from that time to its first receipt; by the tick it arrived in, how
// many arrived; and how late the senders wrote (Lag: scheduled → written). It
// merges by adding, so workers send theirs to the parent as JSON.
type timeline struct {
	mu    sync.Mutex
	Start int64   `json:"start"` // unix ns
	Sched []*Hist `json:"sched"`
	Recv  []int64 `json:"recv"`
	Lag   *Hist   `json:"lag"`
}

func newTimeline(start time.Time) *timeline {
	return &timeline{Start: start.UnixNano(), Lag: NewHist()}
}

func (t *timeline) tick(at time.Time) int { return max(0, int(at.UnixNano()-t.Start)/int(timeTick)) }

// receipt records the first receipt at now of a message scheduled at sent (unix ns).
func (t *timeline) receipt(sent int64, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, r := t.tick(time.Unix(0, sent)), t.tick(now)
	for len(t.Sched) <= s {
		t.Sched = append(t.Sched, NewHist())
	}
	t.Sched[s].Record(now.Sub(time.Unix(0, sent)))
	for len(t.Recv) <= r {
		t.Recv = append(t.Recv, 0)
	}
	t.Recv[r]++
}

// wrote records that a message scheduled at at was written at now.
func (t *timeline) wrote(at, now time.Time) {
	t.mu.Lock()
	t.Lag.Record(now.Sub(at))
	t.mu.Unlock()
}

// pack readies t to be sent as JSON.
func (t *timeline) pack() *timeline {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, h := range t.Sched {
		if h == nil {
			t.Sched[i] = NewHist()
		}
		t.Sched[i].Pack()
	}
	t.Lag.Pack()
	return t
}

// merge adds o (received, packed, with the same Start) into t.
func (t *timeline) merge(o *timeline) {
	if o == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.Sched) < len(o.Sched) {
		t.Sched = append(t.Sched, NewHist())
	}
	for i, h := range o.Sched {
		t.Sched[i].Merge(h)
	}
	for len(t.Recv) < len(o.Recv) {
		t.Recv = append(t.Recv, 0)
	}
	for i, n := range o.Recv {
		t.Recv[i] += n
	}
	t.Lag.Merge(o.Lag)
}

// ticks is the range of ticks from from to to after Start, rounded outwards.
func ticks(from, to time.Duration) (int, int) {
	return int(from / timeTick), int((to + timeTick - 1) / timeTick)
}

// latency merges the latencies of the messages scheduled from from to to after Start.
func (t *timeline) latency(from, to time.Duration) *Hist {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := NewHist()
	a, b := ticks(from, to)
	for i := a; i < b && i < len(t.Sched); i++ {
		h.Merge(t.Sched[i])
	}
	return h
}

// received counts the first receipts from from to to after Start.
func (t *timeline) received(from, to time.Duration) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	a, b := ticks(from, to)
	for i := a; i < b && i < len(t.Recv); i++ {
		n += t.Recv[i]
	}
	return n
}
