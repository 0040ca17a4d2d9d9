package model

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisLoginLimiter counts failed logins per user id and per remote address in
// Redis, so that every node sees the same counts. Successful logins never count:
// many users share one address behind NAT.
type RedisLoginLimiter struct {
	pool    *redis.Pool
	window  time.Duration
	perUser int
	perAddr int
}

// NewRedisLoginLimiter blocks an id after perUser failures and an address after
// perAddr failures within window. A limit of 0 turns that count off.
func NewRedisLoginLimiter(pool *redis.Pool, window time.Duration, perUser, perAddr int) *RedisLoginLimiter {
	return &RedisLoginLimiter{pool: pool, window: window, perUser: perUser, perAddr: perAddr}
}

// Blocked reports whether the id or the address has used up its failures.
func (l *RedisLoginLimiter) Blocked(ctx context.Context, userID int, addr string) (bool, error) {
	if l.perUser == 0 && l.perAddr == 0 {
		return false, nil
	}
	conn, err := get(ctx, l.pool)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	counts, err := redis.Ints(conn.Do("MGET", loginFailKey("id", itoa(userID)), loginFailKey("addr", addr)))
	if err != nil {
		return false, err
	}
	return over(counts[0], l.perUser) || over(counts[1], l.perAddr), nil
}

func over(count, limit int) bool { return limit > 0 && count >= limit }

// Failed records a failed login. The window starts at the first failure, so a
// blocked id is free again at most one window later.
func (l *RedisLoginLimiter) Failed(ctx context.Context, userID int, addr string) error {
	conn, err := get(ctx, l.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	ttl := int(l.window / time.Second)
	for _, key := range []string{loginFailKey("id", itoa(userID)), loginFailKey("addr", addr)} {
		conn.Send("INCR", key)
		conn.Send("EXPIRE", key, ttl, "NX")
	}
	_, err = conn.Do("")
	return err
}
