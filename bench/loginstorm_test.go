package main

import (
	"slices"
	"testing"
	"time"
)

func TestMsgPhaseBySecondSent(t *testing.T) {
	start := time.Unix(1000, 0)
	ph := &msgPhase{hist: NewHist(), start: start}
	// Sent in second 0 and second 2, arriving 10 ms and 300 ms later.
	ph.record(start.Add(500*time.Millisecond), start.Add(510*time.Millisecond))
	ph.record(start.Add(2500*time.Millisecond), start.Add(2800*time.Millisecond))
	if ph.got != 2 || len(ph.perSecond) != 3 {
		t.Fatalf("got %d receipts in %d seconds, want 2 in 3", ph.got, len(ph.perSecond))
	}
	for i, want := range []time.Duration{10 * time.Millisecond, 0, 300 * time.Millisecond} {
		got := ph.perSecond[i].Quantile(.99)
		if d := got - want; d < -want/20 || d > want/20 {
			t.Errorf("second %d: p99 %v, want %v", i, got, want)
		}
	}
}

func TestRelaxLoginStormLimits(t *testing.T) {
	tests := []struct {
		args, want []string
	}{
		{nil, []string{"-login-failures-per-address", "0"}},
		{[]string{"-password-workers", "1"}, []string{"-password-workers", "1", "-login-failures-per-address", "0"}},
		{[]string{"-login-failures-per-address", "50"}, []string{"-login-failures-per-address", "50"}},
		{[]string{"-login-failures-per-address=50"}, []string{"-login-failures-per-address=50"}},
	}
	for _, tt := range tests {
		o := &opts{serverArgs: tt.args}
		relaxLoginStormLimits(o)
		if !slices.Equal(o.serverArgs, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.args, o.serverArgs, tt.want)
		}
	}
}
