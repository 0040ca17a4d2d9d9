package model

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// PoolConfig says how to reach Redis.
type PoolConfig struct {
	Addr     string
	Password string
	DB       int
	// MaxActive bounds the connections the pool opens: every connection is a file,
	// and a node's file budget belongs to its clients.
	MaxActive int
	// Observe, if set, is told the duration and error of every round trip.
	Observe func(time.Duration, error)
}

// Timeouts of one Redis connection: short enough that a request fails with 505
// quickly while Redis is unreachable, long enough for a large pipelined reply.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 5 * time.Second
)

// errAborted is the error of a connection whose round trip was cut short because
// its context ended.
var errAborted = errors.New("redis connection closed: the request's context ended")

// dial opens one connection to Redis with cfg's address, password and database.
// The dial, the AUTH and the SELECT end when ctx does.
func dial(ctx context.Context, cfg PoolConfig) (*netConn, error) {
	var nc net.Conn
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 5 * time.Minute}
	c, err := redis.DialContext(ctx, "tcp", cfg.Addr,
		redis.DialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			var err error
			nc, err = d.DialContext(ctx, network, addr)
			return nc, err
		}),
		redis.DialReadTimeout(ioTimeout),
		redis.DialWriteTimeout(ioTimeout),
		redis.DialPassword(cfg.Password),
		redis.DialDatabase(cfg.DB),
	)
	if err != nil {
		return nil, err
	}
	return &netConn{Conn: c, nc: nc, observe: cfg.Observe}, nil
}

// netConn is one Redis connection as the pool hands it out. Its round trips end
// when their context does (redis.DoContext, redis.ReceiveContext), without a
// goroutine per call: the network connection is closed under a blocked read, and
// the connection is then dropped from the pool. It times every Do, a command or a
// pipeline's Do(""), for PoolConfig.Observe. The timeouts of redis.ConnWithTimeout
// (a subscription's receive) go to redigo's connection as they are, unobserved.
type netConn struct {
	redis.Conn // redigo's connection on nc
	nc         net.Conn
	observe    func(time.Duration, error)
	aborted    atomic.Bool
}

var (
	_ redis.ConnWithContext = (*netConn)(nil)
	_ redis.ConnWithTimeout = (*netConn)(nil)
)

func (c *netConn) Do(cmd string, args ...any) (any, error) {
	return c.DoContext(context.Background(), cmd, args...)
}

func (c *netConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	start := time.Now()
	done := c.abortOn(ctx)
	r, err := c.Conn.Do(cmd, args...)
	err = done(err)
	if c.observe != nil {
		c.observe(time.Since(start), err)
	}
	return r, err
}

func (c *netConn) Receive() (any, error) {
	return c.ReceiveContext(context.Background())
}

func (c *netConn) ReceiveContext(ctx context.Context) (any, error) {
	done := c.abortOn(ctx)
	r, err := c.Conn.Receive()
	return r, done(err)
}

func (c *netConn) DoWithTimeout(timeout time.Duration, cmd string, args ...any) (any, error) {
	return redis.DoWithTimeout(c.Conn, timeout, cmd, args...)
}

func (c *netConn) ReceiveWithTimeout(timeout time.Duration) (any, error) {
	return redis.ReceiveWithTimeout(c.Conn, timeout)
}

// Err reports a connection cut by abortOn as broken, so that the pool drops it.
func (c *netConn) Err() error {
	if c.aborted.Load() {
		return errAborted
	}
	return c.Conn.Err()
}

// abortOn closes the network connection if ctx ends before the round trip that
// follows does; the returned func ends the watch and gives the round trip's error
// (ctx's, if the connection was cut).
func (c *netConn) abortOn(ctx context.Context) func(error) error {
	if ctx.Done() == nil {
		return func(err error) error { return err }
	}
	stop := context.AfterFunc(ctx, func() {
		c.aborted.Store(true)
		c.nc.Close()
	})
	return func(err error) error {
		if stop() {
			return err
		}
		// Cut, or about to be: a reply that came first is still good, but the
		// connection is not.
		c.aborted.Store(true)
		if err != nil {
			return ctx.Err()
		}
		return nil
	}
}

// NewPool returns the one pool a server node uses for all of its requests.
func NewPool(cfg PoolConfig) *redis.Pool {
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 128
	}
	return &redis.Pool{
		DialContext: func(ctx context.Context) (redis.Conn, error) { return dial(ctx, cfg) },
		MaxIdle:     cfg.MaxActive,
		MaxActive:   cfg.MaxActive,
		// The connections a burst opened close once it is over: each holds a
		// file, buffers here and a client in Redis.
		IdleTimeout: 30 * time.Second,
		Wait:        true,
		// A connection idle for a while may have been cut (Redis restarted):
		// check it before use instead of failing the request that borrows it.
		TestOnBorrow: func(c redis.Conn, t time.Time) error {
			if time.Since(t) < 10*time.Second {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
}

// get borrows a connection from pool for one request: waiting for it, and every
// round trip on it, end when ctx does.
func get(ctx context.Context, pool *redis.Pool) (redis.Conn, error) {
	c, err := pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	return boundConn{Conn: c, ctx: ctx}, nil
}

// boundConn runs the Do and Receive of a pooled connection under one context.
type boundConn struct {
	redis.Conn
	ctx context.Context
}

func (c boundConn) Do(cmd string, args ...any) (any, error) {
	return redis.DoContext(c.Conn, c.ctx, cmd, args...)
}

func (c boundConn) Receive() (any, error) {
	return redis.ReceiveContext(c.Conn, c.ctx)
}

// pipelineScript runs script once for each of calls (by its hash), then each extra
// command, in one round trip, and returns their replies in that order. A Redis that
// has not seen the script yet (restarted, flushed, or a replica a failover just
// promoted) answers NOSCRIPT: only those calls are run again, with the script's
// text, then the extra commands again, so that they still see what the calls did,
// all in one more round trip. One by one, by script.Do (its hash again, then its
// text), they would cost two round trips each, and on a cluster each of them
// waits for the replicas (-redis-wait-replicas).
func pipelineScript(conn redis.Conn, script *redis.Script, calls [][]any, extra ...[]any) ([]any, error) {
	for _, args := range calls {
		if err := script.SendHash(conn, args...); err != nil {
			return nil, err
		}
	}
	if err := sendAll(conn, extra); err != nil {
		return nil, err
	}
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	var again []int
	for i := range calls {
		if e, ok := r[i].(redis.Error); ok && strings.HasPrefix(string(e), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return r, nil
	}
	for _, i := range again {
		if err := script.Send(conn, calls[i]...); err != nil {
			return nil, err
		}
	}
	if err := sendAll(conn, extra); err != nil {
		return nil, err
	}
	r2, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	for j, i := range again {
		r[i] = r2[j]
	}
	copy(r[len(calls):], r2[len(again):])
	return r, nil
}

// sendAll queues cmds, each its name then its arguments.
func sendAll(conn redis.Conn, cmds [][]any) error {
	for _, cmd := range cmds {
		if err := conn.Send(cmd[0].(string), cmd[1:]...); err != nil {
			return err
		}
	}
	return nil
}
