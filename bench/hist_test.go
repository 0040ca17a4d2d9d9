package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestHistQuantilesWithinBucketError(t *testing.T) {
	h := NewHist()
	for us := 1; us <= 100000; us++ { // 1 µs .. 100 ms, uniform
		h.Record(time.Duration(us) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.001, 100 * time.Microsecond},
		{1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if rel := math.Abs(float64(got-tt.want)) / float64(tt.want); rel > 0.035 {
			t.Errorf("Quantile(%v): got %v, want %v within 3.5%%", tt.q, got, tt.want)
		}
	}
}

func TestHistMergeThroughJSON(t *testing.T) {
	a, b := NewHist(), NewHist()
	for i := range 1000 {
		a.Record(time.Duration(i) * time.Millisecond)
		b.Record(time.Duration(i+1000) * time.Millisecond)
	}
	data, err := json.Marshal(b.Pack())
	if err != nil {
		t.Fatal(err)
	}
	var received Hist
	if err := json.Unmarshal(data, &received); err != nil {
		t.Fatal(err)
	}
	a.Merge(&received)
	if a.N != 2000 {
		t.Fatalf("got %d samples after the merge, want 2000", a.N)
	}
	if got, want := a.Quantile(0.5), 1000*time.Millisecond; math.Abs(float64(got-want))/float64(want) > 0.035 {
		t.Errorf("median of the merge: got %v, want %v within 3.5%%", got, want)
	}
	if got, want := a.Quantile(1), 1999*time.Millisecond; got != want {
		t.Errorf("max of the merge: got %v, want %v", got, want)
	}
}
