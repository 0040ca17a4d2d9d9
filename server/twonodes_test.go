package main

import (
	"encoding/json"
	"net"
	"slices"
	"testing"
	"time"

	"chat/common/frame"
	"chat/common/message"
	"chat/internal/chattest"
	"chat/internal/redistest"
)

// wire is a minimal proto-2 client for the tests of whole nodes: it sends
// requests and waits for frames of a given type, keeping the others for later.
type wire struct {
	t       *testing.T
	c       net.Conn
	pending []message.Message
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wire{t: t, c: c}
}

func (w *wire) send(typ string, payload any) {
	w.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		w.t.Fatal(err)
	}
	body, _ := json.Marshal(message.Message{Type: typ, Data: string(data)})
	if err := frame.Write(w.c, body); err != nil {
		w.t.Fatalf("send %s: %v", typ, err)
	}
}

// expect returns the next frame of type typ, decoded into into.
// presenceOf returns the next presence change of user that a proto-2 session is
// told of: its lists may carry other users' changes, its own included.
func (w *wire) presenceOf(user int) message.NotifyUserStatusMes {
	w.t.Helper()
	for {
		var list message.NotifyUsersStatusMes
		w.expect(message.NotifyUsersStatusMesType, &list)
		for _, u := range list.Users {
			if u.UserID == user {
				return u
			}
		}
	}
}

func (w *wire) expect(typ string, into any) {
	w.t.Helper()
	for i, m := range w.pending {
		if m.Type == typ {
			w.pending = slices.Delete(w.pending, i, i+1)
			w.decode(m, into)
			return
		}
	}
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		body, err := frame.Read(w.c, message.MaxFrame, nil)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v (kept: %v)", typ, err, w.pending)
		}
		var m message.Message
		if err := json.Unmarshal(body, &m); err != nil {
			w.t.Fatalf("frame %q: %v", body, err)
		}
		if m.Type == typ {
			w.decode(m, into)
			return
		}
		w.pending = append(w.pending, m)
	}
}

func (w *wire) decode(m message.Message, into any) {
	w.t.Helper()
	if err := json.Unmarshal([]byte(m.Data), into); err != nil {
		w.t.Fatalf("%s %q: %v", m.Type, m.Data, err)
	}
}

// login registers id if register, then logs it in (proto 2) and returns its token.
func (w *wire) login(id int, register bool) string {
	w.t.Helper()
	name := "user" + string(rune('0'+id))
	if register {
		w.send(message.RegisterMesType, message.RegisterMes{User: message.User{UserID: id, UserPwd: "secret1", UserName: name}})
		var r message.RegisterResMes
		w.expect(message.RegisterResMesType, &r)
		if r.Code != message.CodeOK {
			w.t.Fatalf("register %d: %+v", id, r)
		}
	}
	w.send(message.LoginMesType, message.LoginMes{UserID: id, UserPwd: "secret1", Proto: message.ProtoAck})
	var r message.LoginResMes
	w.expect(message.LoginResMesType, &r)
	if r.Code != message.CodeOK || r.Token == "" {
		w.t.Fatalf("login %d: %+v", id, r)
	}
	return r.Token
}

// twoNodes is what the two-node test runs on: one Redis, or a cluster.
type twoNodes func(t *testing.T) (a, b string)

func onOneRedis(t *testing.T) (string, string) {
	r := redistest.Start(t)
	args := []string{"-rate-private", "0", "-registrations-per-address", "0", "-log-level", "warn"}
	return chattest.StartServer(t, r.Addr, append(args, "-node", "n1")...).Addr,
		chattest.StartServer(t, r.Addr, append(args, "-node", "n2")...).Addr
}

func onCluster(t *testing.T) (string, string) {
	clusterTest(t)
	rc := redistest.StartCluster(t)
	return startClusterNode(t, rc, "n1").Addr, startClusterNode(t, rc, "n2").Addr
}

// Two nodes on a Redis Cluster behave as two nodes on one Redis: accounts,
// logins and tokens, presence and the online list, private messages across the
// nodes (online and offline), rooms.
func TestTwoNodes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start twoNodes
	}{{"one Redis", onOneRedis}, {"cluster", onCluster}} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := tt.start(t)
			alice, bob := dialWire(t, a), dialWire(t, b)
			alice.login(1, true)
			bobToken := bob.login(2, true)
			st := alice.presenceOf(2)
			if st.UserID != 2 || st.Status != message.UserOnline {
				t.Errorf("alice's presence notice: got %+v, want bob online", st)
			}

			alice.send(message.OnlineUsersMesType, message.OnlineUsersMes{Offset: 0, Limit: 10})
			var online message.OnlineUsersResMes
			alice.expect(message.OnlineUsersResMesType, &online)
			if online.Code != 200 || online.Total != 2 || len(online.Users) != 2 || online.Users[1] != (message.OnlineUser{UserID: 2, UserName: "user2"}) {
				t.Errorf("online list: got %+v, want users 1 and 2 with their names", online)
			}

			// A private message across the nodes, and its resend.
			for range 2 {
				alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "hi bob", ClientMsgID: "c1"})
				var res message.PrivateResMes
				alice.expect(message.PrivateResMesType, &res)
				if res.Code != 200 || res.MsgID == "" {
					t.Fatalf("private message: got %+v", res)
				}
			}
			var pm message.PrivateMes
			bob.expect(message.PrivateMesType, &pm)
			if pm.FromUserID != 1 || pm.Content != "hi bob" {
				t.Errorf("bob got %+v, want alice's message", pm)
			}
			bob.send(message.AckMesType, message.AckMes{MsgIDs: []string{pm.MsgID}})

			// Rooms across the nodes.
			alice.send(message.RoomCreateMesType, message.RoomCreateMes{Name: "hall"})
			var room message.RoomResMes
			alice.expect(message.RoomResMesType, &room)
			if room.Code != 200 || room.RoomID == 0 {
				t.Fatalf("create: got %+v", room)
			}
			bob.send(message.RoomJoinMesType, message.RoomJoinMes{RoomID: room.RoomID})
			var joined message.RoomResMes
			bob.expect(message.RoomResMesType, &joined)
			if joined.Code != 200 || joined.Name != "hall" {
				t.Fatalf("join: got %+v", joined)
			}
			var notice message.RoomNoticeMes
			alice.expect(message.RoomNoticeMesType, &notice)
			if notice.UserID != 2 || notice.Event != message.RoomJoined {
				t.Errorf("alice's room notice: got %+v, want bob joined", notice)
			}
			alice.send(message.RoomMesType, message.RoomMes{RoomID: room.RoomID, Content: "hello room", ClientMsgID: "r1"})
			var sent message.RoomResMes
			alice.expect(message.RoomResMesType, &sent)
			var rm message.RoomMes
			bob.expect(message.RoomMesType, &rm)
			if sent.Code != 200 || rm.Content != "hello room" || rm.FromUserID != 1 {
				t.Errorf("room message: answered %+v, bob got %+v", sent, rm)
			}
			bob.send(message.RoomMembersMesType, message.RoomMembersMes{RoomID: room.RoomID, Limit: 10})
			var members message.RoomMembersResMes
			bob.expect(message.RoomMembersResMesType, &members)
			if members.Total != 2 || len(members.Users) != 2 || members.Users[0].UserName != "user1" {
				t.Errorf("members: got %+v", members)
			}

			// Bob leaves; a message kept for him offline; he comes back on the
			// other node with his token and gets it.
			bob.send(message.LogoutMesType, message.LogoutMes{})
			st = alice.presenceOf(2)
			if st.UserID != 2 || st.Status != message.UserOffline {
				t.Errorf("alice's presence notice: got %+v, want bob offline", st)
			}
			alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "while away", ClientMsgID: "c2"})
			var res message.PrivateResMes
			alice.expect(message.PrivateResMesType, &res)
			if res.Code != 200 || !res.Stored {
				t.Errorf("message to bob away: got %+v, want 200 stored", res)
			}
			back := dialWire(t, a)
			back.send(message.LoginMesType, message.LoginMes{UserID: 2, Token: bobToken, Proto: message.ProtoAck})
			var lr message.LoginResMes
			back.expect(message.LoginResMesType, &lr)
			if lr.Code == 200 {
				t.Errorf("login with a token revoked by the logout: got 200")
			}
			token := back.login(2, false)
			back.expect(message.PrivateMesType, &pm)
			if pm.Content != "while away" || !pm.Offline {
				t.Errorf("bob back: got %+v, want the message kept offline", pm)
			}
			// A token login on the other node.
			again := dialWire(t, b)
			again.send(message.LoginMesType, message.LoginMes{UserID: 2, Token: token, Proto: message.ProtoAck})
			again.expect(message.LoginResMesType, &lr)
			if lr.Code != 200 {
				t.Errorf("token login on the other node: got %+v", lr)
			}
		})
	}
}
