package model

import (
	"context"
	"slices"
	"sync"
)

// MemoryBus is RedisBus on a Memory: every node subscribed on the same Memory
// gets what any of them publishes, in the order published, as over Redis pub/sub.
type MemoryBus struct {
	hub *memHub
}

// NewMemoryBus returns the bus of m.
func NewMemoryBus(m *Memory) *MemoryBus { return &MemoryBus{hub: &m.bus} }

// memHub is the channels of a Memory and their subscriptions.
type memHub struct {
	mu   sync.Mutex
	subs map[string][]*memSub
}

// memSub is one subscription: what was published to it and not yet handled.
type memSub struct {
	mu     sync.Mutex
	queue  []memMsg
	signal chan struct{} // holds a token while queue may be non-empty
}

type memMsg struct {
	channel string
	payload []byte
}

// Publish sends payload on channel to every subscription at this moment; it
// never waits for a subscriber.
func (b *MemoryBus) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := memMsg{channel, slices.Clone(payload)}
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, s := range b.hub.subs[channel] {
		s.mu.Lock()
		s.queue = append(s.queue, msg)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe listens on channels until ctx ends, calling subscribed once the
// subscription is in place and handle for every message, on this goroutine, in
// order. A memory subscription never fails: onError is never called.
func (b *MemoryBus) Subscribe(ctx context.Context, channels []string, subscribed func(), handle func(channel string, payload []byte), onError func(error)) {
	s := &memSub{signal: make(chan struct{}, 1)}
	b.hub.mu.Lock()
	for _, ch := range channels {
		b.hub.subs[ch] = append(b.hub.subs[ch], s)
	}
	b.hub.mu.Unlock()
	defer func() {
		b.hub.mu.Lock()
		for _, ch := range channels {
			b.hub.subs[ch] = slices.DeleteFunc(b.hub.subs[ch], func(x *memSub) bool { return x == s })
		}
		b.hub.mu.Unlock()
	}()
	subscribed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.signal:
		}
		s.mu.Lock()
		queue := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, msg := range queue {
			if ctx.Err() != nil {
				return
			}
			handle(msg.channel, msg.payload)
		}
	}
}
