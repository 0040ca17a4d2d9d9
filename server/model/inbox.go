package model

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisInbox keeps each user's private messages in a Redis stream, "inbox:<id>",
// until they are delivered: the stream entry id is the message id, so ids grow in
// send order and carry Redis's clock.
type RedisInbox struct {
	pool     *redis.Pool
	dedupTTL time.Duration
	sends    *batcher
}

// sendLeaders is how many pipelines of sends may be in Redis at once.
const sendLeaders = 4

// NewRedisInbox returns the inbox store on pool; a clientMsgId is remembered for dedupTTL.
func NewRedisInbox(pool *redis.Pool, dedupTTL time.Duration) *RedisInbox {
	return &RedisInbox{pool: pool, dedupTTL: dedupTTL, sends: newBatcher(pool, sendScript, sendLeaders)}
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

// sendScript keeps the messages of one burst of a sender: it checks each recipient,
// applies the clientMsgId dedup, appends the message and reads where the recipient
// is; one call, atomic, for the whole burst.
//
//go:embed send.lua
var sendLua string

var sendScript = redis.NewScript(-1, sendLua)

// SendRequest is one private message to keep. ClientMsgID may be empty (no dedup).
type SendRequest struct {
	From        int
	FromName    string
	To          int
	Content     string
	ClientMsgID string
}

// Send keeps the private messages of reqs, in order, in one pipeline (shared with
// other callers' sends: batcher), and returns one result and one error per request:
// ErrUserNotFound if the recipient has no account. Requests of one sender keep their
// order in the inbox of each recipient.
func (b *RedisInbox) Send(ctx context.Context, reqs []SendRequest) ([]SendResult, []error) {
	args := make([]any, 0, 3+6*len(reqs))
	args = append(args, 2+2*len(reqs), usersKey, sessionsKey)
	for _, r := range reqs {
		dkey := ""
		if r.ClientMsgID != "" {
			dkey = dedupKey(r.From, r.ClientMsgID)
		}
		args = append(args, inboxKey(r.To), dkey)
	}
	args = append(args, b.dedupTTL.Milliseconds())
	for _, r := range reqs {
		args = append(args, r.To, r.From, r.FromName, r.Content)
	}
	results := make([]SendResult, len(reqs))
	errs := make([]error, len(reqs))
	replies, err := b.sends.do(ctx, [][]any{args})
	var r []any
	if err == nil {
		if e, ok := replies[0].(redis.Error); ok {
			err = e
		} else if r, ok = replies[0].([]any); !ok || len(r) != 4*len(reqs) {
			err = fmt.Errorf("send: unexpected reply %T", replies[0])
		}
	}
	for i := range reqs {
		if err != nil {
			errs[i] = err
			continue
		}
		results[i], errs[i] = parseSendReply(r[4*i : 4*i+4])
	}
	return results, errs
}

// parseSendReply reads one message's {status, id, where, previous} of sendScript.
func parseSendReply(r []any) (SendResult, error) {
	status, ok := r[0].(int64)
	id, ok1 := r[1].([]byte)
	where, ok2 := r[2].([]byte)
	prev, ok3 := r[3].([]byte)
	if !ok || !ok1 || !ok2 || !ok3 {
		return SendResult{}, fmt.Errorf("send: unexpected reply %v", r)
	}
	if status == 0 {
		return SendResult{}, ErrUserNotFound
	}
	res := SendResult{MsgID: string(id), Duplicate: status == 2, Previous: string(prev)}
	res.Recipient, res.Online = parseSession(string(where))
	return res, nil
}

// Stored is a private message read from an inbox.
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
	conn, err := b.pool.GetContext(ctx)
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
	out := make([]Stored, 0, len(entries))
	for _, e := range entries {
		var id string
		var fields []string
		if _, err := redis.Scan(e.([]any), &id, &fields); err != nil {
			return nil, err
		}
		m := Stored{ID: id, SentAt: IDTime(id)}
		for i := 0; i+1 < len(fields); i += 2 {
			switch fields[i] {
			case "f":
				m.From, _ = strconv.Atoi(fields[i+1])
			case "n":
				m.FromName = fields[i+1]
			case "c":
				m.Content = fields[i+1]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Delete forgets delivered messages, for many users in one pipeline.
func (b *RedisInbox) Delete(ctx context.Context, ids map[int][]string) error {
	conn, err := b.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for user, list := range ids {
		args := make([]any, 0, len(list)+1)
		args = append(args, inboxKey(user))
		for _, id := range list {
			args = append(args, id)
		}
		if err := conn.Send("XDEL", args...); err != nil {
			return err
		}
	}
	_, err = conn.Do("")
	return err
}

// ValidID reports whether s has the form of a message id ("<ms>-<seq>").
func ValidID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	return ok && digits(ms) && digits(seq)
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
