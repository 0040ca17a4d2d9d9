package chat_test

// Tests of what a user's private messages may hold in Redis: acks that take the
// good ids of an AckMes, emptied inboxes deleted, a cap per inbox, dedup keys
// that hold no client bytes.

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"chat/common/message"
	"chat/server/chat"
	"chat/server/model"
)

// offlineMessages has alice (1) send k messages to offline bob (2), then logs
// bob in with proto 2 and returns him with the ids of what he received.
func offlineMessages(t *testing.T, n *node, k int) (alice, bob *client, ids []string) {
	t.Helper()
	alice = user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, 2, "bob")
	for i := range k {
		if res := alice.private(2, "m"+string(rune('0'+i)), ""); res.Code != message.CodeOK {
			t.Fatalf("message %d: got %+v, want 200", i, res)
		}
	}
	bob = login(t, n.Addr, 2, message.ProtoAck)
	for _, f := range bob.nextN(message.PrivateMesType, k) {
		ids = append(ids, decode[message.PrivateMes](t, f).MsgID)
	}
	return alice, bob, ids
}

// inboxLen is how many messages user's inbox holds.
func inboxLen(t *testing.T, r *storage, user int) int {
	t.Helper()
	msgs, err := r.stores(t).Inbox.Read(context.Background(), user, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

func TestAckTakesTheGoodIdsOneByOne(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", nil)
	alice, bob, ids := offlineMessages(t, n, 3)
	// alice's own message: in her inbox, not bob's.
	user(t, n.Addr, 3, "carol", message.ProtoAck).private(1, "to alice", "")
	aliceMsg := decode[message.PrivateMes](t, alice.nextRaw(message.PrivateMesType)).MsgID

	bob.send(message.AckMesType, message.AckMes{MsgIDs: []string{
		ids[0], "99999999999999999999-0", aliceMsg, "not-an-id", ids[1], "1-18446744073709551616",
	}})
	e := nextAs[message.ErrorResMes](bob, message.ErrorResMesType)
	if e.Code != message.CodeInvalid || e.RefType != message.AckMesType || !strings.HasPrefix(e.Error, "3 ") {
		t.Errorf("got %+v, want 422 for the 3 ids that are not message ids", e)
	}
	checkFor(t, waitTimeout, "bob's two good acks to be taken", func() bool { return inboxLen(t, r, 2) == 1 })
	if got := inboxLen(t, r, 1); got != 1 {
		t.Errorf("alice's inbox holds %d messages after bob acked her message's id, want 1", got)
	}
	if !strings.Contains(scrape(t, n), "chat_acks_ignored_total 3") {
		t.Errorf("metrics lack 3 ignored acks")
	}

	// The last ack empties the inbox: in Redis, its stream goes.
	bob.send(message.AckMesType, message.AckMes{MsgIDs: ids[2:]})
	checkFor(t, waitTimeout, "bob's empty inbox to be deleted", func() bool {
		if r.Server == nil {
			return inboxLen(t, r, 2) == 0
		}
		return r.Do(t, "EXISTS", "inbox:2").(int64) == 0
	})
	// A new message makes it again, with an id above the ones bob has seen.
	if res := alice.private(2, "after", ""); res.Code != message.CodeOK || model.CompareIDs(res.MsgID, ids[2]) <= 0 {
		t.Errorf("a message after the inbox was deleted: got %+v, want 200 with an id above %s", res, ids[2])
	}
	if got := decode[message.PrivateMes](t, bob.nextRaw(message.PrivateMesType)); got.Content != "after" {
		t.Errorf("bob got %+v, want the new message", got)
	}
}

func TestAckRemovalFailureIsCounted(t *testing.T) {
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	_, bob, ids := offlineMessages(t, n, 1)
	// Something that is not a stream where bob's inbox was: the removal fails.
	r.Do(t, "DEL", "inbox:2")
	r.Do(t, "SET", "inbox:2", "not a stream")
	bob.send(message.AckMesType, message.AckMes{MsgIDs: ids})
	checkFor(t, waitTimeout, "the failed removal to be counted", func() bool {
		return strings.Contains(scrape(t, n), "chat_ack_removals_failed_total 1")
	})
}

func TestInboxCap(t *testing.T) {
	const most = 3
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.InboxMax = most })
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, 2, "bob")
	for i := range most {
		if res := alice.private(2, "fits", ""); res.Code != message.CodeOK {
			t.Fatalf("message %d: got %+v, want 200", i+1, res)
		}
	}
	res := alice.private(2, "one too many", "")
	if res.Code != message.CodeRateLimited || !strings.Contains(res.Error, "inbox full") || res.MsgID != "" {
		t.Errorf("a message beyond the cap: got %+v, want 429 inbox full without a msgId", res)
	}
	if got := inboxLen(t, r, 2); got != most {
		t.Errorf("inbox holds %d messages, want %d", got, most)
	}
	// Everything acknowledged arrives.
	bob := login(t, n.Addr, 2, message.ProtoAck)
	for _, f := range bob.nextN(message.PrivateMesType, most) {
		if m := decode[message.PrivateMes](t, f); m.Content != "fits" {
			t.Errorf("bob got %q, want only the accepted messages", m.Content)
		}
	}
}

func TestDedupKeysHoldNoClientBytes(t *testing.T) {
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	registerUser(t, n.Addr, 2, "bob")
	for _, id := range []string{"plain", "inbox:2", "a b*?[]{}", strings.Repeat("z", 64), "é\u202e"} {
		if res := alice.private(2, "hi", id); res.Code != message.CodeOK {
			t.Fatalf("clientMsgId %q: got %+v, want 200", id, res)
		}
	}
	keys, _ := r.Do(t, "KEYS", "dedup:*").([]any)
	if len(keys) != 5 {
		t.Fatalf("got dedup keys %q, want 5", keys)
	}
	form := regexp.MustCompile(`^dedup:1:[0-9a-f]{32}$`)
	for _, k := range keys {
		key := string(k.([]byte))
		if !form.MatchString(key) {
			t.Errorf("dedup key %q: want dedup:<sender>:<32 hex digits>", key)
		}
		if ttl := r.Do(t, "PTTL", key).(int64); ttl <= 0 {
			t.Errorf("dedup key %q has PTTL %d, want a bounded life", key, ttl)
		}
	}
}
