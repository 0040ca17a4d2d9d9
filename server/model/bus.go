package model

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisBus carries notices between nodes over Redis pub/sub. It only wakes nodes:
// anything that must not be lost is in Redis proper (the inboxes) before it is published.
type RedisBus struct {
	pool *redis.Pool
	cfg  PoolConfig
}

// NewRedisBus publishes through pool and subscribes on connections of its own.
func NewRedisBus(pool *redis.Pool, cfg PoolConfig) *RedisBus {
	cfg.Observe = nil // a subscription waits by design: its reads are no latency to observe
	return &RedisBus{pool: pool, cfg: cfg}
}

// Publish sends payload on channel.
func (b *RedisBus) Publish(ctx context.Context, channel string, payload []byte) error {
	conn, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Do("PUBLISH", channel, payload)
	return err
}

// healthInterval is how often a quiet subscription is pinged, so that a dead
// Redis connection is noticed and replaced.
const healthInterval = 2 * time.Second

// Subscribe listens on channels until ctx ends, calling handle for every message
// (on one goroutine, in order) and subscribed each time a subscription is in place,
// first or after Redis came back: messages published in between were lost, and
// the caller must catch up. It reconnects by itself with a back-off.
func (b *RedisBus) Subscribe(ctx context.Context, channels []string, subscribed func(), handle func(channel string, payload []byte), onError func(error)) {
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
	c, err := Dial(b.cfg)
	if err != nil {
		return err
	}
	psc := redis.PubSubConn{Conn: c}
	defer psc.Close()
	stop := context.AfterFunc(ctx, func() { psc.Close() })
	defer stop()
	args := make([]any, len(channels))
	for i, ch := range channels {
		args[i] = ch
	}
	if err := psc.Subscribe(args...); err != nil {
		return err
	}
	pending := len(channels)
	for {
		switch v := psc.ReceiveWithTimeout(healthInterval + ioTimeout).(type) {
		case redis.Message:
			handle(v.Channel, v.Data)
		case redis.Subscription:
			if v.Kind == "subscribe" {
				if pending--; pending == 0 {
					subscribed()
					go b.ping(ctx, &psc)
				}
			}
		case redis.Pong:
		case error:
			return v
		}
	}
}

// ping keeps a quiet subscription checked; a failed ping closes nothing itself,
// the receive timeout does.
func (b *RedisBus) ping(ctx context.Context, psc *redis.PubSubConn) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if psc.Ping("") != nil {
				return
			}
		}
	}
}
