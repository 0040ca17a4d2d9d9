package model

import (
	"context"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisLoginLimiter counts failed logins in Redis, so that every node sees the
// same counts: per user id and remote address, per user id over all addresses,
// and per address over all user ids. A login reserves its failure before its
// password is checked and gives it back when it succeeds, so that parallel
// guesses cannot outrun the count. Successful logins never count: many users
// share one address behind NAT.
type RedisLoginLimiter struct {
	pool   *redis.Pool
	window time.Duration
}

// LoginLimits are the failed logins allowed within a window; a zero limit turns
// that count off.
type LoginLimits struct {
	PerUserAddr int // one user id from one address
	PerUser     int // one user id from all addresses: higher, or one address locks the owner out everywhere
	PerAddr     int // one address for all user ids
}

// NewRedisLoginLimiter counts failures over windows of window, each starting at
// its count's first failure: a blocked login is free again at most one window
// later.
func NewRedisLoginLimiter(pool *redis.Pool, window time.Duration) *RedisLoginLimiter {
	return &RedisLoginLimiter{pool: pool, window: window}
}

// counters are the keys of the counts of a login, then their limits, in the
// order the scripts take them.
func counters(userID int, addr string, lim LoginLimits) (keys, limits []any) {
	return []any{loginFailPairKey(userID, addr), loginFailUserKey(userID), loginFailAddrKey(addr)},
		[]any{lim.PerUserAddr, lim.PerUser, lim.PerAddr}
}

// Reserve counts a failed login of userID from addr in advance, unless a limit
// is reached already: then it returns false and counts nothing.
func (l *RedisLoginLimiter) Reserve(ctx context.Context, userID int, addr string, lim LoginLimits) (bool, error) {
	if lim == (LoginLimits{}) {
		return true, nil
	}
	conn, err := get(ctx, l.pool)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	keys, limits := counters(userID, addr, lim)
	args := append(append(keys, l.window.Milliseconds()), limits...)
	return redis.Bool(loginReserveScript.Do(conn, args...))
}

// Release gives back the reservation of a login that turned out not to fail.
func (l *RedisLoginLimiter) Release(ctx context.Context, userID int, addr string, lim LoginLimits) error {
	if lim == (LoginLimits{}) {
		return nil
	}
	conn, err := get(ctx, l.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	keys, limits := counters(userID, addr, lim)
	_, err = loginReleaseScript.Do(conn, append(keys, limits...)...)
	return err
}
