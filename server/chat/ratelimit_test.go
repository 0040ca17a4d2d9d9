package chat

import (
	"testing"
	"time"
)

func TestBucketAllow(t *testing.T) {
	type try struct {
		at   time.Duration // since the first try
		want bool
	}
	tests := []struct {
		name  string
		rate  float64
		burst int
		tries []try
	}{
		{"rate 0 allows everything", 0, 1, []try{{0, true}, {0, true}, {0, true}, {0, true}}},
		{"burst 3 at once, then none", 2, 3, []try{{0, true}, {0, true}, {0, true}, {0, false}, {0, false}}},
		{"a token comes back after 1/rate", 2, 1, []try{{0, true}, {0, false}, {499 * time.Millisecond, false}, {500 * time.Millisecond, true}, {500 * time.Millisecond, false}}},
		{"half a token is not enough", 1, 1, []try{{0, true}, {500 * time.Millisecond, false}, {999 * time.Millisecond, false}, {time.Second, true}}},
		{"saved tokens stop at burst", 10, 2, []try{{0, true}, {0, true}, {time.Hour, true}, {time.Hour, true}, {time.Hour, false}}},
		{"burst 0 counts as 1", 1, 0, []try{{0, true}, {0, false}, {time.Second, true}}},
		{"refused tries cost nothing", 1, 1, []try{{0, true}, {100 * time.Millisecond, false}, {200 * time.Millisecond, false}, {time.Second, true}}},
		{"steady rate is kept", 4, 1, []try{{0, true}, {250 * time.Millisecond, true}, {500 * time.Millisecond, true}, {600 * time.Millisecond, false}, {750 * time.Millisecond, true}}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(tt.rate, tt.burst)
			for i, try := range tt.tries {
				if got := b.allow(start.Add(try.at)); got != try.want {
					t.Fatalf("try %d at +%v: got %v, want %v", i, try.at, got, try.want)
				}
			}
		})
	}
}
