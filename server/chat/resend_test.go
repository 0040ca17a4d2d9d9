package chat_test

import (
	"context"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// A send kept by Redis after its request timed out (the sender got 505) is in the
// recipient's inbox or room, but nothing delivered it. The sender's resend with
// the same clientMsgId is answered from the dedup; it must get the message to the
// recipient online, on this node or another, within a second: private messages
// and room messages.
func TestResendFromDedupDelivers(t *testing.T) {
	for _, tt := range []struct {
		name  string
		other bool
	}{{"same node", false}, {"other node", true}} {
		t.Run(tt.name, func(t *testing.T) {
			r := newStorage(t)
			n1, n2 := startNode(t, r, "n1", nil), startNode(t, r, "n2", nil)
			bAddr := n1.Addr
			if tt.other {
				bAddr = n2.Addr
			}
			ann, ben, room := roomOfTwo(t, n1.Addr, bAddr, 1, 2, "resend")
			st := r.stores(t)
			ctx := context.Background()

			// Kept behind the server's back, as a script Redis ran late is.
			sent, errs := st.Inbox.Send(ctx, 1, "ann", []model.SendRequest{{To: 2, Content: "late private", ClientMsgID: "p1"}}, model.SendLimits{})
			if errs[0] != nil {
				t.Fatal(errs[0])
			}
			kept := sent[0]
			res := ann.private(2, "late private", "p1")
			if res.Code != message.CodeOK || res.MsgID != kept.MsgID {
				t.Fatalf("resend: got %+v, want 200 with msgId %s", res, kept.MsgID)
			}
			var got message.PrivateMes
			ben.nextMatch(time.Second, message.PrivateMesType, "the private message kept late",
				matching(func(m message.PrivateMes) bool { return m.MsgID == kept.MsgID }), &got)
			if got.Content != "late private" || got.FromUserID != 1 {
				t.Errorf("got %+v, want the message kept late", got)
			}

			keptRoom, err := st.Rooms.Send(ctx, room, 1, "ann", "late room", "r1", model.Limit{})
			if err != nil {
				t.Fatal(err)
			}
			rres := sayInRoom(ann, room, "late room", "r1")
			if want := model.RoomMsgID(room, keptRoom.MsgID); rres.MsgID != want {
				t.Fatalf("room resend: got %+v, want msgId %s", rres, want)
			}
			var gotRoom message.RoomMes
			ben.nextMatch(time.Second, message.RoomMesType, "the room message kept late",
				matching(func(m message.RoomMes) bool { return m.MsgID == rres.MsgID }), &gotRoom)

			// Delivered once: a second resend brings no copy.
			ann.private(2, "late private", "p1")
			sayInRoom(ann, room, "late room", "r1")
			ben.ping()
			if k := ben.countMatch(message.PrivateMesType, matching(func(m message.PrivateMes) bool { return m.MsgID == kept.MsgID })); k != 0 {
				t.Errorf("got %d more copies of the private message, want none", k)
			}
			if k := ben.countMatch(message.RoomMesType, matching(func(m message.RoomMes) bool { return m.MsgID == rres.MsgID })); k != 0 {
				t.Errorf("got %d more copies of the room message, want none", k)
			}
		})
	}
}
