package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRun is a run of received messages in the window, all of latency lat, with
// the CPU of nodes and Redis per message (µs).
func fakeRun(received int64, lat time.Duration, nodes, redis float64) *realRun {
	h := NewHist()
	for range received {
		h.Record(lat)
	}
	perMsg := func(us float64) time.Duration { return time.Duration(us*float64(received)) * time.Microsecond }
	return &realRun{steady: h, received: received, offered: 4000, achieved: 4000,
		nodeCPU: perMsg(nodes), redisCPU: perMsg(redis), res: pairResult{sent: received}}
}

// verdictOf finds the verdict of the row whose metric starts with metric.
func verdictOf(t *testing.T, rows []row, metric string) string {
	t.Helper()
	for _, r := range rows {
		if strings.HasPrefix(r.Metric, metric) {
			return r.Verdict
		}
	}
	t.Fatalf("no row %q in %v", metric, rows)
	return ""
}

func TestRealRowsVerdicts(t *testing.T) {
	fourK := realOpts{rate: 4000, wave: 1000, waveSpread: time.Second}
	withWave := func(r *realRun, p99, took time.Duration, err error) *realRun {
		r.waveRan, r.waveTime, r.waveErr = true, took, err
		r.waveLatency = NewHist()
		r.waveLatency.Record(p99)
		return r
	}
	lost := fakeRun(40000, 10*time.Millisecond, 100, 40)
	lost.res.lost = 1
	busy := fakeRun(40000, 10*time.Millisecond, 100, 40)
	busy.res.rejected = 10
	tests := []struct {
		name                    string
		pairs                   int
		ro                      realOpts
		chat, streams           *realRun
		p99, ratio, loss        string
		waveLatency, waveLogins string // "" when no wave rows
	}{
		{"targets held", 1000, fourK, fakeRun(40000, 40*time.Millisecond, 100, 40), fakeRun(40000, time.Millisecond, 0, 100),
			"ok", "ok", "ok", "", ""},
		{"slow and costly", 1000, fourK, fakeRun(40000, 80*time.Millisecond, 100, 40), fakeRun(40000, time.Millisecond, 0, 50),
			"not met", "not met", "ok", "", ""},
		{"another rate: no p99 verdict", 1000, realOpts{rate: 500}, fakeRun(5000, 80*time.Millisecond, 100, 40), nil,
			"-", "-", "ok", "", ""},
		{"too few senders: no p99 verdict", 100, fourK, fakeRun(40000, 80*time.Millisecond, 100, 40), nil,
			"-", "-", "ok", "", ""},
		{"a message lost", 1000, fourK, lost, nil, "ok", "-", "FAIL", "", ""},
		{"sends answered busy", 1000, fourK, busy, nil, "ok", "-", "ok", "", ""},
		{"wave within targets", 1000, fourK, withWave(fakeRun(40000, time.Millisecond, 1, 1), 200*time.Millisecond, 4*time.Second, nil), nil,
			"ok", "-", "ok", "ok", "ok"},
		{"wave too slow", 1000, fourK, withWave(fakeRun(40000, time.Millisecond, 1, 1), 300*time.Millisecond, 6*time.Second, nil), nil,
			"ok", "-", "ok", "not met", "not met"},
		{"wave logins failed", 1000, fourK, withWave(fakeRun(40000, time.Millisecond, 1, 1), 100*time.Millisecond, 2*time.Second, errors.New("3 of 1000 logins failed")), nil,
			"ok", "-", "ok", "ok", "not met"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := realRows("realistic", tt.pairs, tt.ro, tt.chat, tt.streams)
			for _, c := range []struct{ metric, want string }{
				{"latency p99 at", tt.p99},
				{"total CPU per message / streams'", tt.ratio},
				{"lost / duplicated", tt.loss},
				{"messages scheduled during the wave", tt.waveLatency},
				{"until all the wave's users", tt.waveLogins},
			} {
				if c.want == "" {
					for _, r := range rows {
						if strings.HasPrefix(r.Metric, c.metric) {
							t.Errorf("row %q without a wave", c.metric)
						}
					}
					continue
				}
				if got := verdictOf(t, rows, c.metric); !strings.HasPrefix(got, c.want) {
					t.Errorf("%s: verdict %q, want %q…", c.metric, got, c.want)
				}
			}
		})
	}
}

// A receipt measures from the time the message was scheduled, which its content
// carries, whenever it was written.
func TestRealContentCarriesTheSchedule(t *testing.T) {
	at := time.Unix(1000, 123456789)
	for _, size := range []int{0, 64, 200} {
		c := realContent(41, at, size)
		seq, sent, ok := parseContent(c)
		if !ok || seq != 41 || sent != at.UnixNano() {
			t.Errorf("size %d: parseContent(%q) = %d, %d, %v, want 41, %d, true", size, c, seq, sent, ok, at.UnixNano())
		}
		if len(c) < size {
			t.Errorf("size %d: content of %d bytes", size, len(c))
		}
	}
}

// The logins of a wave start evenly over its spread, none before its time.
func TestConnectAllSpreadsAWave(t *testing.T) {
	const n, spread = 10, 200 * time.Millisecond
	w := &worker{t: Task{N: n, LoginConc: n, SpreadMs: spread.Milliseconds()}}
	var mu sync.Mutex
	started := make([]time.Duration, n)
	begin := time.Now()
	ev := w.connectAll(context.Background(), func(j int) (func(), error) {
		mu.Lock()
		started[j] = time.Since(begin)
		mu.Unlock()
		return func() {}, nil
	})
	if ev.OK != n {
		t.Fatalf("%d connected, want %d", ev.OK, n)
	}
	for j, d := range started {
		if due := spread * time.Duration(j) / n; d < due {
			t.Errorf("login %d started after %v, before its time %v", j, d, due)
		}
	}
}
