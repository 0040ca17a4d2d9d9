package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/gomodule/redigo/redis"
)

// clusterSends are the batchers of a send's steps on a Redis Cluster, where the
// one send script of a single Redis would touch the slots of the sender (its
// rate), of each recipient (account, session, inbox, dedup) and of each
// conversation (history). docs/SCALING.md gives the order of the steps and what
// a crash between two of them leaves.
type clusterSends struct {
	rate    *batcher // rateTakeScript, on the sender's slot
	inbox   *batcher // sendInboxScript, on a recipient's slot
	history *batcher // sendHistoryScript, on a conversation's slot
}

func newClusterSends(pool *redis.Pool) *clusterSends {
	if onCluster(pool) == nil {
		return nil
	}
	return &clusterSends{
		rate:    newBatcher(pool, rateTakeScript, sendLeaders),
		inbox:   newBatcher(pool, sendInboxScript, sendLeaders),
		history: newBatcher(pool, sendHistoryScript, sendLeaders),
	}
}

// send is Send on a Redis Cluster, in three steps: the sender's rate takes the
// burst's first messages it allows (sender's slot); each recipient's messages
// are checked and appended to its inbox (recipient's slot), and then kept in
// the conversation's history (conversation's slot), recipients side by side.
// A message answered without error is in both. What the rate took for
// messages that were not kept is given back.
func (s *clusterSends) send(ctx context.Context, b *RedisInbox, from int, fromName string, reqs []SendRequest, lim SendLimits) ([]SendResult, []error) {
	results := make([]SendResult, len(reqs))
	errs := make([]error, len(reqs))
	fail := func(err error) ([]SendResult, []error) {
		for i := range errs {
			results[i], errs[i] = SendResult{}, err
		}
		return results, errs
	}
	rated := lim.Rate.interval() > 0
	take := func(n, back int) (int, error) {
		if !rated {
			return n, nil
		}
		return redis.Int(s.rate.do(ctx, rateKey(RatePrivate, itoa(from)),
			strconv.FormatFloat(lim.Rate.interval(), 'f', 3, 64), max(lim.Rate.Burst, 1), n, back))
	}
	all := make([]int, len(reqs))
	for k := range all {
		all[k] = k
	}
	// The conversations' newest ids are read beside the rate step, from their
	// own slots: the inbox step gives each message an id above its
	// conversation's.
	var floors map[int]string
	var read sync.WaitGroup
	read.Go(func() { floors = s.floors(ctx, b, from, reqs) })
	allowed, err := take(len(reqs), 0)
	read.Wait()
	if err != nil {
		return fail(err)
	}
	s.steps(ctx, b, from, fromName, reqs, all, allowed, lim.InboxMax, floors, results, errs)
	unused := s.unused(all[:allowed], results, errs)
	// The rate was taken for the burst's first messages before the inbox told
	// which are resends (free, as on one Redis): give it back and take it again
	// for those it refused, which come after.
	var refused []int
	for _, k := range all[allowed:] {
		if errors.Is(errs[k], ErrRateLimited) {
			refused = append(refused, k)
		}
	}
	if unused > 0 && len(refused) > 0 {
		again, err := take(len(refused), unused)
		if err == nil {
			s.steps(ctx, b, from, fromName, reqs, refused, again, lim.InboxMax, floors, results, errs)
			unused = s.unused(refused[:again], results, errs)
		}
	}
	if rated && unused > 0 {
		// Best effort: a give-back lost only makes the limit a little stricter.
		_, _ = take(0, unused)
	}
	return results, errs
}

// floors returns the newest id of the history of each conversation of reqs,
// by recipient. It is a hint: a conversation it could not read has none, and a
// message then gets an id of the history's own if the other direction is ahead.
func (s *clusterSends) floors(ctx context.Context, b *RedisInbox, from int, reqs []SendRequest) map[int]string {
	var to []int
	for _, r := range reqs {
		if !slices.Contains(to, r.To) {
			to = append(to, r.To)
		}
	}
	conn, err := get(ctx, b.pool)
	if err != nil {
		return nil
	}
	defer conn.Close()
	for _, t := range to {
		conn.Send("XREVRANGE", historyKey(from, t), "+", "-", "COUNT", 1)
	}
	replies, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil
	}
	out := make(map[int]string, len(to))
	for i, t := range to {
		if last, _ := redis.Values(replies[i], nil); len(last) == 1 {
			if entry, _ := redis.Values(last[0], nil); len(entry) > 0 {
				out[t], _ = redis.String(entry[0], nil)
			}
		}
	}
	return out
}

// unused counts the messages of idx that took the rate but were not kept.
func (s *clusterSends) unused(idx []int, results []SendResult, errs []error) int {
	n := 0
	for _, k := range idx {
		if errs[k] != nil || results[k].Duplicate {
			n++
		}
	}
	return n
}

// steps runs the inbox and history steps of the messages idx of reqs (in
// order), the first allowed of which the rate allows, recipients side by side.
func (s *clusterSends) steps(ctx context.Context, b *RedisInbox, from int, fromName string, reqs []SendRequest, idx []int, allowed, inboxMax int, floors map[int]string, results []SendResult, errs []error) {
	var to []int
	byRcpt := map[int][]int{}
	ok := map[int]bool{}
	for j, k := range idx {
		r := reqs[k]
		if _, seen := byRcpt[r.To]; !seen {
			to = append(to, r.To)
		}
		byRcpt[r.To] = append(byRcpt[r.To], k)
		ok[k] = j < allowed
	}
	if len(to) == 1 {
		s.sendTo(ctx, b, from, fromName, to[0], reqs, byRcpt[to[0]], ok, inboxMax, floors[to[0]], results, errs)
		return
	}
	var wg sync.WaitGroup
	for _, t := range to {
		wg.Go(func() { s.sendTo(ctx, b, from, fromName, t, reqs, byRcpt[t], ok, inboxMax, floors[t], results, errs) })
	}
	wg.Wait()
}

// sendTo runs the inbox and history steps of the messages idx, all to one
// recipient, and sets their results and errors.
func (s *clusterSends) sendTo(ctx context.Context, b *RedisInbox, from int, fromName string, to int, reqs []SendRequest, idx []int, allowed map[int]bool, inboxMax int, floor string, results []SendResult, errs []error) {
	setErr := func(err error) {
		for _, k := range idx {
			errs[k] = err
		}
	}
	args := []any{0, userKey(to), sessionKey(to), inboxKey(to)}
	var dedups []any
	for _, k := range idx {
		if id := reqs[k].ClientMsgID; id != "" {
			dedups = append(dedups, recipientDedupKey(to, from, id))
		}
	}
	args = append(args, dedups...)
	args[0] = 3 + len(dedups)
	args = append(args, from, fromName, b.dedupTTL.Milliseconds(), max(inboxMax, 0), floor)
	d := 3
	for _, k := range idx {
		key := 0
		if reqs[k].ClientMsgID != "" {
			d++
			key = d
		}
		ok := "0"
		if allowed[k] {
			ok = "1"
		}
		args = append(args, reqs[k].Content, key, ok)
	}
	reply, err := redis.Values(s.inbox.do(ctx, args...))
	if err == nil && len(reply) != 2+2*len(idx) {
		err = fmt.Errorf("send: got %d values for %d messages", len(reply), len(idx))
	}
	if err != nil {
		setErr(err)
		return
	}
	res, es := make([]SendResult, len(idx)), make([]error, len(idx))
	if err := parseSendReply(reply, make([]int, len(idx)), res, es); err != nil {
		setErr(err)
		return
	}
	for j, k := range idx {
		results[k], errs[k] = res[j], es[j]
	}
	hist := append(make([]any, 0, 4+5*len(idx)), historyKey(from, to))
	hist = append(hist, b.keep.args()...)
	kept := 0
	for _, k := range idx {
		if errs[k] != nil {
			continue
		}
		mode := "a"
		if results[k].Duplicate {
			mode = "e"
		}
		hist = append(hist, from, fromName, reqs[k].Content, results[k].MsgID, mode)
		kept++
	}
	if kept == 0 {
		return
	}
	if _, err := s.history.do(ctx, hist...); err != nil {
		// In the inbox, not in the history: answered as failed, so that the
		// sender's resend (the dedup knows it) completes it.
		for _, k := range idx {
			if errs[k] == nil {
				results[k], errs[k] = SendResult{}, err
			}
		}
	}
}
