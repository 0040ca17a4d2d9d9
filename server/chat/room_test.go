package chat_test

import (
	"fmt"
	"strings"
	"testing"

	"chat/common/message"
	"chat/server/chat"
)

// TestRoomLifecycle walks a room through create, join, messages, kick and leave,
// with every error code of the contract.
func TestRoomLifecycle(t *testing.T) {
	r := newStorage(t)
	n := startNode(t, r, "n1", func(c *chat.Config) { c.RoomMembers, c.UserRooms = 3, 2 })
	const owner, bob, carol, dave = 101, 102, 103, 104
	a := user(t, n.Addr, owner, "alice", message.ProtoAck)
	b := user(t, n.Addr, bob, "bob", message.ProtoAck)
	c := user(t, n.Addr, carol, "carol", message.ProtoAck)
	d := user(t, n.Addr, dave, "dave", message.ProtoAck)

	room := createRoom(a, "général")
	other := createRoom(c, "carol's")
	createRoom(c, "carol's second")

	for _, tc := range []struct {
		name     string
		by       *client
		typ      string
		payload  any
		wantCode int
	}{
		{"empty name", a, message.RoomCreateMesType, message.RoomCreateMes{Name: ""}, message.CodeInvalid},
		{"name of 65 characters", a, message.RoomCreateMesType, message.RoomCreateMes{Name: strings.Repeat("é", 65)}, message.CodeInvalid},
		{"name with a control character", a, message.RoomCreateMesType, message.RoomCreateMes{Name: "a\nb"}, message.CodeInvalid},
		{"name of 64 characters", b, message.RoomCreateMesType, message.RoomCreateMes{Name: strings.Repeat("é", 64)}, message.CodeOK},
		{"third room of a user", c, message.RoomCreateMesType, message.RoomCreateMes{Name: "one too many"}, message.CodeRoomLimit},
		{"join a room that does not exist", b, message.RoomJoinMesType, message.RoomJoinMes{RoomID: 99999}, message.CodeNoSuchRoom},
		{"join room 0", b, message.RoomJoinMesType, message.RoomJoinMes{RoomID: 0}, message.CodeInvalid},
		{"join", b, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}, message.CodeOK},
		{"join twice", b, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}, message.CodeAlreadyMember},
		{"join a third room", c, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}, message.CodeRoomLimit},
		{"join as third member", d, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}, message.CodeOK},
		{"message from a non-member", c, message.RoomMesType, message.RoomMes{RoomID: room, Content: "hi"}, message.CodeNotMember},
		{"message to no room", c, message.RoomMesType, message.RoomMes{RoomID: 99999, Content: "hi"}, message.CodeNoSuchRoom},
		{"empty message", a, message.RoomMesType, message.RoomMes{RoomID: room, Content: ""}, message.CodeInvalid},
		{"kick by a member", b, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: dave}, message.CodeNotMember},
		{"kick a non-member", a, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: carol}, message.CodeNotMember},
		{"kick oneself", a, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: owner}, message.CodeInvalid},
		{"leave a room one is not in", a, message.RoomLeaveMesType, message.RoomLeaveMes{RoomID: other}, message.CodeNotMember},
	} {
		if got := roomDo(tc.by, tc.typ, tc.payload); got.Code != tc.wantCode {
			t.Errorf("%s: got %+v, want code %d", tc.name, got, tc.wantCode)
		}
	}

	// The room is full with three members: carol cannot join even with a room to spare.
	if got := roomDo(c, message.RoomLeaveMesType, message.RoomLeaveMes{RoomID: other}); got.Code != message.CodeOK {
		t.Fatalf("carol leaves her room: %+v", got)
	}
	if got := roomDo(c, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}); got.Code != message.CodeRoomLimit {
		t.Errorf("join a full room: got %+v, want 429", got)
	}

	// Members are told of joins; the joiner is not.
	var notice message.RoomNoticeMes
	a.next(message.RoomNoticeMesType, &notice)
	if want := (message.RoomNoticeMes{RoomID: room, UserID: bob, UserName: "bob", Event: message.RoomJoined}); notice != want {
		t.Errorf("owner's first notice: got %+v, want %+v", notice, want)
	}
	a.next(message.RoomNoticeMesType, &notice)
	if notice.UserID != dave || notice.Event != message.RoomJoined {
		t.Errorf("owner's second notice: got %+v, want dave joined", notice)
	}

	// Members, paged by id; a non-member may not look.
	for _, tc := range []struct {
		offset, limit int
		wantCode      int
		wantIDs       []int
	}{
		{0, 500, message.CodeOK, []int{owner, bob, dave}},
		{1, 1, message.CodeOK, []int{bob}},
		{3, 10, message.CodeOK, []int{}},
		{0, 0, message.CodeInvalid, []int{}},
		{0, 501, message.CodeInvalid, []int{}},
		{-1, 10, message.CodeInvalid, []int{}},
	} {
		res := ask[message.RoomMembersResMes](b, message.RoomMembersMesType, message.RoomMembersMes{RoomID: room, Offset: tc.offset, Limit: tc.limit}, message.RoomMembersResMesType)
		ids := []int{}
		for _, u := range res.Users {
			ids = append(ids, u.UserID)
		}
		if res.Code != tc.wantCode || fmt.Sprint(ids) != fmt.Sprint(tc.wantIDs) || (res.Code == message.CodeOK && res.Total != 3) {
			t.Errorf("members offset %d limit %d: got %+v, want code %d ids %v total 3", tc.offset, tc.limit, res, tc.wantCode, tc.wantIDs)
		}
		if res.Code == message.CodeOK && len(res.Users) > 0 && res.Users[0].UserName == "" {
			t.Errorf("members: no user names in %+v", res)
		}
	}
	denied := ask[message.RoomMembersResMes](c, message.RoomMembersMesType, message.RoomMembersMes{RoomID: room, Limit: 10}, message.RoomMembersResMesType)
	if denied.Code != message.CodeNotMember {
		t.Errorf("members asked by a non-member: got %+v, want 403", denied)
	}

	// My rooms.
	list := ask[message.RoomListResMes](b, message.RoomListMesType, message.RoomListMes{}, message.RoomListResMesType)
	if list.Code != message.CodeOK || len(list.Rooms) != 2 || list.Rooms[0] != (message.RoomInfo{RoomID: room, Name: "général", Members: 3}) {
		t.Errorf("bob's rooms: got %+v, want his own and général with 3 members", list)
	}

	// The owner removes bob: bob and the others are told, and bob is out.
	if got := roomDo(a, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: bob}); got.Code != message.CodeOK {
		t.Fatalf("kick: %+v", got)
	}
	for _, who := range []*client{a, b, d} {
		var got message.RoomNoticeMes
		who.next(message.RoomNoticeMesType, &got)
		for got.Event == message.RoomJoined { // dave's join, seen by bob
			who.next(message.RoomNoticeMesType, &got)
		}
		if got != (message.RoomNoticeMes{RoomID: room, UserID: bob, UserName: "bob", Event: message.RoomRemoved}) {
			t.Errorf("notice of the kick: got %+v, want bob removed", got)
		}
	}
	if got := roomDo(b, message.RoomMesType, message.RoomMes{RoomID: room, Content: "still here?"}); got.Code != message.CodeNotMember {
		t.Errorf("message from a removed member: got %+v, want 403", got)
	}
	if got := history(b, message.HistoryMes{RoomID: room, Limit: 10}); got.Code != message.CodeNotMember {
		t.Errorf("history asked by a removed member: got %+v, want 403", got)
	}

	// The owner leaves: dave is told and becomes the owner; when he leaves too,
	// the room is gone.
	if got := roomDo(a, message.RoomLeaveMesType, message.RoomLeaveMes{RoomID: room}); got.Code != message.CodeOK {
		t.Fatalf("owner leaves: %+v", got)
	}
	d.next(message.RoomNoticeMesType, &notice)
	if notice.UserID != owner || notice.Event != message.RoomLeft {
		t.Errorf("notice of the owner leaving: got %+v", notice)
	}
	if got := roomDo(d, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}); got.Code != message.CodeAlreadyMember {
		t.Errorf("dave joins again: got %+v, want 409", got)
	}
	joinRoom(a, room)
	if got := roomDo(d, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: owner}); got.Code != message.CodeOK {
		t.Errorf("the new owner removes the old one: got %+v, want 200", got)
	}
	if got := roomDo(d, message.RoomLeaveMesType, message.RoomLeaveMes{RoomID: room}); got.Code != message.CodeOK {
		t.Fatalf("last member leaves: %+v", got)
	}
	if got := roomDo(a, message.RoomJoinMesType, message.RoomJoinMes{RoomID: room}); got.Code != message.CodeNoSuchRoom {
		t.Errorf("join a room whose last member left: got %+v, want 404", got)
	}
}

// TestRoomMessageAcrossNodes: members on three nodes; a message reaches the
// others at once, once, with the room's name, and never its sender; a repeated
// clientMsgId is not delivered twice.
func TestRoomMessageAcrossNodes(t *testing.T) {
	r := newStorage(t)
	nodes := []*node{startNode(t, r, "n1", nil), startNode(t, r, "n2", nil), startNode(t, r, "n3", nil)}
	a := user(t, nodes[0].Addr, 201, "ann", message.ProtoAck)
	b := user(t, nodes[1].Addr, 202, "ben", message.ProtoAck)
	c := user(t, nodes[2].Addr, 203, "cy", message.ProtoAck)
	room := createRoom(a, "three nodes")
	joinRoom(b, room)
	joinRoom(c, room)

	first := sayInRoom(a, room, "hello from n1", "m1")
	again := sayInRoom(a, room, "hello from n1", "m1")
	if again.MsgID != first.MsgID {
		t.Errorf("repeated clientMsgId: got msgId %q, want the first send's %q", again.MsgID, first.MsgID)
	}
	second := sayInRoom(c, room, "hello from n3", "m2")
	for _, tc := range []struct {
		name string
		to   *client
		want []message.RoomMes
	}{
		{"ben on n2", b, []message.RoomMes{
			{RoomID: room, RoomName: "three nodes", MsgID: first.MsgID, FromUserID: 201, FromUserName: "ann", Content: "hello from n1"},
			{RoomID: room, RoomName: "three nodes", MsgID: second.MsgID, FromUserID: 203, FromUserName: "cy", Content: "hello from n3"},
		}},
		{"cy on n3", c, []message.RoomMes{
			{RoomID: room, RoomName: "three nodes", MsgID: first.MsgID, FromUserID: 201, FromUserName: "ann", Content: "hello from n1"},
		}},
		{"ann on n1", a, []message.RoomMes{
			{RoomID: room, RoomName: "three nodes", MsgID: second.MsgID, FromUserID: 203, FromUserName: "cy", Content: "hello from n3"},
		}},
	} {
		for i, want := range tc.want {
			got := nextRoomMes(tc.to)
			got.SentAt = 0
			if got != want {
				t.Errorf("%s, message %d: got %+v, want %+v", tc.name, i, got, want)
			}
		}
	}
	// The owner on n1 removes cy on n3: cy is told there, and gets no more.
	if got := roomDo(a, message.RoomKickMesType, message.RoomKickMes{RoomID: room, UserID: 203}); got.Code != message.CodeOK {
		t.Fatalf("kick across nodes: %+v", got)
	}
	for _, who := range []*client{b, c} {
		var notice message.RoomNoticeMes
		who.next(message.RoomNoticeMesType, &notice)
		for notice.Event == message.RoomJoined {
			who.next(message.RoomNoticeMesType, &notice)
		}
		if notice.UserID != 203 || notice.Event != message.RoomRemoved {
			t.Errorf("notice of the kick: got %+v, want cy removed", notice)
		}
	}
	third := sayInRoom(a, room, "without cy", "")
	if got := nextRoomMes(b); got.MsgID != third.MsgID {
		t.Errorf("ben after the kick: got %+v, want %s", got, third.MsgID)
	}
	// A round trip after the last message: whatever else was sent has arrived.
	for _, who := range []*client{a, b, c} {
		who.send(message.PingMesType, message.PingMes{})
		who.next(message.PongMesType, nil)
		if n := who.count(message.RoomMesType); n != 0 {
			t.Errorf("a member got %d room messages more than sent", n)
		}
	}
}

// TestRoomMissedMessages: a member away gets what was said at its next login,
// marked offline, in order; once acknowledged, never again.
func TestRoomMissedMessages(t *testing.T) {
	r := newStorage(t)
	n1, n2 := startNode(t, r, "n1", nil), startNode(t, r, "n2", nil)
	const ann, ben = 301, 302
	a, b, room := roomOfTwo(t, n1.Addr, n2.Addr, ann, ben, "missed")
	live := sayInRoom(a, room, "before", "")
	if got := nextRoomMes(b); got.MsgID != live.MsgID || got.Offline {
		t.Fatalf("live message: got %+v, want %s online", got, live.MsgID)
	}
	ackAll(b, live.MsgID)

	b.logout()
	sent := sayMany(a, room, 5, "while away ", "away")
	b = login(t, n1.Addr, ben, message.ProtoAck)
	var got []string
	for range sent {
		m := nextRoomMes(b)
		if !m.Offline || m.RoomName != "missed" || m.FromUserID != ann {
			t.Errorf("missed message: got %+v, want offline from ann in missed", m)
		}
		got = append(got, m.MsgID)
	}
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Fatalf("missed messages: got %v, want %v in that order", got, sent)
	}
	ackAll(b, got...)
	checkFor(t, waitTimeout, "the acknowledgement to reach Redis", func() bool {
		return acked(t, r, ben, room, sent[len(sent)-1])
	})

	b = relogin(t, b, n2.Addr, ben)
	fence := sayInRoom(a, room, "after", "")
	if m := nextRoomMes(b); m.MsgID != fence.MsgID || m.Offline {
		t.Errorf("after acknowledging: got %+v, want only the new message %s", m, fence.MsgID)
	}
}

// TestHistory: both directions of a private conversation and a room's history,
// paged back with before, oldest first, with the ids the messages were delivered with.
func TestHistory(t *testing.T) {
	n1, n2 := startTwoNodes(t)
	const ann, ben = 401, 402
	a := user(t, n1.Addr, ann, "ann", message.ProtoAck)
	b := user(t, n2.Addr, ben, "ben", message.ProtoAck)
	var want []message.HistoryItem
	for i := range 7 {
		from, to, fromID, toID, name := a, ben, ann, ben, "ann"
		if i%2 == 1 {
			from, to, fromID, toID, name = b, ann, ben, ann, "ben"
		}
		content := fmt.Sprintf("private %d", i)
		res := from.private(to, content, "")
		if res.Code != message.CodeOK {
			t.Fatalf("private message: %+v", res)
		}
		want = append(want, message.HistoryItem{MsgID: res.MsgID, FromUserID: fromID, FromUserName: name, ToUserID: toID, Content: content})
	}
	checkPages(t, "private, asked by ann", a, message.HistoryMes{UserID: ben}, want)
	checkPages(t, "private, asked by ben", b, message.HistoryMes{UserID: ann}, want)

	room := createRoom(a, "history")
	joinRoom(b, room)
	want = nil
	for i := range 5 {
		from, fromID, name := a, ann, "ann"
		if i%2 == 1 {
			from, fromID, name = b, ben, "ben"
		}
		content := fmt.Sprintf("room %d", i)
		res := sayInRoom(from, room, content, "")
		want = append(want, message.HistoryItem{MsgID: res.MsgID, FromUserID: fromID, FromUserName: name, RoomID: room, RoomName: "history", Content: content})
	}
	checkPages(t, "room", b, message.HistoryMes{RoomID: room}, want)

	for _, tc := range []struct {
		name string
		req  message.HistoryMes
		code int
	}{
		{"neither user nor room", message.HistoryMes{Limit: 10}, message.CodeInvalid},
		{"both user and room", message.HistoryMes{UserID: ben, RoomID: room, Limit: 10}, message.CodeInvalid},
		{"limit 0", message.HistoryMes{UserID: ben}, message.CodeInvalid},
		{"limit 101", message.HistoryMes{UserID: ben, Limit: 101}, message.CodeInvalid},
		{"limit 100", message.HistoryMes{UserID: ben, Limit: 100}, message.CodeOK},
		{"before that is no id", message.HistoryMes{UserID: ben, Before: "x", Limit: 10}, message.CodeInvalid},
		{"before of another room", message.HistoryMes{RoomID: room, Before: "99999:1-0", Limit: 10}, message.CodeInvalid},
		{"no such user", message.HistoryMes{UserID: 499, Limit: 10}, message.CodeNoSuchUser},
		{"no such room", message.HistoryMes{RoomID: 99999, Limit: 10}, message.CodeNoSuchRoom},
	} {
		if got := history(a, tc.req); got.Code != tc.code {
			t.Errorf("%s: got %+v, want code %d", tc.name, got, tc.code)
		}
	}
}

// TestRoomMessageSurvivesCrash: a room message answered 200 by a node that is then
// killed, with Redis restarted after it, reaches the member who was away, and is
// in the history.
func TestRoomMessageSurvivesCrash(t *testing.T) {
	r := needRedis(t)
	n1 := startNode(t, r, "n1", nil)
	p := startProcess(t, r, "-node", "n3")
	const ann, ben = 501, 502
	a, b, room := roomOfTwo(t, p.Addr, n1.Addr, ann, ben, "crash")
	b.logout()

	sent := sayInRoom(a, room, "acknowledged before the crash", "c1")
	p.Kill()
	r.Restart(t)

	var got message.RoomMes
	checkFor(t, waitTimeout, "ben to log in after the restart", func() bool {
		b = dial(t, n1.Addr)
		res := b.login(ben, "password", message.ProtoAck)
		return res.Code == message.CodeOK
	})
	got = nextRoomMes(b)
	if got.MsgID != sent.MsgID || !got.Offline || got.Content != "acknowledged before the crash" {
		t.Errorf("after the crash: got %+v, want %s offline", got, sent.MsgID)
	}
	res := history(b, message.HistoryMes{RoomID: room, Limit: 10})
	if res.Code != message.CodeOK || len(res.Messages) != 1 || res.Messages[0].MsgID != sent.MsgID {
		t.Errorf("history after the crash: got %+v, want the message %s", res, sent.MsgID)
	}
}

// TestRoomUnacknowledgedComeAgain: what a member got but did not acknowledge comes
// again at its next login, after what it missed, all in room order, more than one
// read's worth.
func TestRoomUnacknowledgedComeAgain(t *testing.T) {
	n1, n2 := startTwoNodes(t)
	const ann, ben = 601, 602
	a, b, room := roomOfTwo(t, n1.Addr, n2.Addr, ann, ben, "again")
	var sent []string
	for i := range 3 {
		sent = append(sent, sayInRoom(a, room, fmt.Sprint("seen ", i), "").MsgID)
		if got := nextRoomMes(b); got.MsgID != sent[i] || got.Offline {
			t.Fatalf("live message %d: got %+v, want %s online", i, got, sent[i])
		}
	}
	b.logout()
	sent = append(sent, sayMany(a, room, 300, "missed ", "")...)
	b = login(t, n1.Addr, ben, message.ProtoAck)
	for i, want := range sent {
		if got := nextRoomMes(b); got.MsgID != want || !got.Offline {
			t.Fatalf("message %d at login: got %+v, want %s offline", i, got, want)
		}
	}
}

// TestRoomMessagesWaitForProto2: a member logged in with a classic client is not
// sent room messages (it would not show them); they come at its next proto-2 login.
func TestRoomMessagesWaitForProto2(t *testing.T) {
	_, n := startOneNode(t)
	const ann, ben = 701, 702
	a, b, room := roomOfTwo(t, n.Addr, n.Addr, ann, ben, "proto")
	b.logout()

	classic := dial(t, n.Addr)
	classic.mustLogin(ben, message.ProtoClassic)
	sent := sayInRoom(a, room, "for a proto-2 client", "")
	// A private message after it, which the classic session is sent: by then the
	// room message would have come too.
	a.private(ben, "fence", "")
	checkFor(t, waitTimeout, "the private message on the classic session", func() bool {
		// As a PrivateMes, or as the SmsMes a classic client shows.
		return classic.count(message.PrivateMesType)+classic.count(message.SmsMesType) > 0
	})
	if n := classic.count(message.RoomMesType) + classic.count(message.RoomNoticeMesType); n != 0 {
		t.Errorf("classic session: got %d room frames, want none", n)
	}

	b = relogin(t, classic, n.Addr, ben)
	if got := nextRoomMes(b); got.MsgID != sent.MsgID || !got.Offline {
		t.Errorf("at the proto-2 login: got %+v, want %s offline", got, sent.MsgID)
	}
}
