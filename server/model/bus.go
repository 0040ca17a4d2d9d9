package model

import (
	"context"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/rediscluster"
)

// RedisBus carries notices between nodes over Redis pub/sub. It only wakes nodes:
// anything that must not be lost is in Redis proper (the inboxes) before it is published.
type RedisBus struct {
	pool    *redis.Pool
	cfg     PoolConfig
	cluster *rediscluster.Cluster // nil on a single Redis (bus_cluster.go)
}

// NewRedisBus publishes through pool and subscribes on connections of its own,
// dialed with cfg. A subscription's connection times nothing for cfg.Observe:
// it only sends and receives (ReceiveWithTimeout), and only Do is timed (netConn).
// Its waits for messages would be no round-trip latency anyway.
func NewRedisBus(pool *redis.Pool, cfg PoolConfig) *RedisBus {
	return &RedisBus{pool: pool, cfg: cfg, cluster: onCluster(pool)}
}

// Publish sends payload on channel.
func (b *RedisBus) Publish(ctx context.Context, channel string, payload []byte) error {
	conn, err := get(ctx, b.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Do(b.publishCommand(channel), channel, payload)
	return err
}

// healthInterval is how often a quiet subscription is pinged, so that a dead
// Redis connection is noticed and replaced.
const healthInterval = 2 * time.Second

// Subscribe listens on channels until ctx ends, calling handle for every message
// (on one goroutine, in order) and subscribed each time a subscription is in place,
// first or after Redis came back: messages published in between were lost, and
// the caller must catch up. It reconnects by itself with a back-off. It returns
// once ctx has ended and every goroutine it started has too.
func (b *RedisBus) Subscribe(ctx context.Context, channels []string, subscribed func(), handle func(channel string, payload []byte), onError func(error)) {
	if b.cluster != nil {
		b.subscribeCluster(ctx, b.cluster, channels, subscribed, handle, onError)
		return
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := b.listen(ctx, channels, subscribed, handle)
		if ctx.Err() != nil {
			return
		}
		onError(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (b *RedisBus) listen(ctx context.Context, channels []string, subscribed func(), handle func(string, []byte)) error {
	c, err := dial(ctx, b.cfg)
	if err != nil {
		return err
	}
	psc := redis.PubSubConn{Conn: c}
	defer psc.Close()
	// Closing the connection ends a receive that waits: ctx's end stops the loop.
	stop := context.AfterFunc(ctx, func() { psc.Close() })
	defer stop()
	args := make([]any, len(channels))
	for i, ch := range channels {
		args[i] = ch
	}
	if err := psc.Subscribe(args...); err != nil {
		return err
	}
	// The pinger ends with the loop, whichever way the loop ends.
	pingCtx, endPings := context.WithCancel(ctx)
	var pinger sync.WaitGroup
	defer pinger.Wait()
	defer endPings()
	pending := len(channels)
	for {
		switch v := psc.ReceiveWithTimeout(healthInterval + ioTimeout).(type) {
		case redis.Message:
			handle(v.Channel, v.Data)
		case redis.Subscription:
			if v.Kind == "subscribe" {
				if pending--; pending == 0 {
					subscribed()
					pinger.Go(func() { pingEvery(pingCtx, func() error { return psc.Ping("") }) })
				}
			}
		case redis.Pong:
		case error:
			return v
		}
	}
}

// pingEvery keeps a quiet subscription checked with ping until ctx ends or a
// ping fails; a failed ping closes nothing itself, the receive timeout does.
func pingEvery(ctx context.Context, ping func() error) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ping() != nil {
				return
			}
		}
	}
}
