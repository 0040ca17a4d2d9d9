package main

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

func TestScheduleRateAndGaps(t *testing.T) {
	start := time.Unix(1000, 0)
	for _, rate := range []float64{4, 100} {
		s := newSchedule(start, rate, 1, 2)
		const n = 100_000
		prev := start
		var gaps []float64
		for range n {
			at := s.take()
			if at.Before(prev) {
				t.Fatalf("rate %v: send at %v before the previous one at %v", rate, at, prev)
			}
			gaps = append(gaps, float64(at.Sub(prev)))
			prev = at
		}
		mean := float64(prev.Sub(start)) / n
		want := float64(time.Second) / rate
		if math.Abs(mean-want) > want/50 {
			t.Errorf("rate %v: mean gap %v, want %v ± 2 %%", rate, time.Duration(mean), time.Duration(want))
		}
		// Exponential gaps: the standard deviation is the mean (fixed gaps: 0).
		var ss float64
		for _, g := range gaps {
			ss += (g - mean) * (g - mean)
		}
		if sd := math.Sqrt(ss / n); math.Abs(sd-want) > want/20 {
			t.Errorf("rate %v: gap deviation %v, want %v ± 5 %%", rate, time.Duration(sd), time.Duration(want))
		}
	}
}

// fakeSend runs oneInFlight on a clock of its own: a send is answered after
// service; it returns the sends' scheduled times and when each was written.
func fakeSend(sched *schedule, service time.Duration, end, stopAt time.Time, failAt int) (scheduled, written []time.Time, sent, unsent int) {
	now := sched.next.Add(-time.Second)
	inFlight := false
	s := oneInFlight{
		sleepUntil: func(at time.Time) bool {
			if at.After(now) {
				now = at
			}
			return true
		},
		send: func(seq int, at time.Time) error {
			if inFlight {
				panic("two in flight")
			}
			if seq == failAt {
				return errors.New("broken")
			}
			inFlight = true
			scheduled, written = append(scheduled, at), append(written, now)
			return nil
		},
		answered: func(deadline time.Time) bool {
			now = now.Add(service)
			inFlight = false
			return !now.After(deadline)
		},
	}
	sent, unsent = s.run(sched, end, stopAt)
	return scheduled, written, sent, unsent
}

func TestOneInFlightKeepsTheSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	const rate = 10 // 100 ms between sends on average
	end := start.Add(10 * time.Second)
	want := newSchedule(start, rate, 7, 8)
	var times []time.Time
	for at := want.take(); at.Before(end); at = want.take() {
		times = append(times, at)
	}
	tests := []struct {
		name       string
		service    time.Duration
		stopAfter  time.Duration
		failAt     int
		wantSent   int
		wantUnsent int
		late       bool // the last sends are written well after their time
	}{
		{"fast server", time.Millisecond, time.Minute, -1, len(times), 0, false},
		{"slow server", 300 * time.Millisecond, time.Minute, -1, len(times), 0, true},
		{"slow server, gives up", 300 * time.Millisecond, 0, -1, -1, -1, true},
		{"send fails", time.Millisecond, time.Minute, 5, 5, len(times) - 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, w, sent, unsent := fakeSend(newSchedule(start, rate, 7, 8), tt.service, end, end.Add(tt.stopAfter), tt.failAt)
			if tt.wantSent >= 0 && (sent != tt.wantSent || unsent != tt.wantUnsent) {
				t.Fatalf("sent %d, unsent %d, want %d, %d", sent, unsent, tt.wantSent, tt.wantUnsent)
			}
			if sent+unsent != len(times) {
				t.Fatalf("sent %d + unsent %d, want %d scheduled before the end", sent, unsent, len(times))
			}
			for i := range sched {
				if !sched[i].Equal(times[i]) {
					t.Fatalf("send %d scheduled at %v, want %v: the schedule moved", i, sched[i], times[i])
				}
				if w[i].Before(sched[i]) {
					t.Fatalf("send %d written at %v, before its time %v", i, w[i], sched[i])
				}
			}
			lag := w[len(w)-1].Sub(sched[len(sched)-1])
			if got := lag > time.Second; got != tt.late {
				t.Errorf("last send written %v after its time; late: got %v, want %v", lag, got, tt.late)
			}
		})
	}
}

func TestTimelineWindows(t *testing.T) {
	start := time.Unix(1000, 0)
	tl := newTimeline(start)
	at := func(d time.Duration) int64 { return start.Add(d).UnixNano() }
	// Scheduled at 0.1 s (10 ms), 1.1 s (20 ms), 3.9 s (2 s: arrives at 5.9 s).
	tl.receipt(at(100*time.Millisecond), start.Add(110*time.Millisecond))
	tl.receipt(at(1100*time.Millisecond), start.Add(1120*time.Millisecond))
	tl.receipt(at(3900*time.Millisecond), start.Add(5900*time.Millisecond))
	// As a worker sends it (JSON) and the parent merges it.
	sum := newTimeline(start)
	for _, w := range []*timeline{tl, newTimeline(start)} {
		b, err := json.Marshal(realReport{Event: Event{Ev: "result"}, Timeline: w.pack()})
		if err != nil {
			t.Fatal(err)
		}
		var r realReport
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		sum.merge(r.Timeline)
	}
	tests := []struct {
		from, to     time.Duration
		n            uint64
		p99          time.Duration
		wantReceived int64
	}{
		{0, time.Second, 1, 10 * time.Millisecond, 1},
		{0, 2 * time.Second, 2, 20 * time.Millisecond, 2},
		{time.Second, 4 * time.Second, 2, 2 * time.Second, 1},
		{5 * time.Second, 6 * time.Second, 0, 0, 1},
	}
	for _, tt := range tests {
		h := sum.latency(tt.from, tt.to)
		if p := h.Quantile(.99); h.N != tt.n || p < tt.p99*95/100 || p > tt.p99*105/100 {
			t.Errorf("[%v, %v): %d messages, p99 %v, want %d, %v", tt.from, tt.to, h.N, p, tt.n, tt.p99)
		}
		if got := sum.received(tt.from, tt.to); got != tt.wantReceived {
			t.Errorf("[%v, %v): received %d, want %d", tt.from, tt.to, got, tt.wantReceived)
		}
	}
}
