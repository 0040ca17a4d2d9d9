package chat

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"chat/server/model"
)

// notice is any of the seven kinds of notice.
type notice interface{ append([]byte) []byte }

// parseAny parses a notice of any kind, as onNotice does.
func parseAny(payload []byte) (notice, bool) {
	kind, body, ok := splitNotice(payload)
	if !ok {
		return nil, false
	}
	switch kind {
	case noticeKick:
		return parseKick(body)
	case noticeMessage:
		return parseMessage(body)
	case noticeBroadcast:
		return parseBroadcast(body)
	case noticeRoomMessage:
		return parseRoomMessage(body)
	case noticeRoomEvent:
		return parseRoomEvent(body)
	case noticePresence:
		return parsePresence(body)
	case noticeBatch:
		return parseBatch(body)
	}
	return nil, false
}

func stored(id string, from int, name, content string) model.Stored {
	return model.Stored{ID: id, From: from, FromName: name, Content: content, SentAt: model.IDTime(id)}
}

func TestNoticeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		n    notice
	}{
		{"kick", kickNotice{user: 7, sid: "abc.1f"}},
		{"message, first in inbox", messageNotice{user: 42, m: stored("1700000000000-0", 7, "alice", "hi")}},
		{"message after another", messageNotice{user: 42, previous: "1700000000000-0",
			m: stored("1700000000001-3", 2147483647, "a b c", "spaces and\nnewlines 你好")}},
		{"message, name with digits and spaces", messageNotice{user: 1, previous: "5-5", m: stored("6-0", 1, "12 34", " leading space")}},
		{"broadcast", broadcastNotice{origin: "node-2", exclude: 9, typ: "SmsMes", frame: []byte("\x00\x00\x00\x02{}")}},
		{"broadcast, no one excluded", broadcastNotice{origin: "n", typ: "NotifyUserStatusMes", frame: []byte("a frame with spaces")}},
		{"room message, first", roomMessageNotice{origin: "node1", room: 3, roomName: "the room",
			m: stored("1700000000000-0", 5, "bob", "hello room")}},
		{"room message after another", roomMessageNotice{origin: "node1", room: 2147483647, roomName: "r 1", previous: "1-1",
			m: stored("2-0", 5, "b o b", "")}},
		{"room event", roomEventNotice{origin: "node1", room: 3, user: 5, event: "joined", name: "bob smith"}},
		{"room event, empty name", roomEventNotice{origin: "node1", room: 3, user: 5, event: "removed"}},
		{"presence, one change", presenceNotice{origin: "node1", changes: []presenceChange{{UserID: 5, UserName: "bob"}}}},
		{"presence, names with spaces and digits, one empty", presenceNotice{origin: "node1", changes: []presenceChange{
			{UserID: 5, Status: 1, UserName: "b o b"}, {UserID: 2147483647, UserName: ""}, {UserID: 7, UserName: "12 你好"}}}},
		{"batch of one", batchNotice{notices: [][]byte{[]byte("k 7 s1")}}},
		{"batch", batchNotice{notices: [][]byte{
			messageNotice{user: 42, m: stored("1-0", 7, "al ice", "hi 12 3")}.append(nil),
			[]byte("k 7 s1"),
			roomEventNotice{origin: "node1", room: 3, user: 5, event: "joined", name: "b 2"}.append(nil)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := tt.n.append(nil)
			got, ok := parseAny(payload)
			if !ok || !reflect.DeepEqual(got, tt.n) {
				t.Fatalf("%q: got %+v, %v, want %+v, true", payload, got, ok, tt.n)
			}
		})
	}
}

// TestNoticeFormat pins the notices' bytes: nodes of one cluster must read each
// other's, whatever their version.
func TestNoticeFormat(t *testing.T) {
	tests := []struct {
		n    notice
		want string
	}{
		{kickNotice{user: 7, sid: "s1"}, "k 7 s1"},
		{messageNotice{user: 42, m: stored("1-0", 7, "al ice", "hi")}, "m 42 - 1-0 7 6 al icehi"},
		{broadcastNotice{origin: "n1", exclude: 9, typ: "SmsMes", frame: []byte("F")}, "b n1 9 SmsMes F"},
		{roomMessageNotice{origin: "n1", room: 3, roomName: "rm", previous: "1-0", m: stored("2-0", 5, "bob", "yo")}, "r n1 3 1-0 2-0 5 3 2 bobrmyo"},
		{roomEventNotice{origin: "n1", room: 3, user: 5, event: "left", name: "bob"}, "e n1 3 5 left bob"},
		{presenceNotice{origin: "n1", changes: []presenceChange{{UserID: 5, UserName: "bob"}, {UserID: 6, Status: 1, UserName: "a l"}}},
			"p n1 2 5 0 3 6 1 3 boba l"},
		{presenceNotice{origin: "n1"}, "p n1 0 "},
		{batchNotice{notices: [][]byte{[]byte("k 7 s1"), []byte("m 42 - 1-0 7 2 alhi")}}, "B 2 6 19 k 7 s1m 42 - 1-0 7 2 alhi"},
	}
	for _, tt := range tests {
		if got := string(tt.n.append(nil)); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestNoticeRefused(t *testing.T) {
	for _, bad := range []string{"", "k", "k7 s", "x 1 2", "k x s",
		"m 1 2", "m x - 1-0 7 5 alice", "m 1 - 1-0 7 99 short", "m 1 - 1-0 7 -1 x",
		"b n1 x SmsMes F", "b n1",
		"r n1 3 - 2-0 5 3 2 bo", "r n1 3 - 2-0 5 -1 2 bobrm", "r n1 x - 2-0 5 3 2 bobrm",
		"e n1 3 x left bob", "e n1 3",
		"p n1", "p n1 x ", "p n1 -1 ", "p n1 2 5 0 3 bob", "p n1 1 5 0 4 bob", "p n1 1 5 0 2 bob", "p n1 1 5 x 3 bob",
		"p n1 1 5 0 -1 bob", "p n1 99999999 5 0 3 bob",
		"B", "B 0 ", "B x 6 k 7 s1", "B 1 6 k 7 s", "B 1 5 k 7 s1", "B 1 1 kk 7 s1", "B 1 x k 7 s1", "B 2 6 k 7 s1",
		"B 99999999 6 k 7 s1", "B 1 12 B 1 6 k 7 s1"} {
		if n, ok := parseAny([]byte(bad)); ok {
			t.Errorf("%q: got %+v, want a refusal", bad, n)
		}
	}
}

// FuzzNotice: no payload makes a parse panic, and what parses is written back
// as a notice that parses to the same.
func FuzzNotice(f *testing.F) {
	for _, n := range []notice{
		kickNotice{user: 7, sid: "s1"},
		messageNotice{user: 42, previous: "1-0", m: stored("2-0", 7, "al ice", "hi")},
		broadcastNotice{origin: "n1", exclude: 9, typ: "SmsMes", frame: []byte("F")},
		roomMessageNotice{origin: "n1", room: 3, roomName: "rm", m: stored("2-0", 5, "bob", "yo")},
		roomEventNotice{origin: "n1", room: 3, user: 5, event: "left", name: "bob"},
		presenceNotice{origin: "n1", changes: []presenceChange{{UserID: 5, UserName: "bob"}, {UserID: 6, Status: 1, UserName: "a l"}}},
		batchNotice{notices: [][]byte{[]byte("k 7 s1"), []byte("m 42 - 1-0 7 2 alhi")}},
	} {
		f.Add(n.append(nil))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		n, ok := parseAny(payload)
		if !ok {
			return
		}
		again := n.append(nil)
		m, ok := parseAny(again)
		// Printed, so that an empty frame is one whether nil or not.
		if !ok || fmt.Sprintf("%+v", m) != fmt.Sprintf("%+v", n) {
			t.Fatalf("%q parsed to %+v, written as %q, which parsed to %+v, %v", payload, n, again, m, ok)
		}
		if !bytes.Equal(again, m.append(nil)) {
			t.Fatalf("%q: not stable", again)
		}
	})
}
