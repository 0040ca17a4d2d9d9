package model

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// Senders that resend a message with its clientMsgId until it is answered keep
// every message through a primary's death, with -redis-wait-replicas 1: none
// answered is lost, none is reordered, and none is kept twice. The killed node
// comes back as a replica, so that the shard that lost its replica takes writes
// again.
func TestFailoverWithResends(t *testing.T) {
	skipUnlessCluster(t)
	rc := redistest.StartCluster(t)
	pool, cl, err := NewClusterPool(ClusterConfig{Seeds: rc.Seeds(), WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r := testRedis{name: "cluster", pool: pool, cluster: rc}
	const senders = 10
	ids := make([]int, 2*senders)
	for i := range ids {
		ids[i] = i + 1
	}
	r.register(t, ids...)
	inbox := NewRedisInbox(pool, time.Hour, Retention{})

	ctx := context.Background()
	stop := time.Now().Add(8 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, resends, gaveUp := make([]int, senders), 0, 0
	var longest time.Duration // the longest a message took to be answered 200
	for s := range senders {
		wg.Go(func() {
			from, to := s+1, senders+s+1
			for seq := 0; time.Now().Before(stop); seq++ {
				content := fmt.Sprintf("%d-%d", from, seq)
				start := time.Now()
				for {
					sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := inbox.SendOne(sctx, from, "u", to, content, content, SendLimits{})
					cancel()
					if err == nil {
						break
					}
					if time.Since(start) > 20*time.Second {
						mu.Lock()
						gaveUp++
						mu.Unlock()
						return
					}
					mu.Lock()
					resends++
					mu.Unlock()
					time.Sleep(50 * time.Millisecond) // a client's pause before it resends
				}
				mu.Lock()
				sent[s] = seq + 1
				longest = max(longest, time.Since(start))
				mu.Unlock()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond) // messages flow before the kill
	victim := rc.Primaries(t)[0]
	victim.Kill(t)
	if err := rc.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	victim.Restart(t) // back as the replica of the primary that took its place
	wg.Wait()
	if err := rc.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	lost, dup, reordered, total := 0, 0, 0, 0
	for s := range senders {
		from, to := s+1, senders+s+1
		msgs, err := inbox.Read(ctx, to, "", 100000)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]int{}
		last := -1
		for _, m := range msgs {
			f, q, _ := strings.Cut(m.Content, "-")
			seq, _ := strconv.Atoi(q)
			if f != strconv.Itoa(from) {
				t.Errorf("%d's inbox holds %q from another sender", to, m.Content)
			}
			if seen[seq]++; seen[seq] > 1 {
				dup++
				continue
			}
			if seq < last {
				reordered++
			}
			last = seq
		}
		for seq := range sent[s] {
			if seen[seq] == 0 {
				lost++
			}
		}
		total += sent[s]
	}
	t.Logf("%d messages answered 200 (%d resends, %d given up after 20 s, the longest answered after %v): %d lost, %d kept twice, %d out of order",
		total, resends, gaveUp, longest.Round(time.Millisecond), lost, dup, reordered)
	if total == 0 || lost != 0 || dup != 0 || reordered != 0 || gaveUp != 0 {
		t.Errorf("want messages answered, none lost, kept twice or out of order, none given up")
	}
}

// A send caught by a primary's death, with -redis-wait-replicas 1, is answered
// as soon as the replica has taken over: the new primary has no replica to
// acknowledge it, and says so, rather than the send waiting out a WAIT for
// each of its round trips there after the failover, and its request's
// context with them.
func TestSendCaughtByFailoverAnsweredOncePromoted(t *testing.T) {
	skipUnlessCluster(t)
	rc := redistest.StartCluster(t)
	const waitTimeout = time.Second
	pool, cl, err := NewClusterPool(ClusterConfig{Seeds: rc.Seeds(), WaitReplicas: 1, WaitTimeout: waitTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	victim := rc.Primaries(t)[0]
	to := 2
	for rc.PrimaryOf(t, inboxKey(to)) != victim {
		to++
	}
	r := testRedis{name: "cluster", pool: pool, cluster: rc}
	r.register(t, 1, to)
	inbox := NewRedisInbox(pool, time.Hour, Retention{})
	ctx := context.Background()
	if _, err := inbox.SendOne(ctx, 1, "u1", to, "before", "c1", SendLimits{}); err != nil {
		t.Fatal(err)
	}
	replica := rc.ReplicaOf(t, victim)
	victim.Kill(t)
	type answer struct {
		at  time.Time
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for {
			// Resent, as a client does, while it only met the connections
			// that broke with the primary.
			_, err := inbox.SendOne(sctx, 1, "u1", to, "caught", "c2", SendLimits{})
			var netErr net.Error
			if !errors.Is(err, io.EOF) && !errors.As(err, &netErr) {
				answered <- answer{time.Now(), err}
				return
			}
		}
	}()
	chattest.CheckFor(t, 30*time.Second, replica.Addr+"'s promotion", func() bool {
		role, _ := redis.Values(replica.Do(t, "ROLE"), nil)
		r := ""
		if len(role) > 0 {
			r, _ = redis.String(role[0], nil)
		}
		return r == "master"
	})
	promoted := time.Now()
	a := <-answered
	late := a.at.Sub(promoted)
	t.Logf("answered %v after the promotion: %v", late.Round(time.Millisecond), a.err)
	if late > waitTimeout {
		t.Errorf("send caught by the failover: got %v, answered %v after the promotion, want within %v", a.err, late.Round(time.Millisecond), waitTimeout)
	}
}
