package model

import (
	"context"
	"strconv"

	"github.com/gomodule/redigo/redis"
)

// Kinds of rate limit (rateKey), each per user id or per remote address.
const (
	RateGroup    = "group"    // group messages of a user
	RatePrivate  = "private"  // private messages of a user (checked by the send script)
	RateLogin    = "login"    // successful logins of a user
	RateRegister = "register" // registrations from an address
)

// Limit is a rate: Burst events at once, then Rate a second. A Rate of zero (or
// less) allows everything.
type Limit struct {
	Rate  float64
	Burst int
}

// interval is the time between two events at the limit's rate, in milliseconds
// (0: no limit), as the scripts take it.
func (l Limit) interval() float64 {
	if l.Rate <= 0 {
		return 0
	}
	return 1000 / l.Rate
}

// RedisRateLimiter keeps rate limits in Redis (GCRA, lua/rate.lua), so that
// they hold for a user across logins and nodes. Checks share pipelined round
// trips (batcher), as sends do.
type RedisRateLimiter struct {
	checks *batcher
}

// rateLeaders is how many pipelines of checks may be in Redis at once.
const rateLeaders = 2

// NewRedisRateLimiter returns the rate limits kept on pool.
func NewRedisRateLimiter(pool *redis.Pool) *RedisRateLimiter {
	return &RedisRateLimiter{checks: newBatcher(pool, rateScript, rateLeaders)}
}

// Allow counts one event of kind for who (a user id or an address) and reports
// whether lim allows it; a refused event is not counted.
func (r *RedisRateLimiter) Allow(ctx context.Context, kind, who string, lim Limit) (bool, error) {
	if lim.Rate <= 0 {
		return true, nil
	}
	return redis.Bool(r.checks.do(ctx, rateKey(kind, who), strconv.FormatFloat(lim.interval(), 'f', 3, 64), max(lim.Burst, 1)))
}
