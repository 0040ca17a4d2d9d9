package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"chat/internal/chattest"
)

// fakeBus records what an outbox publishes; publish blocks while gate is held,
// and fails while failing is set.
type fakeBus struct {
	mu        sync.Mutex
	gate      sync.Mutex
	failing   bool
	failOnly  string // if set, only this channel fails while failing
	entered   int    // publish calls, counted before they wait at gate
	attempts  int
	published []publication
}

func (b *fakeBus) publish(_ context.Context, channel string, payload []byte) error {
	b.mu.Lock()
	b.entered++
	b.mu.Unlock()
	b.gate.Lock()
	defer b.gate.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts++
	if b.failing && (b.failOnly == "" || b.failOnly == channel) {
		return errors.New("redis away")
	}
	b.published = append(b.published, publication{channel: channel, payload: slices.Clone(payload)})
	return nil
}

// notices returns what reached channel, batches opened, in order.
func (b *fakeBus) notices(t *testing.T, channel string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, p := range b.published {
		if p.channel != channel {
			continue
		}
		kind, body, _ := splitNotice(p.payload)
		if kind != noticeBatch {
			out = append(out, string(p.payload))
			continue
		}
		n, ok := parseBatch(body)
		if !ok {
			t.Fatalf("%q: not a batch", p.payload)
		}
		for _, x := range n.notices {
			out = append(out, string(x))
		}
	}
	return out
}

// recover makes publish succeed again.
func (b *fakeBus) recover() {
	b.mu.Lock()
	b.failing = false
	b.mu.Unlock()
}

// wantNotices waits until channel got as many notices as want, then checks
// they are want, in order.
func (b *fakeBus) wantNotices(t *testing.T, channel string, want []string) {
	t.Helper()
	chattest.CheckFor(t, 5*time.Second, channel+"'s notices", func() bool { return len(b.notices(t, channel)) >= len(want) })
	if got := b.notices(t, channel); !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", channel, got, want)
	}
}

func (b *fakeBus) publications() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.published)
}

func startOutbox(t *testing.T, b *fakeBus) (*outbox, func()) {
	t.Helper()
	o := newOutbox(b.publish, func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		o.loop(done)
		close(ended)
	}()
	stop := func() {
		close(done)
		<-ended
	}
	return o, stop
}

func kick(i int) []byte { return kickNotice{user: i, sid: "s"}.append(nil) }

func kicks(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, string(kick(i)))
	}
	return out
}

// TestOutboxBatchesWhatQueuesMeanwhile: the notices queued while a round is in
// Redis go in the next round, one publication per channel, in order.
func TestOutboxBatchesWhatQueuesMeanwhile(t *testing.T) {
	b := &fakeBus{}
	o, stop := startOutbox(t, b)
	defer stop()
	b.gate.Lock() // the first round waits in "Redis"
	o.send("node:a", kick(0))
	chattest.CheckFor(t, 2*time.Second, "the first round to wait in Redis", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.entered == 1 })
	for i := 1; i < 100; i++ {
		o.send("node:a", kick(i))
		o.send("node:b", kick(1000+i))
	}
	b.gate.Unlock()
	b.wantNotices(t, "node:a", kicks(0, 100))
	b.wantNotices(t, "node:b", kicks(1001, 1100))
	// The first notice may have gone alone; the 198 queued behind it went as
	// one publication per channel.
	if got := b.publications(); got > 4 {
		t.Errorf("publications: got %d, want at most 4", got)
	}
}

// TestOutboxRetriesInOrder: a round Redis refuses is tried again, its notices
// ahead of those queued since, and nothing is lost or repeated.
func TestOutboxRetriesInOrder(t *testing.T) {
	b := &fakeBus{failing: true}
	o, stop := startOutbox(t, b)
	defer stop()
	for i := range 10 {
		o.send("node:a", kick(i))
	}
	chattest.CheckFor(t, 2*time.Second, "a second try", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.attempts >= 2 })
	for i := 10; i < 20; i++ {
		o.send("node:a", kick(i))
	}
	b.recover()
	b.wantNotices(t, "node:a", kicks(0, 20))
}

// TestOutboxChannelsFailApart: a channel whose publication fails (its Redis
// Cluster primary failing over) holds up no other channel, and its own notices
// go later, in order.
func TestOutboxChannelsFailApart(t *testing.T) {
	b := &fakeBus{failing: true, failOnly: "node:a"}
	o, stop := startOutbox(t, b)
	defer stop()
	for i := range 10 {
		o.send("node:a", kick(i))
		o.send("node:b", kick(100+i))
	}
	chattest.CheckFor(t, 2*time.Second, "node:b's notices", func() bool { return len(b.notices(t, "node:b")) == 10 })
	if got := b.notices(t, "node:a"); len(got) != 0 {
		t.Errorf("node:a got %q while failing", got)
	}
	for i := 10; i < 20; i++ {
		o.send("node:a", kick(i))
		o.send("node:b", kick(100+i))
	}
	chattest.CheckFor(t, 2*time.Second, "node:b's later notices", func() bool { return len(b.notices(t, "node:b")) == 20 })
	b.recover()
	b.wantNotices(t, "node:a", kicks(0, 20))
	b.wantNotices(t, "node:b", kicks(100, 120))
}

// TestOutboxFlushesAtShutdown: what is queued when the node stops is published.
func TestOutboxFlushesAtShutdown(t *testing.T) {
	b := &fakeBus{}
	o, stop := startOutbox(t, b)
	b.gate.Lock()
	for i := range 50 {
		o.send(fmt.Sprintf("node:%d", i%2), kick(i))
	}
	go b.gate.Unlock() // before or after stop begins: either order must work
	stop()
	if got := len(b.notices(t, "node:0")) + len(b.notices(t, "node:1")); got != 50 {
		t.Errorf("published %d notices, want 50", got)
	}
}

// TestOutboxBounded: while Redis is away, past maxOutboxItems a notice is
// dropped and counted, not kept.
func TestOutboxBounded(t *testing.T) {
	dropped := 0
	o := newOutbox(func(context.Context, string, []byte) error { return nil },
		func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
		slog.New(slog.NewTextHandler(io.Discard, nil)), func() { dropped++ })
	n := []byte("k 1 s")
	for range maxOutboxItems + 3 {
		o.send("node:a", n)
	}
	if dropped != 3 {
		t.Errorf("dropped: got %d, want 3", dropped)
	}
	pubs := o.take()
	total := 0
	for _, p := range pubs {
		total += p.count
		if len(p.payload) > maxBatchBytes+16*p.count {
			t.Errorf("a publication of %d bytes, want at most about %d", len(p.payload), maxBatchBytes)
		}
	}
	if total != maxOutboxItems {
		t.Errorf("taken: got %d notices, want %d", total, maxOutboxItems)
	}
}
