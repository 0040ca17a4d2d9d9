package main

import (
	"math/bits"
	"strconv"
	"time"
)

// Hist is a small HDR-style latency histogram of microseconds: values below 64
// have a bucket each, larger ones 32 buckets per power of two (about 3 % error).
// It merges by adding counts, so workers send theirs to the parent as JSON.
type Hist struct {
	Counts map[string]uint64 `json:"c"` // bucket index -> count (sparse, JSON-friendly)
	N      uint64            `json:"n"`
	Max    uint64            `json:"max"`
	c      []uint64
}

const histBuckets = 64 + 58*32

func NewHist() *Hist { return &Hist{c: make([]uint64, histBuckets)} }

func bucketOf(v uint64) int {
	shift := bits.Len64(v) - 6
	if shift <= 0 {
		return int(v)
	}
	return 64 + (shift-1)*32 + int(v>>uint(shift)) - 32
}

// bucketValue is the middle of the bucket's range.
func bucketValue(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	shift := (i-64)/32 + 1
	m := uint64((i-64)%32 + 32)
	return m<<uint(shift) + (uint64(1)<<uint(shift))/2
}

func (h *Hist) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	v := uint64(us)
	h.c[bucketOf(v)]++
	h.N++
	if v > h.Max {
		h.Max = v
	}
}

// Pack fills Counts from the dense array before the histogram is sent.
func (h *Hist) Pack() *Hist {
	h.Counts = map[string]uint64{}
	for i, n := range h.c {
		if n > 0 {
			h.Counts[strconv.Itoa(i)] = n
		}
	}
	return h
}

// Merge adds a received (packed) histogram into h.
func (h *Hist) Merge(o *Hist) {
	if o == nil {
		return
	}
	for k, n := range o.Counts {
		i, err := strconv.Atoi(k)
		if err == nil && i >= 0 && i < len(h.c) {
			h.c[i] += n
		}
	}
	if o.Counts == nil {
		for i, n := range o.c {
			h.c[i] += n
		}
	}
	h.N += o.N
	if o.Max > h.Max {
		h.Max = o.Max
	}
}

// Quantile returns the q-quantile (0..1).
func (h *Hist) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(q*float64(h.N) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, n := range h.c {
		seen += n
		if seen >= rank {
			v := bucketValue(i)
			if v > h.Max {
				v = h.Max
			}
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(h.Max) * time.Microsecond
}
