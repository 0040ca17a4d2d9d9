package chat_test

// The harness's room requests: create, join, say, read back, acknowledge and page
// through history, each failing the test where the contract says it must work.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"chat/common/message"
)

// roomOfTwo logs ann in on addrA and ben on addrB (proto 2), registering them
// first; ann creates a room named name and ben joins it.
func roomOfTwo(t testing.TB, addrA, addrB string, ann, ben int, name string) (a, b *client, room int) {
	t.Helper()
	a = user(t, addrA, ann, "ann", message.ProtoAck)
	b = user(t, addrB, ben, "ben", message.ProtoAck)
	room = createRoom(a, name)
	joinRoom(b, room)
	return a, b, room
}

// roomDo sends a room request and returns its RoomResMes.
func roomDo(c *client, typ string, payload any) message.RoomResMes {
	c.t.Helper()
	return ask[message.RoomResMes](c, typ, payload, message.RoomResMesType)
}

// createRoom creates a room named name and returns its id.
func createRoom(c *client, name string) int {
	c.t.Helper()
	res := roomDo(c, message.RoomCreateMesType, message.RoomCreateMes{Name: name})
	if res.Code != message.CodeOK || res.RoomID < 1 || res.Name != name {
		c.t.Fatalf("create %q: %+v", name, res)
	}
	return res.RoomID
}

// joinRoom joins room, failing the test unless it answers 200.
func joinRoom(c *client, room int) {
	c.t.Helper()
	if res := roomDo(c, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}); res.Code != message.CodeOK {
		c.t.Fatalf("join %d: %+v", room, res)
	}
}

// sayInRoom sends content to room with clientMsgID and returns the answer,
// failing the test unless it is 200.
func sayInRoom(c *client, room int, content, clientMsgID string) message.RoomResMes {
	c.t.Helper()
	res := roomDo(c, message.RoomMesType, message.RoomMes{RoomID: room, Content: content, ClientMsgID: clientMsgID})
	if res.Code != message.CodeOK || res.MsgID == "" || res.ClientMsgID != clientMsgID {
		c.t.Fatalf("room message %q: %+v", content, res)
	}
	return res
}

// nextRoomMes waits for the next RoomMes.
func nextRoomMes(c *client) message.RoomMes {
	c.t.Helper()
	return nextAs[message.RoomMes](c, message.RoomMesType)
}

// ackAll acknowledges ids.
func ackAll(c *client, ids ...string) {
	c.send(message.AckMesType, message.AckMes{MsgIDs: ids})
}

// acked reports whether user's cursor in room is at the room message msgID: the
// acknowledgement reached the store (in Redis, the hash "rooms:<user>" of
// docs/SCALING.md).
func acked(t *testing.T, r *storage, user, room int, msgID string) bool {
	_, id, _ := strings.Cut(msgID, ":")
	ms, err := r.stores(t).Rooms.Memberships(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Room == room {
			return m.Cursor == id
		}
	}
	return false
}

// history asks for one page of history.
func history(c *client, req message.HistoryMes) message.HistoryResMes {
	c.t.Helper()
	return ask[message.HistoryResMes](c, message.HistoryMesType, req, message.HistoryResMesType)
}

// sayMany sends n messages to room, the ith with content prefix+i and, unless
// idPrefix is empty, clientMsgId idPrefix+i; it returns their msgIds in order.
func sayMany(c *client, room, n int, prefix, idPrefix string) []string {
	c.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		clientMsgID := ""
		if idPrefix != "" {
			clientMsgID = fmt.Sprint(idPrefix, i)
		}
		ids[i] = sayInRoom(c, room, fmt.Sprint(prefix, i), clientMsgID).MsgID
	}
	return ids
}

// checkPages reads the whole history of req's conversation three messages at a
// time, newest page first, and compares it with want (oldest first).
func checkPages(t *testing.T, name string, c *client, req message.HistoryMes, want []message.HistoryItem) {
	t.Helper()
	var got []message.HistoryItem
	req.Limit = 3
	for page := 0; ; page++ {
		res := history(c, req)
		if res.Code != message.CodeOK {
			t.Fatalf("%s, page %d: %+v", name, page, res)
		}
		for i := range res.Messages {
			if res.Messages[i].SentAt == 0 {
				t.Errorf("%s: no sentAt in %+v", name, res.Messages[i])
			}
			res.Messages[i].SentAt = 0
		}
		got = append(res.Messages, got...)
		if wantMore := len(got) < len(want); res.More != wantMore {
			t.Errorf("%s, page %d: more is %v, want %v", name, page, res.More, wantMore)
		}
		if !res.More || page > len(want) {
			break
		}
		req.Before = res.Messages[0].MsgID
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s history:\n got %+v\nwant %+v", name, got, want)
	}
}
