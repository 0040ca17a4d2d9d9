package chat_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"chat/common/message"
	"chat/server/chat"
)

// readAllHistory pages through req's conversation with limit 20, from the newest,
// following each page's oldest id, and returns every message, oldest first. Each
// page must be 200 and hold a message while more remain.
func readAllHistory(t *testing.T, c *client, req message.HistoryMes) []message.HistoryItem {
	t.Helper()
	var got []message.HistoryItem
	req.Limit = 20
	for page := 0; page < 50; page++ {
		res := history(c, req)
		if res.Code != message.CodeOK {
			t.Fatalf("page %d: got %+v, want 200", page, res)
		}
		got = append(append([]message.HistoryItem(nil), res.Messages...), got...)
		if !res.More {
			return got
		}
		if len(res.Messages) == 0 {
			t.Fatalf("page %d: no messages, yet more is set", page)
		}
		req.Before = res.Messages[0].MsgID
	}
	t.Fatal("more than 50 pages")
	return nil
}

// checkHistory checks that got is want, message for message, where a message may
// come cut (a prefix of its content, then CutMarker) only if cutOK.
func checkHistory(t *testing.T, got []message.HistoryItem, want []string, contents []string, cutOK bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.MsgID != want[i] {
			t.Errorf("message %d: got id %s, want %s", i, m.MsgID, want[i])
		}
		kept, cut := strings.CutSuffix(m.Content, message.CutMarker)
		switch {
		case m.Content == contents[i]:
		case cut && cutOK && kept != "" && strings.HasPrefix(contents[i], kept) && utf8.ValidString(kept):
		default:
			t.Errorf("message %d: got %.30q... (%d bytes), want the content whole%s", i, m.Content, len(m.Content),
				map[bool]string{true: " or cut and marked", false: ""}[cutOK])
		}
	}
}

// Four messages of 4,096 quotes, each ~16 KB once framed, leave every page of a
// room's and of a private conversation's history readable: for a proto-2 session
// (page bounded by the frame limit), one on a node with a low frame limit, and a
// classic session (8,096 bytes, long contents cut and marked).
func TestHistoryPagesFitLongMessages(t *testing.T) {
	r, n := startOneNode(t)
	low := startNode(t, r, "low", func(c *chat.Config) { c.MaxFrame = 12000 })
	long := strings.Repeat(`"`, message.MaxContentLen)
	contents := []string{"short first", long, long, long, long, "short last"}

	ann := user(t, n.Addr, 1, "ann", message.ProtoAck)
	registerUser(t, n.Addr, 2, "ben")
	room := createRoom(ann, "quotes")
	var roomIDs, privIDs []string
	for i, content := range contents {
		roomIDs = append(roomIDs, sayInRoom(ann, room, content, "").MsgID)
		res := ann.private(2, content, fmt.Sprint("p", i))
		if res.Code != message.CodeOK {
			t.Fatalf("private %d: %+v", i, res)
		}
		privIDs = append(privIDs, res.MsgID)
	}
	readers := []struct {
		name  string
		addr  string
		proto int
		cutOK bool
	}{
		{"proto 2", n.Addr, message.ProtoAck, false},
		{"proto 2, low frame limit", low.Addr, message.ProtoAck, true},
		{"classic", n.Addr, 0, true},
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			meter := meterFrames(t, rd.addr)
			ben := dial(t, meter.Addr)
			ben.mustLogin(2, rd.proto)
			if res := roomDo(ben, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}); res.Code != message.CodeOK && res.Code != message.CodeAlreadyMember {
				t.Fatalf("join: %+v", res)
			}
			checkHistory(t, readAllHistory(t, ben, message.HistoryMes{RoomID: room}), roomIDs, contents, rd.cutOK)
			checkHistory(t, readAllHistory(t, ben, message.HistoryMes{UserID: 1}), privIDs, contents, rd.cutOK)
			limit := message.MaxFrame + 4
			if rd.name == "classic" {
				limit = message.MaxClassicFrame
			}
			if l := meter.Longest(); l > limit {
				t.Errorf("got a frame of %d bytes, want at most %d", l, limit)
			}
		})
	}
}

// logRecorder keeps what a node logs at INFO and above.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A before older than every message is an empty page, 200; a malformed one is
// 422; an id of 0 or below is 422 whichever conversation it names; and none of
// these requests makes the node log above DEBUG.
func TestHistoryCursors(t *testing.T) {
	r, _ := startOneNode(t)
	logs := &logRecorder{}
	n := startNode(t, r, "logged", func(c *chat.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	ann := user(t, n.Addr, 1, "ann", message.ProtoAck)
	registerUser(t, n.Addr, 2, "ben")
	room := createRoom(ann, "cursors")
	sayInRoom(ann, room, "hello", "")
	if res := ann.private(2, "hello", ""); res.Code != message.CodeOK {
		t.Fatal(res)
	}
	before := logs.String()
	rs := fmt.Sprint(room)
	tests := []struct {
		name string
		req  message.HistoryMes
		want int
	}{
		{"room, before 0-0", message.HistoryMes{RoomID: room, Before: rs + ":0-0", Limit: 20}, message.CodeOK},
		{"room, before 0-1", message.HistoryMes{RoomID: room, Before: rs + ":0-1", Limit: 20}, message.CodeOK},
		{"room, before 000-0", message.HistoryMes{RoomID: room, Before: rs + ":000-0", Limit: 20}, message.CodeOK},
		{"private, before 0-0", message.HistoryMes{UserID: 2, Before: "0-0", Limit: 20}, message.CodeOK},
		{"private, before 1-0", message.HistoryMes{UserID: 2, Before: "1-0", Limit: 20}, message.CodeOK},
		{"room, malformed", message.HistoryMes{RoomID: room, Before: rs + ":x-1", Limit: 20}, message.CodeInvalid},
		{"room, no room in before", message.HistoryMes{RoomID: room, Before: "0-0", Limit: 20}, message.CodeInvalid},
		{"private, malformed", message.HistoryMes{UserID: 2, Before: "1-", Limit: 20}, message.CodeInvalid},
		{"private, a room id", message.HistoryMes{UserID: 2, Before: rs + ":0-0", Limit: 20}, message.CodeInvalid},
		{"room -5", message.HistoryMes{RoomID: -5, Limit: 20}, message.CodeInvalid},
		{"user -5", message.HistoryMes{UserID: -5, Limit: 20}, message.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bind(t, ann)
			res := history(ann, tt.req)
			if res.Code != tt.want {
				t.Fatalf("got %+v, want code %d", res, tt.want)
			}
			if tt.want == message.CodeOK && (len(res.Messages) != 0 || res.More) {
				t.Errorf("got %+v, want no messages and more false", res)
			}
		})
	}
	ann.ping()
	if got := strings.TrimPrefix(logs.String(), before); got != "" {
		t.Errorf("the node logged, want nothing above DEBUG:\n%s", got)
	}
}

// A classic session's room lists are cut to fit its frame, and always answered:
// 500 members with long names take far more than 8,096 bytes.
func TestClassicRoomMembersFit(t *testing.T) {
	r, n := startOneNode(t)
	meter := meterFrames(t, n.Addr)
	ann := dial(t, meter.Addr)
	if res := ann.register(1, password, "ann"); res.Code != message.CodeOK {
		t.Fatal(res)
	}
	ann.mustLogin(1, 0)
	room := createRoom(ann, "crowd")
	name := strings.Repeat(`"`, 32)
	st := r.stores(t)
	for id := 2; id <= 500; id++ {
		r.putUser(t, message.User{UserID: id, UserPwd: password, UserName: name})
		if _, err := st.Rooms.Join(context.Background(), room, id, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	res := ask[message.RoomMembersResMes](ann, message.RoomMembersMesType, message.RoomMembersMes{RoomID: room, Limit: 500}, message.RoomMembersResMesType)
	if res.Code != message.CodeOK || res.Total != 500 || len(res.Users) == 0 || len(res.Users) == 500 {
		t.Errorf("got code %d, total %d and %d users, want 200, 500 and a page cut to fit", res.Code, res.Total, len(res.Users))
	}
	if l := meter.Longest(); l > message.MaxClassicFrame {
		t.Errorf("got a frame of %d bytes, want at most %d", l, message.MaxClassicFrame)
	}
}
