package model_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/redistest"
	"chat/server/model"
)

// storeOn returns the inbox and room stores on a new Redis, with users 1..users
// registered, and the Redis.
func storeOn(t *testing.T, keep model.Retention, users int) (*model.RedisInbox, *model.RedisRooms, *redistest.Server) {
	t.Helper()
	r := redistest.Start(t)
	pool := model.NewPool(model.PoolConfig{Addr: r.Addr})
	t.Cleanup(func() { pool.Close() })
	for id := 1; id <= users; id++ {
		r.Do(t, "HSET", "users", id, fmt.Sprintf(`{"userId":%d,"userName":"u%d"}`, id, id))
	}
	return model.NewRedisInbox(pool, time.Hour, keep), model.NewRedisRooms(pool, time.Hour, keep), r
}

// TestPrivateHistoryTakesTheDeliveredID: a private message has one id, in the
// recipient's inbox and in the history, even when the conversation's other
// direction took a later id first (as it may within one millisecond).
func TestPrivateHistoryTakesTheDeliveredID(t *testing.T) {
	inbox, _, r := storeOn(t, model.Retention{}, 2)
	ctx := context.Background()
	// A reply from 2 to 1 took an id later than any 2's inbox will give now.
	r.Do(t, "XADD", "hist:{1:2}", "9999999999999-5", "f", "2", "n", "u2", "c", "from the future")
	res, err := inbox.SendOne(ctx, 1, "u1", 2, "hello", "", model.SendLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "9999999999999-6"; res.MsgID != want {
		t.Errorf("msgId: got %s, want %s (after the history's newest)", res.MsgID, want)
	}
	delivered, err := inbox.Read(ctx, 2, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 1 || delivered[0].ID != res.MsgID || delivered[0].Content != "hello" {
		t.Errorf("inbox: got %+v, want the one message %s", delivered, res.MsgID)
	}
	hist, more, err := inbox.History(ctx, 2, 1, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || more || hist[1].ID != res.MsgID || hist[1].From != 1 || hist[1].Content != "hello" {
		t.Errorf("history: got %+v (more %v), want the reply then %s", hist, more, res.MsgID)
	}
	// The next message goes on from there in both streams.
	next, err := inbox.SendOne(ctx, 1, "u1", 2, "again", "", model.SendLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if model.CompareIDs(next.MsgID, res.MsgID) <= 0 || next.Previous != res.MsgID {
		t.Errorf("next message: got %+v, want an id after %s with it as previous", next, res.MsgID)
	}
}

// TestRetentionBoundsHistory: a conversation keeps about its cap of messages, and
// expires when silent for its age.
func TestRetentionBoundsHistory(t *testing.T) {
	keep := model.Retention{MaxAge: time.Hour, MaxLen: 50}
	inbox, rooms, r := storeOn(t, keep, 2)
	ctx := context.Background()
	room, err := rooms.Create(ctx, 1, "capped", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := inbox.SendOne(ctx, 1, "u1", 2, strconv.Itoa(i), "", model.SendLimits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := rooms.Send(ctx, room, 1, "u1", strconv.Itoa(i), "", model.Limit{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"hist:{1:2}", model.RoomLogKey(room)} {
		n, _ := redis.Int(r.Do(t, "XLEN", key), nil)
		// Trimming removes whole stream nodes (100 entries by default).
		if n < keep.MaxLen || n > keep.MaxLen+100 {
			t.Errorf("%s: %d messages kept, want %d to %d", key, n, keep.MaxLen, keep.MaxLen+100)
		}
		ttl, _ := redis.Int64(r.Do(t, "PTTL", key), nil)
		if maxTTL := (keep.MaxAge + keep.MaxAge/30).Milliseconds(); ttl < keep.MaxAge.Milliseconds()-60000 || ttl > maxTTL {
			t.Errorf("%s: TTL %d ms, want about %d to %d", key, ttl, keep.MaxAge.Milliseconds(), maxTTL)
		}
	}
	msgs, more, err := inbox.History(ctx, 1, 2, "", 1)
	if err != nil || len(msgs) != 1 || msgs[0].Content != "999" || !more {
		t.Errorf("newest message: got %+v, more %v, err %v; want 999 and more", msgs, more, err)
	}
}

// TestHistoryMemoryPerMessage measures the Redis memory of stored history, for
// docs/SCALING.md: 10,000 private messages of 100 bytes in one conversation, and
// as many in one room.
func TestHistoryMemoryPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 20,000 messages")
	}
	const messages, size = 10000, 100
	inbox, rooms, r := storeOn(t, model.Retention{}, 2)
	ctx := context.Background()
	room, err := rooms.Create(ctx, 1, "measured", 10)
	if err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("x", size)
	for range messages {
		if _, err := inbox.SendOne(ctx, 1, "user one", 2, content, "", model.SendLimits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := rooms.Send(ctx, room, 1, "user one", content, "", model.Limit{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"hist:{1:2}", model.RoomLogKey(room)} {
		bytes, _ := redis.Int(r.Do(t, "MEMORY", "USAGE", key, "SAMPLES", 0), nil)
		per := float64(bytes) / messages
		t.Logf("MEMORY USAGE %s SAMPLES 0: %d bytes for %d messages of %d bytes: %.0f bytes per message", key, bytes, messages, size, per)
		// Entries share their field names within a stream node: the cost is the
		// content and little more.
		if per < size || per > 2*size {
			t.Errorf("%s: %.0f bytes per message of %d bytes, want %d to %d", key, per, size, size, 2*size)
		}
	}
}
