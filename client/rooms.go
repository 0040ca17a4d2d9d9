package main

// Rooms and history: the session menu's items 6 to 12.

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"chat/common/message"
)

// roomsMenu is the second line of the session menu, after the classic items 1-5.
const roomsMenu = "  Rooms: 6 Create  7 Join  8 Leave  9 My rooms  10 Members  11 Room message   12 History"

// roomItem runs session menu item choice if it is a rooms or history item; it
// reports whether it was one.
func (u *UI) roomItem(choice string) (bool, error) {
	var err error
	switch choice {
	case "6":
		err = u.createRoom()
	case "7":
		err = u.roomRequest("Room id to join: ", message.RoomJoinMesType, func(id int) any { return &message.RoomJoinMes{RoomID: id} })
	case "8":
		err = u.roomRequest("Room id to leave: ", message.RoomLeaveMesType, func(id int) any { return &message.RoomLeaveMes{RoomID: id} })
	case "9":
		err = u.myRooms()
	case "10":
		err = u.roomMembers()
	case "11":
		err = u.sayInRoom()
	case "12":
		err = u.browseHistory()
	default:
		return false, nil
	}
	return true, err
}

// askRoomID reads a room id; 0 means the answer was not one (the user was told).
func (u *UI) askRoomID(prompt string) (int, error) {
	s, err := u.ask(prompt, false)
	if err != nil {
		return 0, err
	}
	id, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || id < 1 || id > message.MaxUserID {
		u.say("A room id is a whole number from 1 (see 9 My rooms).")
		return 0, nil
	}
	return id, nil
}

// roomAnswer waits for the RoomResMes answering a request of type typ about room
// (0: any room) and returns it, an ErrorResMes becoming one.
func (u *UI) roomAnswer(typ string, room int, clientMsgID string) (*message.RoomResMes, error) {
	ev, err := u.await(typ, message.RoomResMesType, func(ev Event) bool {
		r := ev.Body.(*message.RoomResMes)
		// Not a late answer to an earlier request.
		return (room == 0 || r.RoomID == room) && r.ClientMsgID == clientMsgID
	})
	if err != nil {
		return nil, u.failed(err)
	}
	r, ok := ev.Body.(*message.RoomResMes)
	if !ok {
		code, text := errorAnswer(ev)
		r = &message.RoomResMes{Code: code, Error: text, RoomID: room}
	}
	if r.Code == message.CodeOK && r.Name != "" {
		u.rooms[r.RoomID] = r.Name
	}
	return r, nil
}

func (u *UI) createRoom() error {
	name, err := u.ask("Room name: ", false)
	if err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > message.MaxRoomNameLen {
		u.say(fmt.Sprintf("A room name has 1 to %d characters; no room created.", message.MaxRoomNameLen))
		return nil
	}
	if err := u.send(message.RoomCreateMesType, &message.RoomCreateMes{Name: name}); err != nil {
		return err
	}
	r, err := u.roomAnswer(message.RoomCreateMesType, 0, "")
	if err != nil || r == nil {
		return err
	}
	u.say(RoomResult(message.RoomCreateMesType, r))
	return nil
}

// roomRequest asks for a room id and sends the request req makes of it (join, leave).
func (u *UI) roomRequest(prompt, typ string, req func(int) any) error {
	id, err := u.askRoomID(prompt)
	if err != nil || id == 0 {
		return err
	}
	if err := u.send(typ, req(id)); err != nil {
		return err
	}
	r, err := u.roomAnswer(typ, id, "")
	if err != nil || r == nil {
		return err
	}
	u.say(RoomResult(typ, r))
	return nil
}

func (u *UI) myRooms() error {
	if err := u.send(message.RoomListMesType, &message.RoomListMes{}); err != nil {
		return err
	}
	ev, err := u.await(message.RoomListMesType, message.RoomListResMesType, nil)
	if err != nil {
		return u.failed(err)
	}
	r, ok := ev.Body.(*message.RoomListResMes)
	if !ok || r.Code != message.CodeOK {
		code, text := errorAnswer(ev)
		if ok {
			code, text = r.Code, r.Error
		}
		u.say("Cannot list your rooms. " + failure(code, text))
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your rooms: %d", len(r.Rooms))
	for _, room := range r.Rooms {
		u.rooms[room.RoomID] = room.Name
		fmt.Fprintf(&b, "\n  %s, %d member(s)", roomName(room.Name, room.RoomID), room.Members)
	}
	u.say(b.String())
	return nil
}

func (u *UI) roomMembers() error {
	id, err := u.askRoomID("Room id: ")
	if err != nil || id == 0 {
		return err
	}
	return u.listUsers("Members of "+roomName(u.rooms[id], id), "Cannot list the members.",
		message.RoomMembersMesType, message.RoomMembersResMesType,
		func(offset int) any { return &message.RoomMembersMes{RoomID: id, Offset: offset, Limit: onlinePage} }, roomFailure)
}

func (u *UI) sayInRoom() error {
	id, err := u.askRoomID("Room id: ")
	if err != nil || id == 0 {
		return err
	}
	text, err := u.ask("Message: ", false)
	if err != nil || !u.validContent(text) {
		return err
	}
	cid := rand.Text()
	if err := u.send(message.RoomMesType, &message.RoomMes{RoomID: id, Content: text, ClientMsgID: cid}); err != nil {
		return err
	}
	r, err := u.roomAnswer(message.RoomMesType, id, cid)
	if err != nil || r == nil {
		return err
	}
	if r.Code != message.CodeOK {
		u.say("Not sent. " + roomFailure(r.Code, r.Error))
		return nil
	}
	u.say("Sent to " + roomName(r.Name, id) + ".")
	u.record(u.View.SentRoom(roomName(r.Name, id), text))
	return nil
}

// historyPage is how many messages one page of history shows.
const historyPage = 20

// browseHistory shows the last page of a conversation, and older pages on demand.
func (u *UI) browseHistory() error {
	kind, err := u.ask("History of a (u)ser or a (r)oom? ", false)
	if err != nil {
		return err
	}
	var req message.HistoryMes
	switch strings.ToLower(strings.TrimSpace(kind)) {
	case "u", "user":
		req.UserID, err = u.askID("User id: ")
		if err != nil || req.UserID == 0 {
			return err
		}
	case "r", "room":
		req.RoomID, err = u.askRoomID("Room id: ")
		if err != nil || req.RoomID == 0 {
			return err
		}
	default:
		u.say("Please answer u or r.")
		return nil
	}
	req.Limit = historyPage
	for {
		if err := u.send(message.HistoryMesType, &req); err != nil {
			return err
		}
		ev, err := u.await(message.HistoryMesType, message.HistoryResMesType, nil)
		if err != nil {
			return u.failed(err)
		}
		r, ok := ev.Body.(*message.HistoryResMes)
		if !ok || r.Code != message.CodeOK {
			code, text := errorAnswer(ev)
			if ok {
				code, text = r.Code, r.Error
			}
			if code == message.CodeNoSuchUser && req.UserID != 0 {
				u.say(fmt.Sprintf("No such user %d (404).", req.UserID))
			} else {
				u.say("Cannot read the history. " + roomFailure(code, text))
			}
			return nil
		}
		if len(r.Messages) == 0 {
			u.say("No messages.")
			return nil
		}
		lines := make([]string, len(r.Messages))
		for i := range r.Messages {
			m := &r.Messages[i]
			u.names[m.FromUserID] = m.FromUserName
			lines[i] = u.View.HistoryItem(m, u.names[m.ToUserID])
		}
		u.say(strings.Join(lines, "\n"))
		if !r.More {
			u.say("(the beginning of the conversation)")
			return nil
		}
		again, err := u.ask("Type more for older messages, Enter to stop: ", false)
		if err != nil || strings.TrimSpace(strings.ToLower(again)) != "more" {
			return err
		}
		req.Before = r.Messages[0].MsgID
	}
}

// roomName names a room as "general [3]", or "room 3" when the name is unknown.
func roomName(name string, id int) string {
	if name == "" {
		return "room " + strconv.Itoa(id)
	}
	return clean(name) + " [" + strconv.Itoa(id) + "]"
}

// roomFailure explains a non-200 code of a room request.
func roomFailure(code int, serverErr string) string {
	switch code {
	case message.CodeNoSuchRoom:
		return "No such room (404)."
	case message.CodeNotMember:
		return "You are not a member of that room (403)" + detail(serverErr) + "."
	case message.CodeAlreadyMember:
		return "You are a member already (409)."
	case message.CodeRoomLimit:
		return "A limit is reached (429)" + detail(serverErr) + "."
	}
	return failure(code, serverErr)
}

func detail(serverErr string) string {
	if serverErr == "" {
		return ""
	}
	return ": " + strings.TrimRight(clean(serverErr), ".")
}

// RoomResult explains the answer to a create, join or leave.
func RoomResult(typ string, r *message.RoomResMes) string {
	if r.Code != message.CodeOK {
		return "Failed. " + roomFailure(r.Code, r.Error)
	}
	room := roomName(r.Name, r.RoomID)
	switch typ {
	case message.RoomCreateMesType:
		return fmt.Sprintf("Created room %s: others join it with its id %d.", room, r.RoomID)
	case message.RoomJoinMesType:
		return "Joined room " + room + "."
	case message.RoomLeaveMesType:
		return "Left room " + room + "."
	}
	return "Done."
}

// Room formats a received room message: [room name] sender: text.
func (v View) Room(m *message.RoomMes) string {
	kind := "[" + clean(m.RoomName) + "]"
	if m.Offline {
		kind = "[" + clean(m.RoomName) + ", missed]"
	}
	return fmt.Sprintf("%s %s %s: %s", v.stamp(m.SentAt), kind, who(m.FromUserName, m.FromUserID), clean(m.Content))
}

// SentRoom formats a room message this user sent.
func (v View) SentRoom(room, content string) string {
	return fmt.Sprintf("%s [%s] you: %s", v.stamp(0), room, clean(content))
}

// roomNoticeWords words the events of a RoomNoticeMes.
var roomNoticeWords = map[string]string{
	message.RoomJoined:  "joined",
	message.RoomLeft:    "left",
	message.RoomRemoved: "was removed from",
}

// RoomNotice formats a RoomNoticeMes about the room named room.
func (v View) RoomNotice(m *message.RoomNoticeMes, room string) string {
	return v.notice(m.UserName, m.UserID, wordFor(roomNoticeWords, m.Event, "changed")+" "+roomName(room, m.RoomID))
}

// HistoryItem formats one message of a history page; toName is the recipient's
// name of a private message, if known.
func (v View) HistoryItem(m *message.HistoryItem, toName string) string {
	if m.RoomID != 0 {
		return fmt.Sprintf("%s [%s] %s: %s", v.stamp(m.SentAt), clean(m.RoomName), who(m.FromUserName, m.FromUserID), clean(m.Content))
	}
	return fmt.Sprintf("%s [private] %s -> %s: %s", v.stamp(m.SentAt), who(m.FromUserName, m.FromUserID), who(toName, m.ToUserID), clean(m.Content))
}
