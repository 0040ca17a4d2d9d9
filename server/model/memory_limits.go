package model

import (
	"context"
	"time"

	"chat/common/message"
)

// MemoryLoginLimiter is RedisLoginLimiter on a Memory: the same three counts,
// reserved ahead and given back the same way, each over a window that starts at
// its first failure.
type MemoryLoginLimiter struct {
	m      *Memory
	window time.Duration
}

// NewMemoryLoginLimiter counts failures on m over windows of window.
func NewMemoryLoginLimiter(m *Memory, window time.Duration) *MemoryLoginLimiter {
	return &MemoryLoginLimiter{m: m, window: window}
}

// memCounters are the keys and limits of a login's counts, as counters gives them.
func memCounters(userID int, addr string, lim LoginLimits) ([]string, []int) {
	return []string{loginFailPairKey(userID, addr), loginFailUserKey(userID), loginFailAddrKey(addr)},
		[]int{lim.PerUserAddr, lim.PerUser, lim.PerAddr}
}

// Reserve counts a failed login of userID from addr in advance, unless a limit is
// reached already: then it returns false and counts nothing.
func (l *MemoryLoginLimiter) Reserve(ctx context.Context, userID int, addr string, lim LoginLimits) (bool, error) {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	return l.reserve(userID, addr, lim), nil
}

// CheckToken is RedisLoginLimiter.CheckToken: Reserve, the token's check and
// Release if it is right, in one step.
func (l *MemoryLoginLimiter) CheckToken(ctx context.Context, userID int, token, addr string, lim LoginLimits) (message.User, error) {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if !l.reserve(userID, addr, lim) {
		return message.User{}, ErrTooManyFailures
	}
	u, ok := l.m.tokenUser(userID, token)
	if !ok {
		return message.User{}, ErrBadToken
	}
	l.release(userID, addr, lim)
	return u, nil
}

// reserve is Reserve; the caller holds m.mu.
func (l *MemoryLoginLimiter) reserve(userID int, addr string, lim LoginLimits) bool {
	if lim == (LoginLimits{}) {
		return true
	}
	keys, limits := memCounters(userID, addr, lim)
	for i, key := range keys {
		if limits[i] > 0 && l.m.counter(key) >= limits[i] {
			return false
		}
	}
	for i := range reservedCounters {
		if limits[i] > 0 {
			l.m.incr(keys[i], l.window)
		}
	}
	return true
}

// Release gives back the reservation of a login that turned out not to fail; a
// count that expired meanwhile stays gone.
func (l *MemoryLoginLimiter) Release(ctx context.Context, userID int, addr string, lim LoginLimits) error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.release(userID, addr, lim)
	return nil
}

// release is Release; the caller holds m.mu.
func (l *MemoryLoginLimiter) release(userID int, addr string, lim LoginLimits) {
	keys, limits := memCounters(userID, addr, lim)
	for i := range reservedCounters {
		if limits[i] > 0 && l.m.counter(keys[i]) > 0 {
			l.m.counters[keys[i]].n--
		}
	}
}

// Failed counts a failed login from addr over all user ids.
func (l *MemoryLoginLimiter) Failed(ctx context.Context, addr string, lim LoginLimits) error {
	if lim.PerAddr == 0 {
		return nil
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.m.incr(loginFailAddrKey(addr), l.window)
	return nil
}

// MemoryRateLimiter is RedisRateLimiter on a Memory: GCRA, with the state of
// RatePrivate shared with the memory inbox and rooms, as in Redis.
type MemoryRateLimiter struct {
	m *Memory
}

// NewMemoryRateLimiter returns the rate limits kept on m.
func NewMemoryRateLimiter(m *Memory) *MemoryRateLimiter { return &MemoryRateLimiter{m: m} }

// Allow counts one event of kind for who and reports whether lim allows it; a
// refused event is not counted.
func (r *MemoryRateLimiter) Allow(ctx context.Context, kind, who string, lim Limit) (bool, error) {
	if lim.Rate <= 0 {
		return true, nil
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	key := rateKey(kind, who)
	start, ok := r.m.gcra(key, lim.interval(), max(lim.Burst, 1))
	if ok {
		r.m.rates[key] = start + lim.interval()
	}
	return ok, nil
}
