package model

import (
	"context"
	"errors"
	"time"
)

// MemoryInbox is RedisInbox on a Memory: each user's inbox and each
// conversation's history are streams with Redis's ids, and a send checks and
// keeps a burst as send.lua does.
type MemoryInbox struct {
	m        *Memory
	dedupTTL time.Duration
	keep     Retention
}

// NewMemoryInbox returns the inbox store on m; a clientMsgId is remembered for
// dedupTTL, and the history is kept as keep says (zero fields take DefaultRetention's).
func NewMemoryInbox(m *Memory, dedupTTL time.Duration, keep Retention) *MemoryInbox {
	return &MemoryInbox{m: m, dedupTTL: dedupTTL, keep: keep.orDefault()}
}

// inbox returns userID's inbox, made if need be.
func (m *Memory) inbox(userID int) *memStream {
	s := m.inboxes[userID]
	if s == nil {
		s = &memStream{}
		m.inboxes[userID] = s
	}
	return s
}

// conversation returns the history of a and b, made if need be.
func (m *Memory) conversation(a, b int) *memStream {
	key := historyKey(a, b)
	s := m.history[key]
	if s == nil {
		s = &memStream{}
		m.history[key] = s
	}
	return s
}

// Send keeps the private messages reqs of one sender, in order, each as if sent
// on its own; see RedisInbox.Send.
func (b *MemoryInbox) Send(ctx context.Context, from int, fromName string, reqs []SendRequest, lim SendLimits) ([]SendResult, []error) {
	results := make([]SendResult, len(reqs))
	errs := make([]error, len(reqs))
	m := b.m
	m.mu.Lock()
	defer m.mu.Unlock()
	rateKey := rateKey(RatePrivate, itoa(from))
	interval, burst := lim.Rate.interval(), max(lim.Rate.Burst, 1)
	touched := map[int]bool{}
	for k, r := range reqs {
		where, online := m.sessions[r.To]
		if _, exists := m.users[r.To]; !online && !exists {
			errs[k] = ErrUserNotFound
			continue
		}
		dedup := ""
		if r.ClientMsgID != "" {
			dedup = dedupKey(from, r.ClientMsgID)
			if first, ok := m.deduped(dedup); ok {
				results[k] = SendResult{MsgID: first, Duplicate: true, Recipient: where, Online: online}
				continue
			}
		}
		var start float64
		if interval > 0 {
			var ok bool
			if start, ok = m.gcra(rateKey, interval, burst); !ok {
				errs[k] = ErrRateLimited
				continue
			}
		}
		inbox := m.inbox(r.To)
		if lim.InboxMax > 0 && inbox.len() >= lim.InboxMax {
			errs[k] = ErrInboxFull
			continue
		}
		hist := m.conversation(from, r.To)
		id := inbox.next(m.now().UnixMilli())
		if !hist.last.less(id) {
			// The other direction took a later id within the same millisecond.
			id = streamID{hist.last.ms, hist.last.seq + 1}
		}
		prev := inbox.newest()
		msgID := inbox.add(id, from, fromName, r.Content)
		hist.add(id, from, fromName, r.Content)
		touched[r.To] = true
		if interval > 0 {
			m.rates[rateKey] = start + interval
		}
		if dedup != "" {
			m.dedup[dedup] = memDedup{id: msgID, expires: m.now().Add(b.dedupTTL)}
		}
		results[k] = SendResult{MsgID: msgID, Recipient: where, Online: online, Previous: prev}
	}
	for to := range touched {
		m.conversation(from, to).trimTo(b.keep.MaxLen)
	}
	return results, errs
}

// Read returns up to count messages of userID's inbox after the id after ("" reads
// from the oldest), oldest first.
func (b *MemoryInbox) Read(ctx context.Context, userID int, after string, count int) ([]Stored, error) {
	var start streamID // "": from the oldest, as no id is below 0-1
	if after != "" {
		var err error
		if start, err = parseStreamID(after); err != nil {
			return nil, err
		}
	}
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	return b.m.inboxes[userID].after(start, count), nil
}

// Delete forgets delivered messages; ids that are not in a user's inbox are
// ignored. It returns how many users' inboxes could not be changed, and why.
func (b *MemoryInbox) Delete(ctx context.Context, ids map[int][]string) (failed int, err error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	var errs []error
	for user, list := range ids {
		if len(list) == 0 {
			continue
		}
		parsed := make([]streamID, 0, len(list))
		for _, s := range list {
			id, err := parseStreamID(s)
			if err != nil {
				parsed = nil
				errs = append(errs, err)
				break
			}
			parsed = append(parsed, id)
		}
		if inbox := b.m.inboxes[user]; parsed != nil && inbox != nil {
			inbox.del(parsed)
		}
	}
	return len(errs), errors.Join(errs...)
}

// History returns up to limit messages of the conversation between user and other
// older than before ("" for the newest), oldest first, and whether older ones
// exist. ErrUserNotFound if other has no account.
func (b *MemoryInbox) History(ctx context.Context, user, other int, before string, limit int) ([]Stored, bool, error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if _, ok := b.m.users[other]; !ok {
		return nil, false, ErrUserNotFound
	}
	return b.m.readBefore(b.m.history[historyKey(user, other)], before, limit, b.keep)
}

// readBefore is readBefore of the Redis stores on a memory stream.
func (m *Memory) readBefore(s *memStream, before string, limit int, keep Retention) ([]Stored, bool, error) {
	var end *streamID
	if before != "" {
		id, err := parseStreamID(before)
		if err != nil {
			return nil, false, err
		}
		end = &id
	}
	oldest := keep.oldestID(m.now())
	if s != nil {
		s.trimBefore(oldest)
	}
	out, more := s.before(end, oldest, limit)
	return out, more, nil
}
