package main

import (
	"reflect"
	"testing"
	"time"

	"chat/common/message"
)

func TestIncomingRoomMessages(t *testing.T) {
	h := start(t)
	p := h.login()
	at := testNow.Add(-time.Minute).UnixMilli()
	p.send(message.RoomMesType, &message.RoomMes{RoomID: 3, RoomName: "lobby", MsgID: "3:1-0", FromUserID: 101, FromUserName: "bob", Content: "missed it", SentAt: at, Offline: true})
	p.send(message.RoomMesType, &message.RoomMes{RoomID: 3, RoomName: "lobby", MsgID: "3:2-0", FromUserID: 101, FromUserName: "bob", Content: "live", SentAt: at})
	p.send(message.RoomMesType, &message.RoomMes{RoomID: 3, RoomName: "lobby", MsgID: "3:2-0", FromUserID: 101, FromUserName: "bob", Content: "live", SentAt: at, Offline: true})
	p.send(message.RoomNoticeMesType, &message.RoomNoticeMes{RoomID: 3, UserID: 102, UserName: "carol", Event: message.RoomJoined})
	h.seeAll(
		"[11:59:00] [lobby, missed] bob (101): missed it",
		"[11:59:00] [lobby] bob (101): live",
		"[12:00:00] * carol (102) joined lobby [3]",
	)
	p.expectAcks("3:1-0", "3:2-0", "3:2-0")
	h.seeOnce(": live")
}

func TestRoomRequests(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		typ   string
		want  any
		res   message.RoomResMes
		see   string
	}{
		{"create", []string{"6", "lobby"}, message.RoomCreateMesType, &message.RoomCreateMes{Name: "lobby"},
			message.RoomResMes{Code: 200, RoomID: 7, Name: "lobby"}, "Created room lobby [7]: others join it with its id 7."},
		{"join", []string{"7", "7"}, message.RoomJoinMesType, &message.RoomJoinMes{RoomID: 7},
			message.RoomResMes{Code: 200, RoomID: 7, Name: "lobby"}, "Joined room lobby [7]."},
		{"join twice", []string{"7", "7"}, message.RoomJoinMesType, &message.RoomJoinMes{RoomID: 7},
			message.RoomResMes{Code: 409, RoomID: 7, Error: "already a member"}, "Failed. You are a member already (409)."},
		{"join a full room", []string{"7", "7"}, message.RoomJoinMesType, &message.RoomJoinMes{RoomID: 7},
			message.RoomResMes{Code: 429, RoomID: 7, Error: "the room has as many members as allowed"}, "Failed. A limit is reached (429): the room has as many members as allowed."},
		{"leave", []string{"8", "7"}, message.RoomLeaveMesType, &message.RoomLeaveMes{RoomID: 7},
			message.RoomResMes{Code: 200, RoomID: 7, Name: "lobby"}, "Left room lobby [7]."},
		{"leave no room", []string{"8", "9"}, message.RoomLeaveMesType, &message.RoomLeaveMes{RoomID: 9},
			message.RoomResMes{Code: 404, RoomID: 9}, "Failed. No such room (404)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			p := h.login()
			h.lines(tt.lines...)
			got := reflect.New(reflect.TypeOf(tt.want).Elem()).Interface()
			p.expect(tt.typ, got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request: got %+v, want %+v", got, tt.want)
			}
			p.send(message.RoomResMesType, &tt.res)
			h.see(tt.see)
		})
	}
}

func TestRoomMessageAndHistoryPages(t *testing.T) {
	h := start(t)
	p := h.login()
	h.lines("11", "7", "hi all")
	var sent message.RoomMes
	p.expect(message.RoomMesType, &sent)
	if sent.RoomID != 7 || sent.Content != "hi all" || sent.ClientMsgID == "" {
		t.Errorf("RoomMes: got %+v, want to room 7, the line and a clientMsgId", sent)
	}
	p.send(message.RoomResMesType, &message.RoomResMes{Code: 200, RoomID: 7, Name: "lobby", MsgID: "7:5-0", ClientMsgID: sent.ClientMsgID})
	h.see("Sent to lobby [7].")

	h.lines("12", "r", "7")
	var req message.HistoryMes
	p.expect(message.HistoryMesType, &req)
	if want := (message.HistoryMes{RoomID: 7, Limit: historyPage}); req != want {
		t.Errorf("first page: got %+v, want %+v", req, want)
	}
	item := func(id, text string) message.HistoryItem {
		return message.HistoryItem{MsgID: id, FromUserID: 101, FromUserName: "bob", RoomID: 7, RoomName: "lobby", Content: text, SentAt: testNow.UnixMilli()}
	}
	p.send(message.HistoryResMesType, &message.HistoryResMes{Code: 200, Messages: []message.HistoryItem{item("7:3-0", "three"), item("7:4-0", "four")}, More: true})
	h.see("[12:00:00] [lobby] bob (101): three\n[12:00:00] [lobby] bob (101): four")
	h.lines("more")
	req = message.HistoryMes{}
	p.expect(message.HistoryMesType, &req)
	if want := (message.HistoryMes{RoomID: 7, Before: "7:3-0", Limit: historyPage}); req != want {
		t.Errorf("older page: got %+v, want %+v", req, want)
	}
	p.send(message.HistoryResMesType, &message.HistoryResMes{Code: 200, Messages: []message.HistoryItem{item("7:1-0", "one")}})
	h.see("[12:00:00] [lobby] bob (101): one\n(the beginning of the conversation)")

	h.lines("12", "u", "101")
	req = message.HistoryMes{}
	p.expect(message.HistoryMesType, &req)
	if want := (message.HistoryMes{UserID: 101, Limit: historyPage}); req != want {
		t.Errorf("private history: got %+v, want %+v", req, want)
	}
	p.send(message.HistoryResMesType, &message.HistoryResMes{Code: 404, Error: "no such user"})
	h.see("No such user 101 (404).")
}

func TestRoomMembersAndMyRooms(t *testing.T) {
	h := start(t)
	p := h.login()
	h.lines("9")
	p.expect(message.RoomListMesType, nil)
	p.send(message.RoomListResMesType, &message.RoomListResMes{Code: 200, Rooms: []message.RoomInfo{{RoomID: 7, Name: "lobby", Members: 2}}})
	h.see("Your rooms: 1\n  lobby [7], 2 member(s)")

	h.lines("10", "7")
	var req message.RoomMembersMes
	p.expect(message.RoomMembersMesType, &req)
	if want := (message.RoomMembersMes{RoomID: 7, Limit: onlinePage}); req != want {
		t.Errorf("RoomMembersMes: got %+v, want %+v", req, want)
	}
	p.send(message.RoomMembersResMesType, &message.RoomMembersResMes{Code: 200, Total: 2,
		Users: []message.OnlineUser{{UserID: 100, UserName: "alice"}, {UserID: 101, UserName: "bob"}}})
	h.see("Members of lobby [7]: 2\n  alice (100) (you)\n  bob (101)")

	h.lines("10", "8")
	p.expect(message.RoomMembersMesType, nil)
	p.send(message.RoomMembersResMesType, &message.RoomMembersResMes{Code: 403, Error: "not a member of this room"})
	h.see("Cannot list the members. You are not a member of that room (403): not a member of this room.")
}
