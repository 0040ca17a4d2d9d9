package model

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// History: every private message is kept, with the id its recipient gets, in one
// stream per conversation ("hist:<lower id>:<higher id>", both directions); a room
// message is kept once, in its room's stream, which is both the room's backlog and
// its history. Both are bounded by a Retention.

// Retention bounds what a conversation keeps: at most about MaxLen messages (the
// cap applies on every write; it removes whole stream nodes, so a stream may hold
// up to ~100 more), none older than MaxAge (history reads stop at that age and trim
// what lies beyond it, so that the write path pays no trim by age), and a
// conversation silent for MaxAge (plus a thirtieth) is removed altogether (its TTL).
type Retention struct {
	MaxAge time.Duration
	MaxLen int
}

// DefaultRetention is the server's default: 30 days, 10,000 messages per conversation.
var DefaultRetention = Retention{MaxAge: 30 * 24 * time.Hour, MaxLen: 10000}

func (r Retention) orDefault() Retention {
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultRetention.MaxAge
	}
	if r.MaxLen <= 0 {
		r.MaxLen = DefaultRetention.MaxLen
	}
	return r
}

// args are the write scripts' arguments of r: the cap, the age and the slack of
// the TTL (a stream's TTL is refreshed only once it has fallen below the age, so it
// expires between MaxAge and MaxAge + slack after its last message).
func (r Retention) args() []any {
	return []any{r.MaxLen, r.MaxAge.Milliseconds(), r.slack().Milliseconds()}
}

// slack is how much later than MaxAge a silent conversation may expire: a
// thirtieth of it (a day for 30 days).
func (r Retention) slack() time.Duration { return r.MaxAge / 30 }

// oldest is the id of the oldest message r keeps at now.
func (r Retention) oldest(now time.Time) string {
	return strconv.FormatInt(max(now.Add(-r.MaxAge).UnixMilli(), 0), 10) + "-0"
}

// History returns up to limit messages of the conversation between user and other
// that are older than before ("" for the newest), oldest first, and whether older
// ones exist. ErrUserNotFound if other has no account.
func (b *RedisInbox) History(ctx context.Context, user, other int, before string, limit int) ([]Stored, bool, error) {
	conn, err := get(ctx, b.pool)
	if err != nil {
		return nil, false, err
	}
	exists, err := redis.Bool(conn.Do("HEXISTS", usersKey, other))
	conn.Close()
	if err != nil {
		return nil, false, err
	}
	if !exists {
		return nil, false, ErrUserNotFound
	}
	return readBefore(ctx, b.pool, historyKey(user, other), before, limit, b.keep.oldest(time.Now()))
}

// readBefore reads the newest limit entries of stream key older than before and
// not older than oldest, and trims what is older than oldest.
func readBefore(ctx context.Context, pool *redis.Pool, key, before string, limit int, oldest string) ([]Stored, bool, error) {
	conn, err := get(ctx, pool)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	end := "+"
	if before != "" {
		if !idAfter(before, oldest) {
			// Nothing is older than before: an empty page (Redis would refuse
			// the range "(0-0", which it cannot make exclusive).
			return nil, false, nil
		}
		end = "(" + before
	}
	conn.Send("XTRIM", key, "MINID", "~", oldest)
	entries, err := redis.Values(conn.Do("XREVRANGE", key, end, oldest, "COUNT", limit+1))
	if err != nil {
		return nil, false, err
	}
	more := len(entries) > limit
	if more {
		entries = entries[:limit]
	}
	out, err := parseEntries(entries)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, more, err
}

// idAfter reports whether message id a is newer than b; both are valid ids,
// which may be written with leading zeros.
func idAfter(a, b string) bool {
	ams, aseq, _ := strings.Cut(a, "-")
	bms, bseq, _ := strings.Cut(b, "-")
	am, _ := strconv.ParseUint(ams, 10, 64)
	bm, _ := strconv.ParseUint(bms, 10, 64)
	if am != bm {
		return am > bm
	}
	as, _ := strconv.ParseUint(aseq, 10, 64)
	bs, _ := strconv.ParseUint(bseq, 10, 64)
	return as > bs
}

// parseEntries reads stream entries whose fields are f (sender), n (its name), c (content).
func parseEntries(entries []any) ([]Stored, error) {
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

// RoomMsgID is the wire id of message id of room: "<room>:<id>", so that room
// messages and private messages, which come from different streams, never share an id.
func RoomMsgID(room int, id string) string { return strconv.Itoa(room) + ":" + id }

// ParseRoomMsgID splits a wire id made by RoomMsgID.
func ParseRoomMsgID(s string) (room int, id string, ok bool) {
	r, id, found := strings.Cut(s, ":")
	if !found || !uint64Decimal(r) || !ValidID(id) {
		return 0, "", false
	}
	room, err := strconv.Atoi(r)
	return room, id, err == nil && room > 0
}
