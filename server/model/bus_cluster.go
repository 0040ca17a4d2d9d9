package model

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/rediscluster"
)

// On a Redis Cluster, what is addressed to one node goes by sharded pub/sub
// (SPUBLISH, SSUBSCRIBE): only the primary of the node channel's slot, and its
// replica, carry it. Broadcasts stay on classic PUBLISH, which every node of the
// cluster relays to its subscribers: the node subscribes to them on the primary
// of their channel's slot, any node would do. Each subscription has its own
// connection and comes back by itself, to the node that serves its slot then,
// after a failover or a slot moved (the primary then ends the sharded
// subscription with an sunsubscribe).

// errShardMoved is the end of a sharded subscription by its primary: the
// channel's slot moved, or the primary became a replica.
var errShardMoved = errors.New("sharded subscription ended by the server: its slot moved")

// publishCommand is the command that publishes on channel.
func (b *RedisBus) publishCommand(channel string) string {
	if b.cluster != nil && channel != BroadcastChannel {
		return "SPUBLISH"
	}
	return "PUBLISH"
}

// subscribeCluster is Subscribe on a cluster: one subscription per channel.
// subscribed is called once all of them are first in place, then each time one
// comes back; handle is never called by two of them at once.
func (b *RedisBus) subscribeCluster(ctx context.Context, cl *rediscluster.Cluster, channels []string, subscribed func(), handle func(string, []byte), onError func(error)) {
	var mu sync.Mutex
	firstLeft := len(channels)
	locked := func(f func()) {
		mu.Lock()
		defer mu.Unlock()
		f()
	}
	var wg sync.WaitGroup
	for _, ch := range channels {
		cmd := "SSUBSCRIBE"
		if ch == BroadcastChannel {
			cmd = "SUBSCRIBE"
		}
		wg.Go(func() {
			first := true
			on := func() {
				locked(func() {
					if first {
						first = false
						if firstLeft--; firstLeft > 0 {
							return
						}
					}
					subscribed()
				})
			}
			deliver := func(channel string, data []byte) { locked(func() { handle(channel, data) }) }
			// Shorter than on one Redis: a failover is over in about 2 s, and
			// every wake lost meanwhile waits for the subscription to come back.
			backoff := 50 * time.Millisecond
			for ctx.Err() == nil {
				addr, err := cl.Addr(ctx, ch)
				if err == nil {
					err = b.listenNode(ctx, addr, cmd, ch, on, deliver)
				}
				if ctx.Err() != nil {
					return
				}
				locked(func() { onError(fmt.Errorf("%s %s: %w", cmd, ch, err)) })
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 500*time.Millisecond)
				refresh, cancel := context.WithTimeout(ctx, ioTimeout)
				_ = cl.Refresh(refresh) // a map not read now is read by the next Addr
				cancel()
			}
		})
	}
	wg.Wait()
}

// listenNode subscribes to channel on the node at addr with cmd (SUBSCRIBE or
// SSUBSCRIBE) and handles its messages until ctx ends or the connection fails.
// redigo's PubSubConn knows no sharded messages: the replies are read here.
func (b *RedisBus) listenNode(ctx context.Context, addr, cmd, channel string, subscribed func(), handle func(string, []byte)) error {
	c, err := dial(ctx, PoolConfig{Addr: addr, Password: b.cfg.Password})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var send sync.Mutex // Send and Flush from this goroutine and the pinger's
	do := func(args ...any) error {
		send.Lock()
		defer send.Unlock()
		if err := c.Send(args[0].(string), args[1:]...); err != nil {
			return err
		}
		return c.Flush()
	}
	if err := do(cmd, channel); err != nil {
		return err
	}
	pingCtx, endPings := context.WithCancel(ctx)
	var pinger sync.WaitGroup
	defer pinger.Wait()
	defer endPings()
	for {
		reply, err := redis.Values(c.ReceiveWithTimeout(healthInterval + ioTimeout))
		if err != nil {
			return err
		}
		var kind, ch string
		if len(reply) < 2 {
			return fmt.Errorf("unexpected pub/sub reply %v", reply)
		}
		kind, _ = redis.String(reply[0], nil)
		ch, _ = redis.String(reply[1], nil)
		switch kind {
		case "message", "smessage":
			if len(reply) == 3 {
				data, _ := redis.Bytes(reply[2], nil)
				handle(ch, data)
			}
		case "subscribe", "ssubscribe":
			subscribed()
			pinger.Go(func() { pingEvery(pingCtx, func() error { return do("PING") }) })
		case "sunsubscribe", "unsubscribe":
			return errShardMoved
		case "pong":
		default:
			return fmt.Errorf("unexpected pub/sub reply %q", kind)
		}
	}
}
