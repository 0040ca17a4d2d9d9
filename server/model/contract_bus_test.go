package model_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// testBus: two subscribers (two nodes) on one storage get what either publishes
// on their channels, in order, and nothing of other channels.
func testBus(t *testing.T, open opener) {
	st := open(t, options{})
	type sub struct {
		mu  sync.Mutex
		got []string
	}
	subs := []*sub{{}, {}}
	channels := [][]string{{"all", "n1"}, {"all", "n2"}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // Subscribe returns once ctx has ended
	}()
	ready := make(chan struct{}, len(subs))
	for i, s := range subs {
		wg.Go(func() {
			first := true
			st.Bus.Subscribe(ctx, channels[i], func() {
				if first {
					first = false
					ready <- struct{}{}
				}
			}, func(channel string, payload []byte) {
				s.mu.Lock()
				s.got = append(s.got, channel+" "+string(payload))
				s.mu.Unlock()
			}, func(err error) { t.Errorf("subscriber %d: %v", i, err) })
		})
	}
	for range subs {
		<-ready
	}
	var want [2][]string
	for i := range 20 {
		ch := []string{"all", "n1", "n2", "other"}[i%4]
		payload := fmt.Sprint(i)
		if err := st.Bus.Publish(context.Background(), ch, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		for j := range subs {
			if slices.Contains(channels[j], ch) {
				want[j] = append(want[j], ch+" "+payload)
			}
		}
	}
	for j, s := range subs {
		waitUntil(t, fmt.Sprintf("subscriber %d to get %d messages", j, len(want[j])), func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.got) >= len(want[j])
		})
		s.mu.Lock()
		if !slices.Equal(s.got, want[j]) {
			t.Errorf("subscriber %d on %v: got %v, want %v", j, channels[j], s.got, want[j])
		}
		s.mu.Unlock()
	}
}
