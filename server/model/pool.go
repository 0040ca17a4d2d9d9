package model

import (
	"strings"
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

// Dial opens one connection to Redis with cfg's address, password and database.
func Dial(cfg PoolConfig) (redis.Conn, error) {
	c, err := redis.Dial("tcp", cfg.Addr,
		redis.DialConnectTimeout(dialTimeout),
		redis.DialReadTimeout(ioTimeout),
		redis.DialWriteTimeout(ioTimeout),
		redis.DialPassword(cfg.Password),
		redis.DialDatabase(cfg.DB),
	)
	if err != nil || cfg.Observe == nil {
		return c, err
	}
	return observedConn{Conn: c, observe: cfg.Observe}, nil
}

// observedConn times every round trip (a command, or a pipeline's Do("")).
type observedConn struct {
	redis.Conn
	observe func(time.Duration, error)
}

func (c observedConn) Do(cmd string, args ...any) (any, error) {
	start := time.Now()
	r, err := c.Conn.Do(cmd, args...)
	c.observe(time.Since(start), err)
	return r, err
}

// NewPool returns the one pool a server node uses for all of its requests.
func NewPool(cfg PoolConfig) *redis.Pool {
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 128
	}
	return &redis.Pool{
		Dial:        func() (redis.Conn, error) { return Dial(cfg) },
		MaxIdle:     cfg.MaxActive,
		MaxActive:   cfg.MaxActive,
		IdleTimeout: 5 * time.Minute,
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

// pipelineScript runs script once for each of calls (by its hash), then each extra
// command, in one round trip, and returns their replies in that order. A Redis that
// has not seen the script yet (restarted, or flushed) answers NOSCRIPT: only those
// calls are run again, one by one, with the script's text, and then the extra
// commands again, so that they still see what the calls did.
func pipelineScript(conn redis.Conn, script *redis.Script, calls [][]any, extra ...[]any) ([]any, error) {
	for _, args := range calls {
		if err := script.SendHash(conn, args...); err != nil {
			return nil, err
		}
	}
	for _, cmd := range extra {
		if err := conn.Send(cmd[0].(string), cmd[1:]...); err != nil {
			return nil, err
		}
	}
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	retried := false
	for i := range calls {
		if e, ok := r[i].(redis.Error); ok && strings.HasPrefix(string(e), "NOSCRIPT") {
			retried = true
			if r[i], err = script.Do(conn, calls[i]...); err != nil {
				if _, isReply := err.(redis.Error); !isReply {
					return nil, err
				}
				r[i] = err
			}
		}
	}
	// The extra commands ran before the retried calls: run them again after.
	for j, cmd := range extra {
		if !retried {
			break
		}
		if r[len(calls)+j], err = conn.Do(cmd[0].(string), cmd[1:]...); err != nil {
			return nil, err
		}
	}
	return r, nil
}
