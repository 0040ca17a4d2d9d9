package model

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"chat/common/message"
)

// Memory holds, in this process, what the Redis of a cluster holds: the memory
// stores made on one Memory share it as the Redis stores share one Redis, so that
// several server nodes of one process form a cluster. It is for tests: nothing is
// persisted, and one mutex serializes every operation, which makes each as atomic
// as its Lua script.
type Memory struct {
	mu sync.Mutex
	// now is the clock of expiries, rate limits and stream ids (Redis's TIME).
	now func() time.Time

	users    map[int]message.User // as stored: a hashed password, or a plaintext one added by hand
	tokens   map[string]time.Time // tokenKey -> expiry
	counters map[string]*memCounter
	rates    map[string]float64 // rateKey -> theoretical arrival time (GCRA), Unix ms
	dedup    map[string]memDedup

	sessions  map[int]Session
	nodeUsers map[string]map[int]bool
	alive     map[string]time.Time // node -> heartbeat expiry
	nodes     map[string]bool

	inboxes map[int]*memStream
	history map[string]*memStream // historyKey -> conversation
	roomSeq int
	rooms   map[int]*memRoom
	cursors map[int]map[int]string // user -> room -> last message acknowledged

	bus memHub
}

// NewMemory returns an empty Memory on the wall clock.
func NewMemory() *Memory {
	return &Memory{
		now:       time.Now,
		users:     map[int]message.User{},
		tokens:    map[string]time.Time{},
		counters:  map[string]*memCounter{},
		rates:     map[string]float64{},
		dedup:     map[string]memDedup{},
		sessions:  map[int]Session{},
		nodeUsers: map[string]map[int]bool{},
		alive:     map[string]time.Time{},
		nodes:     map[string]bool{},
		inboxes:   map[int]*memStream{},
		history:   map[string]*memStream{},
		rooms:     map[int]*memRoom{},
		cursors:   map[int]map[int]string{},
		bus:       memHub{subs: map[string][]*memSub{}},
	}
}

// memCounter is a failed-login count and the end of its window.
type memCounter struct {
	n       int
	expires time.Time
}

// memDedup is the message id given to a clientMsgId, until it expires.
type memDedup struct {
	id      string
	expires time.Time
}

// nowMs is the clock in Unix milliseconds with a fraction, as the scripts read TIME.
func (m *Memory) nowMs() float64 {
	return float64(m.now().UnixMicro()) / 1000
}

// counter returns the live failed-login count of key (0 if none or expired).
func (m *Memory) counter(key string) int {
	c := m.counters[key]
	if c == nil {
		return 0
	}
	if !m.now().Before(c.expires) {
		delete(m.counters, key)
		return 0
	}
	return c.n
}

// incr adds one to the count of key, starting a window of window at the first.
func (m *Memory) incr(key string, window time.Duration) {
	if m.counter(key) == 0 {
		m.counters[key] = &memCounter{expires: m.now().Add(window)}
	}
	m.counters[key].n++
}

// gcra checks one event against the rate limit at key (rate.lua): start is the
// theoretical arrival time the event would take, ok whether it is allowed.
func (m *Memory) gcra(key string, interval float64, burst int) (start float64, ok bool) {
	now := m.nowMs()
	start = max(m.rates[key], now)
	return start, start+interval-float64(burst)*interval <= now
}

// deduped returns the live id kept under a dedup key.
func (m *Memory) deduped(key string) (string, bool) {
	d, ok := m.dedup[key]
	if ok && !m.now().Before(d.expires) {
		delete(m.dedup, key)
		return "", false
	}
	return d.id, ok
}

// redisRange returns the indexes [from, to) of ZRANGE start stop on n elements,
// negative ranks counting from the end, as Redis does.
func redisRange(n, start, stop int) (from, to int) {
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	if start > stop || start >= n {
		return 0, 0
	}
	return start, stop + 1
}

// sortedKeys returns the keys of a set of ids in increasing order.
func sortedKeys[V any](set map[int]V) []int {
	ids := make([]int, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// errInvalidID is what Redis answers to a malformed stream id.
var errInvalidID = errors.New("ERR Invalid stream ID specified as stream command argument")

// streamID is a stream entry id, "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	if !ValidID(s) {
		return streamID{}, errInvalidID
	}
	ms, seq, _ := strings.Cut(s, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(seq, 10, 64)
	return streamID{a, b}, nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// memEntry is one stream entry.
type memEntry struct {
	id streamID
	m  Stored
}

// memStream is a Redis stream: entries in id order, and the last id it gave,
// which deletions do not lower.
type memStream struct {
	entries []memEntry
	last    streamID
}

// next returns the id XADD * would give at now: now's millisecond, or the next
// sequence number of the last id if the clock has not passed it.
func (s *memStream) next(nowMs int64) streamID {
	ms := uint64(max(nowMs, 0))
	if ms > s.last.ms {
		return streamID{ms, 0}
	}
	return streamID{s.last.ms, s.last.seq + 1}
}

// add appends an entry with id, which must be above the last id.
func (s *memStream) add(id streamID, from int, name, content string) string {
	s.last = id
	sid := id.String()
	s.entries = append(s.entries, memEntry{id, Stored{ID: sid, From: from, FromName: name, Content: content, SentAt: int64(id.ms)}})
	return sid
}

// newest is the id of the newest entry ("" if none).
func (s *memStream) newest() string {
	if s == nil || len(s.entries) == 0 {
		return ""
	}
	return s.entries[len(s.entries)-1].m.ID
}

func (s *memStream) len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// after returns up to count entries with an id above after, oldest first (XRANGE (after + COUNT count).
func (s *memStream) after(after streamID, count int) []Stored {
	out := []Stored{}
	if s == nil {
		return out
	}
	for _, e := range s.entries {
		if len(out) >= count {
			break
		}
		if after.less(e.id) {
			out = append(out, e.m)
		}
	}
	return out
}

// before returns the newest limit entries below before (nil: no bound) and not
// below oldest, oldest first, and whether more such entries exist.
func (s *memStream) before(before *streamID, oldest streamID, limit int) ([]Stored, bool) {
	out := []Stored{}
	if s == nil {
		return out, false
	}
	i := len(s.entries)
	for i > 0 && before != nil && !s.entries[i-1].id.less(*before) {
		i--
	}
	j := i
	for j > 0 && !s.entries[j-1].id.less(oldest) && i-j <= limit {
		j--
	}
	more := i-j > limit
	if more {
		j++
	}
	for _, e := range s.entries[j:i] {
		out = append(out, e.m)
	}
	return out, more
}

// trimBefore drops the entries older than oldest.
func (s *memStream) trimBefore(oldest streamID) {
	i := 0
	for i < len(s.entries) && s.entries[i].id.less(oldest) {
		i++
	}
	s.entries = s.entries[i:]
}

// trimTo keeps the newest n entries.
func (s *memStream) trimTo(n int) {
	if len(s.entries) > n {
		s.entries = slices.Clone(s.entries[len(s.entries)-n:])
	}
}

// del removes the entries with the given ids and returns how many there were.
func (s *memStream) del(ids []streamID) int {
	n := len(s.entries)
	s.entries = slices.DeleteFunc(s.entries, func(e memEntry) bool { return slices.Contains(ids, e.id) })
	return n - len(s.entries)
}

// oldestID is Retention.oldest as a stream id.
func (r Retention) oldestID(now time.Time) streamID {
	return streamID{uint64(max(now.Add(-r.MaxAge).UnixMilli(), 0)), 0}
}
