package chat

import (
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"time"
)

// Memory after a burst. The collector is paced by allocation: after a burst its
// heap goal is a multiple of the burst's heap, and a node whose clients left
// allocates next to nothing, so it would keep the burst's garbage, the pooled
// buffers and chunks only the burst needed (sync.Pools empty over two
// collections) and the pages behind them for minutes, until the runtime's forced
// collection and the slow background scavenger. So when a node goes quiet after
// allocating a lot, it collects twice (emptying the pools) and gives the freed
// pages back to the OS, once per burst: a busy node never does, its collector
// runs anyway, and a quiet one does not again until it has allocated as much.

const (
	// trimCheck is how often the node looks at what it allocated.
	trimCheck = 5 * time.Second
	// trimQuiet is the most a node allocates in one trimCheck and still counts as
	// quiet (its timers, heartbeats and metrics scrapes allocate a little).
	trimQuiet = 4 << 20
	// trimAfter is what a node must have allocated since the last trim for the
	// next one to be worth a collection.
	trimAfter = 64 << 20
)

// trimLoop gives memory back once the node goes quiet after a burst.
func (s *Server) trimLoop() {
	sample := []rm.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocs := func() uint64 {
		rm.Read(sample)
		if sample[0].Value.Kind() != rm.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	last := allocs()
	trimmed := last
	t := time.NewTicker(trimCheck)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := allocs()
		if now-last < trimQuiet && now-trimmed >= trimAfter {
			start := time.Now()
			runtime.GC() // the pools' current items move to their victim caches
			debug.FreeOSMemory()
			s.log.Debug("memory given back after a burst", "took", time.Since(start))
			now = allocs()
			trimmed = now
		}
		last = now
	}
}
