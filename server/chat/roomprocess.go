package chat

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"chat/common/message"
	"chat/server/model"
)

// The room process: rooms (create, join, leave, kick, list, members), room
// messages and their notices to the members on every node, and the history of
// conversations. A room message reaches a member's session through its feeds,
// as a private message does (delivery.go).
type roomProcess struct{ *session }

// roomFailure answers a store error with the code and sentence of the contract.
func roomFailure(err error) (int, string) {
	switch {
	case errors.Is(err, model.ErrNoSuchRoom):
		return message.CodeNoSuchRoom, "no such room"
	case errors.Is(err, model.ErrNotMember):
		return message.CodeNotMember, "not a member of this room"
	case errors.Is(err, model.ErrAlreadyMember):
		return message.CodeAlreadyMember, "already a member of this room"
	case errors.Is(err, model.ErrRoomFull):
		return message.CodeRoomLimit, "the room has as many members as allowed"
	case errors.Is(err, model.ErrTooManyRooms):
		return message.CodeRoomLimit, "you are in as many rooms as allowed"
	case errors.Is(err, model.ErrUserNotFound):
		return message.CodeNoSuchUser, "no such user"
	case errors.Is(err, model.ErrRateLimited):
		return message.CodeRateLimited, "too many messages; slow down"
	}
	return message.CodeServerError, "server error; try again"
}

func checkRoomID(id int) (int, string) {
	if id < 1 || id > message.MaxUserID {
		return message.CodeInvalid, "roomId must be between 1 and 2147483647"
	}
	return 0, ""
}

func checkRoomName(name string, validUTF8 bool) (int, string) {
	if n := utf8.RuneCountInString(name); n < 1 || n > message.MaxRoomNameLen || !validUTF8 || !message.ValidText(name) {
		return message.CodeInvalid, "name must be 1 to 64 characters without control characters"
	}
	return 0, ""
}

func (c roomProcess) answerRoom(res message.RoomResMes) {
	c.reply(message.RoomResMesType, res)
}

func (c roomProcess) create(m message.Message) {
	var req message.RoomCreateMes
	if !c.unpack(m, &req) {
		return
	}
	if code, text := checkRoomName(req.Name, c.bodyUTF8); code != 0 {
		c.answerRoom(message.RoomResMes{Code: code, Error: text})
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	room, err := c.srv.st.Rooms.Create(ctx, c.user, req.Name, c.srv.cfg.UserRooms)
	if err != nil {
		c.logStoreError("room not created", err)
		code, text := roomFailure(err)
		c.answerRoom(message.RoomResMes{Code: code, Error: text})
		return
	}
	c.feeds.joined(room, req.Name, "0-0")
	c.answerRoom(message.RoomResMes{Code: message.CodeOK, RoomID: room, Name: req.Name})
}

func (c roomProcess) join(m message.Message) {
	var req message.RoomJoinMes
	if !c.unpack(m, &req) {
		return
	}
	if code, text := checkRoomID(req.RoomID); code != 0 {
		c.answerRoom(message.RoomResMes{Code: code, Error: text, RoomID: req.RoomID})
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	joined, err := c.srv.st.Rooms.Join(ctx, req.RoomID, c.user, c.srv.cfg.RoomMembers, c.srv.cfg.UserRooms)
	if err != nil {
		c.logStoreError("room not joined", err)
		code, text := roomFailure(err)
		c.answerRoom(message.RoomResMes{Code: code, Error: text, RoomID: req.RoomID, Name: joined.Name})
		return
	}
	c.feeds.joined(req.RoomID, joined.Name, joined.Cursor)
	c.answerRoom(message.RoomResMes{Code: message.CodeOK, RoomID: req.RoomID, Name: joined.Name})
	c.srv.roomEvent(req.RoomID, c.user, c.name, message.RoomJoined)
}

func (c roomProcess) leave(m message.Message) {
	var req message.RoomLeaveMes
	if !c.unpack(m, &req) {
		return
	}
	c.removeMember(req.RoomID, c.user, message.RoomLeft)
}

func (c roomProcess) kick(m message.Message) {
	var req message.RoomKickMes
	if !c.unpack(m, &req) {
		return
	}
	if code, _ := checkUserID(req.UserID); code != 0 || req.UserID == c.user {
		c.answerRoom(message.RoomResMes{Code: message.CodeInvalid, RoomID: req.RoomID,
			Error: "userId must be another member's id (to leave, send RoomLeaveMes)"})
		return
	}
	c.removeMember(req.RoomID, req.UserID, message.RoomRemoved)
}

// removeMember takes target out of room: itself (leave) or by the owner (kick).
func (c roomProcess) removeMember(room, target int, event string) {
	if code, text := checkRoomID(room); code != 0 {
		c.answerRoom(message.RoomResMes{Code: code, Error: text, RoomID: room})
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	name, targetName, err := c.srv.st.Rooms.Remove(ctx, room, c.user, target)
	if err != nil {
		c.logStoreError("member not removed", err)
		code, text := roomFailure(err)
		if errors.Is(err, model.ErrNotMember) && target != c.user {
			text = "only the owner may remove members, and only members"
		}
		c.answerRoom(message.RoomResMes{Code: code, Error: text, RoomID: room, Name: name})
		return
	}
	if target == c.user {
		c.feeds.left(room)
	}
	c.answerRoom(message.RoomResMes{Code: message.CodeOK, RoomID: room, Name: name})
	c.srv.roomEvent(room, target, targetName, event)
}

func (c roomProcess) list(m message.Message) {
	var req message.RoomListMes
	if !c.unpack(m, &req) {
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	rooms, err := c.srv.st.Rooms.List(ctx, c.user)
	if err != nil {
		c.logStoreError("room list not read", err)
		c.reply(message.RoomListResMesType, message.RoomListResMes{Code: message.CodeServerError, Error: "server error; try again", Rooms: []message.RoomInfo{}})
		return
	}
	c.reply(message.RoomListResMesType, message.RoomListResMes{Code: message.CodeOK, Rooms: rooms})
}

func (c roomProcess) members(m message.Message) {
	var req message.RoomMembersMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(res message.RoomMembersResMes) {
		if res.Users == nil {
			res.Users = []message.OnlineUser{}
		}
		c.reply(message.RoomMembersResMesType, res)
	}
	if code, text := checkRoomID(req.RoomID); code != 0 {
		answer(message.RoomMembersResMes{Code: code, Error: text})
		return
	}
	if req.Limit < 1 || req.Limit > message.MaxMembersPage || req.Offset < 0 {
		answer(message.RoomMembersResMes{Code: message.CodeInvalid, Error: "limit must be 1 to 500 and offset at least 0"})
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	total, users, err := c.srv.st.Rooms.Members(ctx, req.RoomID, c.user, req.Offset, req.Limit)
	if err != nil {
		c.logStoreError("room members not read", err)
		code, text := roomFailure(err)
		answer(message.RoomMembersResMes{Code: code, Error: text})
		return
	}
	answer(message.RoomMembersResMes{Code: message.CodeOK, Total: total, Users: users})
}

func (c roomProcess) message(m message.Message) {
	var req message.RoomMes
	if !c.unpack(m, &req) {
		return
	}
	fail := func(code int, text string) {
		c.answerRoom(message.RoomResMes{Code: code, Error: text, RoomID: req.RoomID, ClientMsgID: req.ClientMsgID,
			RetryAfter: retryAfter(code)})
	}
	if len(req.ClientMsgID) > message.MaxClientMsgID {
		fail(message.CodeTooLarge, "clientMsgId is over 64 bytes")
		return
	}
	if code, text := checkRoomID(req.RoomID); code != 0 {
		fail(code, text)
		return
	}
	if code, text := checkContent(req.Content, c.bodyUTF8); code != 0 {
		fail(code, text)
		return
	}
	if !c.privateRate.allow(time.Now()) {
		fail(message.CodeRateLimited, "too many messages; slow down")
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	res, err := c.srv.st.Rooms.Send(ctx, req.RoomID, c.user, c.name, req.Content, req.ClientMsgID, c.srv.sendLimits().Rate)
	if err != nil {
		c.logStoreError("room message not stored", err)
		code, text := roomFailure(err)
		fail(code, text)
		return
	}
	previous := res.Previous
	if res.Duplicate {
		// As for a private message (runSends): the first send may have been kept
		// but never delivered. A message that follows itself wakes the members'
		// room deliveries, which read on from their cursors, instead of being
		// offered as it is.
		previous = res.MsgID
	}
	c.srv.roomMessage(req.RoomID, res.RoomName, previous, model.Stored{
		ID: res.MsgID, From: c.user, FromName: c.name, Content: req.Content, SentAt: model.IDTime(res.MsgID),
	})
	c.answerRoom(message.RoomResMes{Code: message.CodeOK, RoomID: req.RoomID, Name: res.RoomName,
		MsgID: model.RoomMsgID(req.RoomID, res.MsgID), ClientMsgID: req.ClientMsgID})
}

func (c roomProcess) history(m message.Message) {
	var req message.HistoryMes
	if !c.unpack(m, &req) {
		return
	}
	answer := c.replyHistory
	invalid := func(text string) { answer(message.HistoryResMes{Code: message.CodeInvalid, Error: text}) }
	if (req.UserID == 0) == (req.RoomID == 0) {
		invalid("give exactly one of userId and roomId")
		return
	}
	if req.RoomID != 0 {
		if code, text := checkRoomID(req.RoomID); code != 0 {
			invalid(text)
			return
		}
	} else if code, text := checkUserID(req.UserID); code != 0 {
		invalid(text)
		return
	}
	if req.Limit < 1 || req.Limit > message.MaxHistoryPage {
		invalid("limit must be 1 to 100")
		return
	}
	before := req.Before
	if req.RoomID != 0 && before != "" {
		room, id, ok := model.ParseRoomMsgID(before)
		if !ok || room != req.RoomID {
			invalid("before is not a message id of this room")
			return
		}
		before = id
	} else if before != "" && !model.ValidID(before) {
		invalid("before is not a message id")
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	var items []message.HistoryItem
	var more bool
	var err error
	if req.RoomID != 0 {
		items, more, err = c.roomHistory(ctx, req.RoomID, before, req.Limit)
	} else {
		items, more, err = c.privateHistory(ctx, req.UserID, before, req.Limit)
	}
	if err != nil {
		c.logStoreError("history not read", err)
		code, text := roomFailure(err)
		answer(message.HistoryResMes{Code: code, Error: text, RetryAfter: retryAfter(code)})
		return
	}
	answer(message.HistoryResMes{Code: message.CodeOK, Messages: items, More: more})
}

func (c roomProcess) privateHistory(ctx context.Context, other int, before string, limit int) ([]message.HistoryItem, bool, error) {
	msgs, more, err := c.srv.st.Inbox.History(ctx, c.user, other, before, limit)
	items := make([]message.HistoryItem, len(msgs))
	for i, m := range msgs {
		to := other
		if m.From == other {
			to = c.user
		}
		items[i] = message.HistoryItem{MsgID: m.ID, FromUserID: m.From, FromUserName: m.FromName, ToUserID: to,
			Content: m.Content, SentAt: m.SentAt}
	}
	return items, more, err
}

func (c roomProcess) roomHistory(ctx context.Context, room int, before string, limit int) ([]message.HistoryItem, bool, error) {
	name, msgs, more, err := c.srv.st.Rooms.History(ctx, room, c.user, before, limit)
	items := make([]message.HistoryItem, len(msgs))
	for i, m := range msgs {
		items[i] = message.HistoryItem{MsgID: model.RoomMsgID(room, m.ID), FromUserID: m.From, FromUserName: m.FromName,
			RoomID: room, RoomName: name, Content: m.Content, SentAt: m.SentAt}
	}
	return items, more, err
}

// logStoreError logs a failure that is not an expected outcome of the request.
func (c roomProcess) logStoreError(what string, err error) {
	if code, _ := roomFailure(err); code == message.CodeServerError {
		c.srv.log.Warn(what, "user", c.user, "err", err)
	}
}

// roomMessage gets a message just kept in room to every member session: this
// node's at once, the others' through one notice on the bus, retried for a while
// if Redis refuses it. Should it still be lost, the message reaches the members
// elsewhere from their cursor at their next wake or login (every session reads
// its rooms again when a node's subscription comes back).
func (s *Server) roomMessage(room int, roomName, previous string, m model.Stored) {
	s.offerRoomLocal(room, roomName, previous, m)
	s.out.send(model.BroadcastChannel, roomMessageNotice{origin: s.cfg.Node, room: room, roomName: roomName, previous: previous, m: m}.append(nil))
}

// offerRoomLocal offers a room message to this node's sessions in the room; the
// live frame is encoded once for all of them.
func (s *Server) offerRoomLocal(room int, roomName, previous string, m model.Stored) {
	members := s.rooms.sessions(room)
	if len(members) == 0 {
		return
	}
	f, err := message.EncodeFrame(message.RoomMesType, roomMes(room, roomName, m, false))
	if err != nil {
		return
	}
	for _, c := range members {
		c.feeds.offer(room, m, previous, f)
	}
}

// roomEvent tells the room's members online, on every node, that user joined,
// left or was removed; a removed user's session, wherever it is, leaves the room.
// Should the notice be lost, a removed member's session leaves the room at its
// next read, which checks membership.
func (s *Server) roomEvent(room, user int, name, event string) {
	s.roomEventLocal(room, user, name, event)
	s.out.send(model.BroadcastChannel, roomEventNotice{origin: s.cfg.Node, room: room, user: user, event: event, name: name}.append(nil))
}

func (s *Server) roomEventLocal(room, user int, name, event string) {
	members := s.rooms.sessions(room)
	if len(members) == 0 {
		return
	}
	f, err := message.EncodeFrame(message.RoomNoticeMesType,
		message.RoomNoticeMes{RoomID: room, UserID: user, UserName: name, Event: event})
	if err != nil {
		return
	}
	n := 0
	for _, c := range members {
		if event == message.RoomJoined && c.user == user {
			continue // the joiner has its answer
		}
		if c.t.Queue(f, "") {
			n++
		}
		if event == message.RoomRemoved && c.user == user {
			c.feeds.left(room)
		}
	}
	s.metrics.messagesOut.WithLabelValues(message.RoomNoticeMesType).Add(float64(n))
}
