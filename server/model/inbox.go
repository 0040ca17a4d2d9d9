package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisInbox keeps each user's private messages in a Redis stream (inboxKey),
// until they are delivered: the stream entry id is the message id, so ids grow in
// send order and carry Redis's clock.
type RedisInbox struct {
	pool     *redis.Pool
	dedupTTL time.Duration
	keep     Retention // of the conversations' history
	sends    *batcher
	cluster  *clusterSends // on a Redis Cluster, the steps that replace sends
}

// sendLeaders is how many pipelines of sends may be in Redis at once.
const sendLeaders = 4

// NewRedisInbox returns the inbox store on pool; a clientMsgId is remembered for
// dedupTTL, and every message is kept in its conversation's history as keep says
// (zero fields take DefaultRetention's).
func NewRedisInbox(pool *redis.Pool, dedupTTL time.Duration, keep Retention) *RedisInbox {
	return &RedisInbox{pool: pool, dedupTTL: dedupTTL, keep: keep.orDefault(), sends: newBatcher(pool, sendScript, sendLeaders),
		cluster: newClusterSends(pool)}
}

// Outcome of a send.
type SendResult struct {
	MsgID     string
	Duplicate bool    // the clientMsgId was seen before: MsgID is the first send's
	Recipient Session // where the recipient is online, if Online
	Online    bool
	// Previous is the id of the newest message that was in the inbox before this
	// one ("" if it was empty): a session that delivered up to it can take this
	// message as it is, without reading the inbox.
	Previous string
}

// SendLimits bound what one private message may take: the sender's rate
// (RatePrivate, across logins and nodes) and the recipient's inbox.
type SendLimits struct {
	Rate     Limit
	InboxMax int // messages an inbox may hold; zero: no cap
}

// SendRequest is one private message of a sender's burst. ClientMsgID may be
// empty (no dedup).
type SendRequest struct {
	To          int
	Content     string
	ClientMsgID string
}

// Send keeps the private messages reqs of one sender, in order, in one script call
// (in a pipeline shared with other callers' sends: batcher), each as if sent on its
// own. It returns one result and one error per request: ErrUserNotFound if the
// recipient has no account, ErrRateLimited if from is over lim's rate, ErrInboxFull
// if the recipient's inbox holds lim.InboxMax messages (then that message is not
// kept). A repeated clientMsgId is answered before the limits. Requests keep their
// order in the inbox of each recipient, and so do the calls of one caller.
func (b *RedisInbox) Send(ctx context.Context, from int, fromName string, reqs []SendRequest, lim SendLimits) ([]SendResult, []error) {
	results := make([]SendResult, len(reqs))
	errs := make([]error, len(reqs))
	if len(reqs) == 0 {
		return results, errs
	}
	if b.cluster != nil {
		return b.cluster.send(ctx, b, from, fromName, reqs, lim)
	}
	// The recipients, each once, in order of first message: rcpt[k] is request
	// k's recipient's index (from 0) in to.
	to := make([]int, 0, 1)
	rcpt := make([]int, len(reqs))
	dedups := 0
	for k, r := range reqs {
		i := slices.Index(to, r.To)
		if i < 0 {
			i = len(to)
			to = append(to, r.To)
		}
		rcpt[k] = i
		if r.ClientMsgID != "" {
			dedups++
		}
	}
	nkeys := 3 + 2*len(to) + dedups
	args := make([]any, 0, 1+nkeys+10+len(to)+3*len(reqs))
	args = append(args, nkeys, usersKey, sessionsKey, rateKey(RatePrivate, itoa(from)))
	for _, t := range to {
		args = append(args, inboxKey(t), historyKey(from, t))
	}
	for _, r := range reqs {
		if r.ClientMsgID != "" {
			args = append(args, dedupKey(from, r.ClientMsgID))
		}
	}
	args = append(args, from, fromName, b.dedupTTL.Milliseconds())
	args = append(args, b.keep.args()...)
	args = append(args, strconv.FormatFloat(lim.Rate.interval(), 'f', 3, 64), max(lim.Rate.Burst, 1), max(lim.InboxMax, 0), len(to))
	for _, t := range to {
		args = append(args, t)
	}
	d := 3 + 2*len(to) // the KEYS index of the last dedup key named
	for k, r := range reqs {
		key := 0
		if r.ClientMsgID != "" {
			d++
			key = d
		}
		args = append(args, rcpt[k]+1, r.Content, key)
	}
	reply, err := redis.Values(b.sends.do(ctx, args...))
	if err == nil && len(reply) != 2*len(to)+2*len(reqs) {
		err = fmt.Errorf("send: got %d values for %d recipients and %d messages", len(reply), len(to), len(reqs))
	}
	if err == nil {
		err = parseSendReply(reply, rcpt, results, errs)
	}
	if err != nil {
		for i := range errs {
			results[i], errs[i] = SendResult{}, err
		}
	}
	return results, errs
}

// parseSendReply reads sendScript's reply: per recipient {where, newest inbox id
// before the call}, then per message {status, id}. rcpt maps each message to its
// recipient. The Previous of a message is its recipient's newest id before it: of
// the call's message before it to the same recipient, if any.
func parseSendReply(reply []any, rcpt []int, results []SendResult, errs []error) error {
	nr := (len(reply) - 2*len(rcpt)) / 2
	where := make([]Session, nr)
	online := make([]bool, nr)
	prev := make([]string, nr)
	for r := range nr {
		w, ok1 := reply[2*r].([]byte)
		p, ok2 := reply[2*r+1].([]byte)
		if !ok1 || !ok2 {
			return fmt.Errorf("send: recipient %d: unexpected reply %T %T", r, reply[2*r], reply[2*r+1])
		}
		where[r], online[r] = parseSession(string(w))
		prev[r] = string(p)
	}
	for k, r := range rcpt {
		status, ok1 := reply[2*nr+2*k].(int64)
		id, ok2 := reply[2*nr+2*k+1].([]byte)
		if !ok1 || !ok2 {
			return fmt.Errorf("send: message %d: unexpected reply %T %T", k, reply[2*nr+2*k], reply[2*nr+2*k+1])
		}
		switch status {
		case 0:
			errs[k] = ErrUserNotFound
		case 1, 2:
			res := SendResult{MsgID: string(id), Duplicate: status == 2, Recipient: where[r], Online: online[r]}
			if status == 1 {
				res.Previous = prev[r]
				prev[r] = res.MsgID
			}
			results[k] = res
		case 3:
			errs[k] = ErrRateLimited
		case 4:
			errs[k] = ErrInboxFull
		default:
			return fmt.Errorf("send: message %d: unknown status %d", k, status)
		}
	}
	return nil
}

// Stored is a message read from a stream: an inbox, a conversation's history or a room.
type Stored struct {
	ID       string
	From     int
	FromName string
	Content  string
	SentAt   int64 // Unix milliseconds, from the id
}

// Read returns up to count messages of userID's inbox after the id after ("" reads
// from the oldest), oldest first.
func (b *RedisInbox) Read(ctx context.Context, userID int, after string, count int) ([]Stored, error) {
	conn, err := get(ctx, b.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	start := "-"
	if after != "" {
		start = "(" + after
	}
	entries, err := redis.Values(conn.Do("XRANGE", inboxKey(userID), start, "+", "COUNT", count))
	if err != nil {
		return nil, err
	}
	return parseEntries(entries)
}

// dedupFlag tells a script whether to apply the clientMsgId dedup.
func dedupFlag(clientMsgID string) string {
	if clientMsgID == "" {
		return "0"
	}
	return "1"
}

// emptyInboxTTL is how long an inbox left empty by Delete lives on (ack.lua).
const emptyInboxTTL = 2 * time.Second

// Delete forgets delivered messages, for many users in one round trip; an
// inbox left empty is deleted shortly after. Ids that are not in a user's inbox
// are ignored. It returns how many users' inboxes could not be changed, and why;
// the others' are done. On a single Redis one call of ack.lua takes up to
// ackInboxes inboxes; on a Redis Cluster, whose inboxes are on many slots, each
// takes one.
func (b *RedisInbox) Delete(ctx context.Context, ids map[int][]string) (failed int, err error) {
	conn, err := get(ctx, b.pool)
	if err != nil {
		return len(ids), err
	}
	defer conn.Close()
	perCall := ackInboxes
	if b.cluster != nil {
		perCall = 1
	}
	var calls [][]any
	var inboxes []int // of each call
	var keys, args []any
	flush := func() {
		if len(keys) > 0 {
			calls = append(calls, append(append([]any{len(keys)}, keys...), args...))
			inboxes = append(inboxes, len(keys))
			keys, args = nil, nil
		}
	}
	for user, list := range ids {
		if len(list) == 0 {
			continue
		}
		if len(keys) == 0 {
			args = append(args, emptyInboxTTL.Milliseconds())
		}
		keys = append(keys, inboxKey(user))
		args = append(args, len(list))
		for _, id := range list {
			args = append(args, id)
		}
		if len(keys) == perCall {
			flush()
		}
	}
	flush()
	replies, err := pipelineScript(conn, ackScript, calls)
	if err != nil {
		return len(ids), err
	}
	var errs []error
	for i, r := range replies {
		if e, ok := r.(redis.Error); ok {
			failed += inboxes[i]
			errs = append(errs, e)
			continue
		}
		refused, err := redis.Strings(r, nil) // one error per inbox refused
		if err != nil {
			return len(ids), err
		}
		for _, e := range refused {
			failed++
			errs = append(errs, errors.New(e))
		}
	}
	return failed, errors.Join(errs...)
}

// ackInboxes is how many inboxes one call of ack.lua takes at most, so that one
// call keeps Redis busy for a short while only.
const ackInboxes = 128

// ValidID reports whether s is a message id as Redis makes them, "<ms>-<seq>"
// with both parts unsigned 64-bit decimals, so that Redis accepts it.
func ValidID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	return ok && uint64Decimal(ms) && uint64Decimal(seq)
}

func uint64Decimal(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// IDTime returns the Unix milliseconds of a message id.
func IDTime(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// CompareIDs orders two message ids as Redis does (0 if equal, -1 if a is older).
func CompareIDs(a, b string) int {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if c := compareDecimal(am, bm); c != 0 {
		return c
	}
	return compareDecimal(as, bs)
}

func compareDecimal(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
