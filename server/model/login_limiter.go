package model

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// RedisLoginLimiter counts failed logins in Redis, so that every node sees the
// same counts: per user id and remote address, per user id over all addresses,
// and per address over all user ids. A login reserves its failure of one user
// id before its password is checked and gives it back when it succeeds, so that
// parallel guesses cannot outrun those counts. The count of an address over all
// user ids grows only once a failure is known (Failed): many users share one
// address behind NAT, and all of them logging in at once must not look like
// failures; the guesses it lets through in parallel are still bounded, each
// account's by its own reserved counts.
type RedisLoginLimiter struct {
	pool   *redis.Pool
	window time.Duration
	// cluster: the address's count lives on another slot than the user's, and
	// is checked before the reservation instead of within it.
	cluster  bool
	accounts accounts
	tokens   *batcher // token logins (CheckToken) share pipelined round trips
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
	return &RedisLoginLimiter{pool: pool, window: window, cluster: onCluster(pool) != nil,
		accounts: accountsOn(pool), tokens: newBatcher(pool, loginTokenScript, tokenLeaders)}
}

// tokenLeaders is how many pipelines of token logins may be in Redis at once.
const tokenLeaders = 2

// counters are the keys of the counts of a login, then their limits, in the
// order the scripts take them: first the reservedCounters reserved ahead, then
// the address's count.
func counters(userID int, addr string, lim LoginLimits) (keys, limits []any) {
	return []any{loginFailPairKey(userID, addr), loginFailUserKey(userID), loginFailAddrKey(addr)},
		[]any{lim.PerUserAddr, lim.PerUser, lim.PerAddr}
}

// reservedCounters is how many of the counters a login reserves on.
const reservedCounters = 2

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
	if l.cluster {
		if limited, err := addrLimited(conn, addr, lim); limited || err != nil {
			return false, err
		}
		args := append(append(keys[:reservedCounters], l.window.Milliseconds(), reservedCounters), limits[:reservedCounters]...)
		return redis.Bool(loginReserveUserScript.Do(conn, args...))
	}
	args := append(append(keys, l.window.Milliseconds(), reservedCounters), limits...)
	return redis.Bool(loginReserveScript.Do(conn, args...))
}

// addrLimited reports whether addr's count is at its limit, on a Redis Cluster,
// where it is read apart from the user's counts. The address's count only grows
// once a failure is known (Failed): read apart from the reservation, it lets
// through no guess the user's reserved counts do not bound.
func addrLimited(conn redis.Conn, addr string, lim LoginLimits) (bool, error) {
	if lim.PerAddr == 0 {
		return false, nil
	}
	n, err := redis.Int(conn.Do("GET", loginFailAddrKey(addr)))
	if err != nil && err != redis.ErrNil {
		return false, err
	}
	return n >= lim.PerAddr, nil
}

// CheckToken checks a session-token login of userID from addr in one step:
// Reserve, the token's check, and Release if the token is right
// (lua/login_token.lua). It returns the user; ErrTooManyFailures, counting
// nothing, if a count is at its limit; ErrBadToken, counted as Reserve counts,
// for a token that is unknown, expired, revoked or another user's, or whose
// account is gone. The address's count is the caller's to grow (Failed).
func (l *RedisLoginLimiter) CheckToken(ctx context.Context, userID int, token, addr string, lim LoginLimits) (message.User, error) {
	keys, limits := counters(userID, addr, lim)
	if l.cluster {
		conn, err := get(ctx, l.pool)
		if err != nil {
			return message.User{}, err
		}
		limited, err := addrLimited(conn, addr, lim)
		conn.Close()
		if err != nil {
			return message.User{}, err
		}
		if limited {
			return message.User{}, ErrTooManyFailures
		}
		keys, limits = keys[:reservedCounters], limits[:reservedCounters]
	}
	account, field := l.accounts.location(userID)
	args := append([]any{2 + len(keys), tokenKey(userID, hashToken(token)), account}, keys...)
	args = append(append(args, field, l.window.Milliseconds()), limits...)
	reply, err := l.tokens.do(ctx, args...)
	if err != nil {
		return message.User{}, err
	}
	switch reply := reply.(type) {
	case []byte:
		var u message.User
		if err := json.Unmarshal(reply, &u); err != nil {
			return message.User{}, err
		}
		u.UserID, u.UserPwd = userID, ""
		return u, nil
	case int64:
		if reply == 0 {
			return message.User{}, ErrTooManyFailures
		}
		return message.User{}, ErrBadToken
	}
	return message.User{}, fmt.Errorf("login_token: unexpected reply %T", reply)
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
	_, err = loginReleaseScript.Do(conn, append(keys[:reservedCounters], limits[:reservedCounters]...)...)
	return err
}

// Failed counts a failed login from addr over all user ids (its user id's
// counts were reserved ahead).
func (l *RedisLoginLimiter) Failed(ctx context.Context, addr string, lim LoginLimits) error {
	if lim.PerAddr == 0 {
		return nil
	}
	conn, err := get(ctx, l.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = loginFailScript.Do(conn, loginFailAddrKey(addr), l.window.Milliseconds())
	return err
}
