package model

import (
	"context"
	"sync"
	"testing"
	"time"

	"chat/internal/rediscluster"
)

// A node's channel and the broadcast channel reach the subscriber; on a cluster
// the node channel is sharded, and its subscription follows the channel's slot
// to the primary it moves to.
func TestBusBothLayouts(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		bus := NewRedisBus(r.pool, PoolConfig{Addr: r.addr()})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		got := make(chan string, 16)
		subs := make(chan struct{}, 16)
		node := NodeChannel("n1")
		wg.Go(func() {
			bus.Subscribe(ctx, []string{node, BroadcastChannel},
				func() { subs <- struct{}{} },
				func(ch string, data []byte) { got <- ch + " " + string(data) },
				func(error) {})
		})
		defer func() { cancel(); wg.Wait() }()
		expect := func(what string) {
			t.Helper()
			select {
			case <-subs:
			case <-time.After(ioTimeout):
				t.Fatalf("%s: no subscription within %v", what, ioTimeout)
			}
			for _, ch := range []string{node, BroadcastChannel} {
				if err := bus.Publish(ctx, ch, []byte(what)); err != nil {
					t.Fatal(err)
				}
				select {
				case m := <-got:
					if m != ch+" "+what {
						t.Errorf("%s: got %q, want %q", what, m, ch+" "+what)
					}
				case <-time.After(ioTimeout):
					t.Fatalf("%s: nothing received on %s", what, ch)
				}
			}
		}
		expect("first")
		if r.cluster == nil {
			return
		}
		slot := rediscluster.Slot(node)
		src := r.cluster.ServerOfSlot(t, slot)
		var dst = r.cluster.Primaries(t)[0]
		if dst == src {
			dst = r.cluster.Primaries(t)[1]
		}
		id := dst.NodeID(t)
		for _, p := range r.cluster.Primaries(t) {
			p.Do(t, "CLUSTER", "SETSLOT", slot, "NODE", id)
		}
		if err := r.cluster.WaitHealthy(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		expect("after the slot moved")
	})
}
