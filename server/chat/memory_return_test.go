package chat_test

import (
	"strings"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/chattest"
)

// memoryOf returns the resident set and the Go heap in use of the server process
// whose metrics are on addr.
func memoryOf(t testing.TB, addr string) (rss, heap float64) {
	t.Helper()
	page := httpGet(t, "http://"+addr+"/metrics")
	return metricIn(t, page, "process_resident_memory_bytes"), metricIn(t, page, "go_memstats_heap_inuse_bytes")
}

// TestMemoryReturnsAfterLoad: once every client of a burst is gone, the node's
// resident set and Go heap come back near their level before the clients came
// within a minute,
// without anyone asking for a collection: what only the burst needed (pooled
// buffers, write queues, chunks) is given back.
func TestMemoryReturnsAfterLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of waiting")
	}
	const sessions, senders, messages = 1500, 40, 3
	r := needRedis(t)
	p, maddr := startProcessWithMetrics(t, r, "-presence-limit", "-1")
	rss0, heap0 := memoryOf(t, maddr)
	t.Logf("before the clients: rss %.1f MB, heap %.1f MB", rss0/1e6, heap0/1e6)
	conns := make([]*rawConn, sessions)
	parallel(t, sessions, func(j int) (err error) {
		if conns[j], err = tryDialRaw(t, p.Addr); err != nil {
			return err
		}
		return conns[j].tryLogin(j + 1)
	})
	rss, heap := memoryOf(t, maddr)
	t.Logf("%d sessions: rss %.1f MB, heap %.1f MB", sessions, rss/1e6, heap/1e6)
	// The burst: group messages of 4 KiB to every session, which do not read.
	big := strings.Repeat("x", message.MaxContentLen)
	parallel(t, senders, func(j int) error {
		for range messages {
			if err := conns[j].write(message.SmsMesType, message.SmsMes{Content: big}); err != nil {
				return err
			}
		}
		return nil
	})
	// Everyone else sends a private message of 4 KiB to the next session.
	parallel(t, sessions, func(j int) error {
		return conns[j].write(message.PrivateMesType, message.PrivateMes{ToUserID: (j+1)%sessions + 1, Content: big, ClientMsgID: "m"})
	})
	var peakRSS, peakHeap float64
	poll(3*time.Second, func() bool { // the burst's peak, as it is written
		rss, heap := memoryOf(t, maddr)
		peakRSS, peakHeap = max(peakRSS, rss), max(peakHeap, heap)
		return false
	})
	t.Logf("burst: rss %.1f MB, heap %.1f MB", peakRSS/1e6, peakHeap/1e6)
	for _, c := range conns {
		c.conn.Close()
	}
	gone := time.Now()
	checkFor(t, waitTimeout, "the sessions to end", func() bool {
		return metricIn(t, httpGet(t, "http://"+maddr+"/metrics"), "chat_connections") == 0
	})
	ok := poll(time.Minute, func() bool {
		rss, heap = memoryOf(t, maddr)
		time.Sleep(time.Second) // one scrape a second: the scrapes allocate too
		// The race detector's shadow memory is never given back: its resident
		// set says nothing of the node's.
		return (chattest.RaceEnabled || rss < rss0*1.5+6e6) && heap < heap0*2+2e6
	})
	t.Logf("%v after the clients left: rss %.1f MB, heap %.1f MB", time.Since(gone).Round(time.Second), rss/1e6, heap/1e6)
	if !ok {
		t.Errorf("a minute after the clients left: rss %.1f MB and heap %.1f MB, want near %.1f MB and %.1f MB (before the clients)",
			rss/1e6, heap/1e6, rss0/1e6, heap0/1e6)
	}
}
