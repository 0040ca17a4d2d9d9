package chat

import "time"

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// A zero rate allows everything. Used by one goroutine, so it has no lock.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) bucket {
	b := float64(max(burst, 1))
	return bucket{rate: rate, burst: b, tokens: b}
}

// allow takes a token if there is one.
func (b *bucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
