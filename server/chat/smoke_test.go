package chat_test

import (
	"testing"

	"chat/common/message"
	"chat/internal/redistest"
)

func TestPrivateMessageReachesOnlineUser(t *testing.T) {
	r := redistest.Start(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)
	alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "hi bob"})
	var res message.PrivateResMes
	alice.next(message.PrivateResMesType, &res)
	if res.Code != message.CodeOK || res.Stored {
		t.Fatalf("got %+v, want code 200 and stored false", res)
	}
	var got message.PrivateMes
	bob.next(message.PrivateMesType, &got)
	if got.Content != "hi bob" || got.FromUserID != 1 || got.MsgID != res.MsgID {
		t.Fatalf("got %+v, want hi bob from 1 with id %s", got, res.MsgID)
	}
}
