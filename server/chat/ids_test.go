package chat_test

import (
	"testing"

	"chat/common/message"
)

// An id of 0 or below is 422 in every request that names a user or a room,
// whichever the request.
func TestIDsBelowOneAreInvalid(t *testing.T) {
	_, n := startOneNode(t)
	ann := user(t, n.Addr, 1, "ann", message.ProtoAck)
	room := createRoom(ann, "ids")
	type req struct {
		typ, resType string
		payload      any
	}
	tests := []struct {
		name string
		req  req
	}{
		{"RoomJoinMes roomId -1", req{message.RoomJoinMesType, message.RoomResMesType, message.RoomJoinMes{RoomID: -1}}},
		{"RoomLeaveMes roomId 0", req{message.RoomLeaveMesType, message.RoomResMesType, message.RoomLeaveMes{RoomID: 0}}},
		{"RoomKickMes roomId -1", req{message.RoomKickMesType, message.RoomResMesType, message.RoomKickMes{RoomID: -1, UserID: 2}}},
		{"RoomKickMes userId -1", req{message.RoomKickMesType, message.RoomResMesType, message.RoomKickMes{RoomID: room, UserID: -1}}},
		{"RoomMembersMes roomId -1", req{message.RoomMembersMesType, message.RoomMembersResMesType, message.RoomMembersMes{RoomID: -1, Limit: 10}}},
		{"RoomMes roomId -1", req{message.RoomMesType, message.RoomResMesType, message.RoomMes{RoomID: -1, Content: "hi"}}},
		{"HistoryMes roomId -5", req{message.HistoryMesType, message.HistoryResMesType, message.HistoryMes{RoomID: -5, Limit: 10}}},
		{"HistoryMes userId -5", req{message.HistoryMesType, message.HistoryResMesType, message.HistoryMes{UserID: -5, Limit: 10}}},
		{"PrivateMes toUserId -1", req{message.PrivateMesType, message.PrivateResMesType, message.PrivateMes{ToUserID: -1, Content: "hi"}}},
		{"LoginMes userId -1", req{message.LoginMesType, message.LoginResMesType, message.LoginMes{UserID: -1, UserPwd: "password"}}},
		{"RegisterMes userId 0", req{message.RegisterMesType, message.RegisterResMesType, message.RegisterMes{User: message.User{UserID: 0, UserPwd: "password", UserName: "x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ann
			if tt.req.typ == message.LoginMesType || tt.req.typ == message.RegisterMesType {
				c = dial(t, n.Addr)
			} else {
				bind(t, ann)
			}
			var res struct {
				Code int `json:"code"`
			}
			if err := c.request(tt.req.typ, tt.req.payload, tt.req.resType, &res, waitTimeout); err != nil {
				t.Fatal(err)
			}
			if res.Code != message.CodeInvalid {
				t.Errorf("got code %d, want %d", res.Code, message.CodeInvalid)
			}
		})
	}
}
