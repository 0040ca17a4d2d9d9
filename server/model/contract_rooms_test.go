package model_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"chat/common/message"
	"chat/server/model"
)

func testRooms(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{})
	register(t, st, 5)
	r := st.Rooms
	const roomMembers, userRooms = 3, 2
	a, err := r.Create(ctx, 1, "alpha", userRooms)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Create(ctx, 1, "beta", userRooms)
	if err != nil || b == a {
		t.Fatalf("second room: got %d, %v, want a new id", b, err)
	}
	if _, err := r.Create(ctx, 1, "gamma", userRooms); !errors.Is(err, model.ErrTooManyRooms) {
		t.Errorf("a third room of a user in 2: got %v, want ErrTooManyRooms", err)
	}
	joins := []struct {
		name       string
		room, user int
		want       error
		wantName   string
	}{
		{"a member", a, 2, nil, "alpha"},
		{"again", a, 2, model.ErrAlreadyMember, "alpha"},
		{"the third", a, 3, nil, "alpha"},
		{"a full room", a, 4, model.ErrRoomFull, "alpha"},
		{"no such room", 999, 4, model.ErrNoSuchRoom, ""},
		{"into a second room", b, 2, nil, "beta"},
	}
	for _, tt := range joins {
		m, err := r.Join(ctx, tt.room, tt.user, roomMembers, userRooms)
		if !errors.Is(err, tt.want) || m.Name != tt.wantName {
			t.Errorf("join %s: got %+v, %v, want %q, %v", tt.name, m, err, tt.wantName, tt.want)
		}
		if err == nil && (m.Room != tt.room || m.Cursor != "0-0") {
			t.Errorf("join %s: got %+v, want room %d with cursor 0-0", tt.name, m, tt.room)
		}
	}
	c, err := r.Create(ctx, 5, "gamma", userRooms)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Join(ctx, c, 2, roomMembers, userRooms); !errors.Is(err, model.ErrTooManyRooms) {
		t.Errorf("a user in 2 rooms joins a third: got %v, want ErrTooManyRooms", err)
	}
	list, err := r.List(ctx, 2)
	want := []message.RoomInfo{{RoomID: a, Name: "alpha", Members: 3}, {RoomID: b, Name: "beta", Members: 2}}
	if err != nil || !slices.Equal(list, want) {
		t.Errorf("List of 2: got %v, %v, want %v", list, err, want)
	}
	if list, err := r.List(ctx, 4); err != nil || list == nil || len(list) != 0 {
		t.Errorf("List of a user in no room: got %#v, %v, want an empty list", list, err)
	}
	ms, err := r.Memberships(ctx, 1)
	wantMs := []model.Membership{{Room: a, Name: "alpha", Cursor: "0-0"}, {Room: b, Name: "beta", Cursor: "0-0"}}
	if err != nil || !slices.Equal(ms, wantMs) {
		t.Errorf("Memberships of 1: got %v, %v, want %v", ms, err, wantMs)
	}
	if ms, err := r.Memberships(ctx, 4); err != nil || len(ms) != 0 {
		t.Errorf("Memberships of a user in no room: got %v, %v, want none", ms, err)
	}
	pages := []struct {
		name                      string
		room, user, offset, limit int
		wantTotal                 int
		want                      []message.OnlineUser
		wantErr                   error
	}{
		{"first page", a, 2, 0, 2, 3, []message.OnlineUser{{UserID: 1, UserName: "u1"}, {UserID: 2, UserName: "u2"}}, nil},
		{"second page", a, 3, 2, 2, 3, []message.OnlineUser{{UserID: 3, UserName: "u3"}}, nil},
		{"past the end", a, 3, 5, 2, 3, []message.OnlineUser{}, nil},
		{"not a member", a, 4, 0, 2, 0, nil, model.ErrNotMember},
		{"no such room", 999, 4, 0, 2, 0, nil, model.ErrNoSuchRoom},
	}
	for _, tt := range pages {
		total, users, err := r.Members(ctx, tt.room, tt.user, tt.offset, tt.limit)
		if !errors.Is(err, tt.wantErr) || total != tt.wantTotal || !slices.Equal(users, tt.want) {
			t.Errorf("Members, %s: got %d, %v, %v, want %d, %v, %v", tt.name, total, users, err, tt.wantTotal, tt.want, tt.wantErr)
		}
	}
	removes := []struct {
		name                string
		room, actor, target int
		want                error
		wantRoom, wantWho   string
	}{
		{"a kick by a member", a, 2, 3, model.ErrNotMember, "alpha", ""},
		{"a non-member leaves", a, 4, 4, model.ErrNotMember, "alpha", ""},
		{"no such room", 999, 1, 1, model.ErrNoSuchRoom, "", ""},
		{"a kick by the owner", a, 1, 3, nil, "alpha", "u3"},
		{"the owner leaves", a, 1, 1, nil, "alpha", "u1"},
		{"the last member leaves", a, 2, 2, nil, "alpha", "u2"},
	}
	for _, tt := range removes {
		room, who, err := r.Remove(ctx, tt.room, tt.actor, tt.target)
		if !errors.Is(err, tt.want) || room != tt.wantRoom || who != tt.wantWho {
			t.Errorf("remove, %s: got %q, %q, %v, want %q, %q, %v", tt.name, room, who, err, tt.wantRoom, tt.wantWho, tt.want)
		}
	}
	// The last member left: the room is gone.
	if _, err := r.Join(ctx, a, 4, roomMembers, userRooms); !errors.Is(err, model.ErrNoSuchRoom) {
		t.Errorf("join the room its last member left: got %v, want ErrNoSuchRoom", err)
	}
	// The owner of b leaves; 2 owns it and may kick.
	if _, err := r.Join(ctx, b, 3, roomMembers, userRooms); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Remove(ctx, b, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, who, err := r.Remove(ctx, b, 2, 3); err != nil || who != "u3" {
		t.Errorf("a kick by the member with the lowest id after the owner left: got %q, %v, want u3", who, err)
	}
	if list, _ := r.List(ctx, 1); len(list) != 0 {
		t.Errorf("List of a user who left every room: got %v, want none", list)
	}
}

func testRoomMessages(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{keep: model.Retention{MaxLen: 50}})
	register(t, st, 4)
	r := st.Rooms
	room, err := r.Create(ctx, 1, "talk", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Join(ctx, room, 2, 10, 10); err != nil {
		t.Fatal(err)
	}
	first, err := r.Send(ctx, room, 1, "u1", "hello", "c1", model.Limit{})
	if err != nil || first.Duplicate || first.Previous != "" || first.RoomName != "talk" || !model.ValidID(first.MsgID) {
		t.Fatalf("first message: got %+v, %v, want a new id in talk with nothing before it", first, err)
	}
	sends := []struct {
		name        string
		room, from  int
		clientMsgID string
		want        error
		wantDup     bool
		wantName    string
	}{
		{"a repeated clientMsgId", room, 1, "c1", nil, true, "talk"},
		{"the same clientMsgId from another member", room, 2, "c1", nil, false, "talk"},
		{"not a member", room, 3, "", model.ErrNotMember, false, "talk"},
		{"no such room", 999, 1, "", model.ErrNoSuchRoom, false, ""},
	}
	for _, tt := range sends {
		res, err := r.Send(ctx, tt.room, tt.from, "u", "x", tt.clientMsgID, model.Limit{})
		if !errors.Is(err, tt.want) || res.Duplicate != tt.wantDup || res.RoomName != tt.wantName {
			t.Errorf("send, %s: got %+v, %v, want duplicate %v in %q, %v", tt.name, res, err, tt.wantDup, tt.wantName, tt.want)
		}
		if tt.wantDup && res.MsgID != first.MsgID {
			t.Errorf("send, %s: got id %s, want the first send's %s", tt.name, res.MsgID, first.MsgID)
		}
	}
	// The sender's cursor follows its own messages while it is caught up; a
	// member who acknowledged nothing stays where it was.
	newest, _ := r.Newest(ctx, []int{room, 999})
	if model.CompareIDs(newest[0], first.MsgID) <= 0 || newest[1] != "" {
		t.Errorf("Newest: got %v, want 2's message after %s, and none for no room", newest, first.MsgID)
	}
	for _, tt := range []struct {
		user int
		want string
	}{{1, first.MsgID}, {2, "0-0"}} {
		if ms, _ := r.Memberships(ctx, tt.user); len(ms) != 1 || ms[0].Cursor != tt.want {
			t.Errorf("cursor of %d: got %v, want %s", tt.user, ms, tt.want)
		}
	}
	// A member who joins starts at the newest message.
	m, err := r.Join(ctx, room, 3, 10, 10)
	if err != nil || m.Cursor != newest[0] {
		t.Errorf("join after messages: got %+v, %v, want the cursor at %s", m, err, newest[0])
	}
	var ids []string
	for i := range 60 {
		res, err := r.Send(ctx, room, 3, "u3", strconv.Itoa(i), "", model.Limit{})
		if err != nil {
			t.Fatal(err)
		}
		if want := newest[0]; i == 0 && res.Previous != want {
			t.Errorf("previous of a message: got %s, want %s", res.Previous, want)
		}
		newest[0] = res.MsgID
		ids = append(ids, res.MsgID)
	}
	reads := []struct {
		name    string
		user    int
		after   string
		count   int
		want    []string
		errWant error
	}{
		{"after a cursor", 3, ids[55], 3, []string{"56", "57", "58"}, nil},
		{"to the end", 3, ids[58], 10, []string{"59"}, nil},
		{"after the newest", 3, ids[59], 10, []string{}, nil},
		{"not a member", 4, ids[58], 10, nil, model.ErrNotMember},
	}
	for _, tt := range reads {
		got, err := r.Read(ctx, room, tt.user, tt.after, tt.count)
		if !errors.Is(err, tt.errWant) || (err == nil && !slices.Equal(contents(got), tt.want)) {
			t.Errorf("Read %s: got %v, %v, want %v, %v", tt.name, contents(got), err, tt.want, tt.errWant)
		}
	}
	if _, err := r.Read(ctx, 999, 3, "0-0", 10); !errors.Is(err, model.ErrNoSuchRoom) {
		t.Errorf("Read of no room: got %v, want ErrNoSuchRoom", err)
	}
	histories := []struct {
		name     string
		user     int
		before   string
		limit    int
		want     []string
		wantMore bool
		wantErr  error
	}{
		{"the newest", 3, "", 2, []string{"58", "59"}, true, nil},
		{"before one", 2, ids[20], 2, []string{"18", "19"}, true, nil},
		{"not a member", 4, "", 2, nil, false, model.ErrNotMember},
	}
	for _, tt := range histories {
		name, got, more, err := r.History(ctx, room, tt.user, tt.before, tt.limit)
		if !errors.Is(err, tt.wantErr) || name != "talk" || (err == nil && (!slices.Equal(contents(got), tt.want) || more != tt.wantMore)) {
			t.Errorf("History %s: got %q, %v, more %v, %v; want talk, %v, more %v, %v", tt.name, name, contents(got), more, err, tt.want, tt.wantMore, tt.wantErr)
		}
	}
	if _, _, _, err := r.History(ctx, 999, 3, "", 2); !errors.Is(err, model.ErrNoSuchRoom) {
		t.Errorf("History of no room: got %v, want ErrNoSuchRoom", err)
	}
	// Cursors move forward only, and only in rooms the user is in.
	advances := []struct {
		name string
		ack  string
		want string
	}{
		{"forward", ids[20], ids[20]},
		{"back", ids[10], ids[20]},
		{"not an id", "x", ids[20]},
		{"further", ids[30], ids[30]},
	}
	for _, tt := range advances {
		if err := r.Advance(ctx, map[int]map[int]string{2: {room: tt.ack, 999: ids[0]}}); err != nil {
			t.Fatal(err)
		}
		ms, _ := r.Memberships(ctx, 2)
		if len(ms) != 1 || ms[0].Cursor != tt.want {
			t.Errorf("advance %s: got %v, want the cursor at %s and no other room", tt.name, ms, tt.want)
		}
	}
	// The rate a sender's private messages have is also its rooms'.
	rate := model.Limit{Rate: 0.01, Burst: 2}
	if _, err := sendOne(st, 2, 1, "private", "", model.SendLimits{Rate: rate}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, model.ErrRateLimited} {
		if _, err := r.Send(ctx, room, 2, "u2", "rated", "", rate); !errors.Is(err, want) {
			t.Errorf("room message %d after a private one, at 2 a burst: got %v, want %v", i+1, err, want)
		}
	}
	if _, err := sendOne(st, 2, 1, "private", "", model.SendLimits{Rate: rate}); !errors.Is(err, model.ErrRateLimited) {
		t.Errorf("private message after the burst went to the room: got %v, want ErrRateLimited", err)
	}
}
