package chat_test

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"

	"chat/common/message"
	"chat/server/chat"
)

// FuzzServerFrames writes arbitrary bytes into a connection of a running server:
// the server must not crash, must not leak goroutines once the connection is
// gone, and another session must keep working throughout.
func FuzzServerFrames(f *testing.F) {
	seed := func(typ string, payload any) []byte {
		f, _ := message.EncodeFrame(typ, payload)
		return f
	}
	f.Add(seed(message.PingMesType, message.PingMes{}))
	f.Add(seed(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password", Proto: 2}))
	f.Add(append(seed(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password"}),
		seed(message.SmsMesType, message.SmsMes{Content: "hi"})...))
	f.Add(seed(message.RegisterMesType, message.RegisterMes{User: message.User{UserID: 5, UserPwd: "password", UserName: "x"}}))
	f.Add(seed(message.PrivateMesType, message.PrivateMes{ToUserID: 1, Content: "hi"}))
	f.Add(seed(message.AckMesType, message.AckMes{MsgIDs: []string{"1-0", "x"}}))
	f.Add(append(append(append(seed(message.LoginMesType, message.LoginMes{UserID: 1, UserPwd: "password", Proto: 2}),
		seed(message.RoomCreateMesType, message.RoomCreateMes{Name: "r"})...),
		seed(message.RoomMesType, message.RoomMes{RoomID: 1, Content: "hi"})...),
		seed(message.HistoryMesType, message.HistoryMes{RoomID: 1, Before: "1:1-0", Limit: 5})...))
	f.Add(seed("NoSuchType", struct{}{}))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(binary.BigEndian.AppendUint32(nil, 5))
	f.Add(envelopeFrame(message.LoginMesType, `{"userId":"x"}`))
	f.Add(rawFrame(`[1,2,3]`))

	r := newStorage(f)
	n := startNode(f, r, "fuzz", func(c *chat.Config) {
		c.LoginTimeout = 200 * time.Millisecond
		c.FrameTimeout = 200 * time.Millisecond
	})
	// The fuzzed connections may log in as user 1 (its password is in the seeds);
	// the witness is user 2, whose password no input guesses, so that none
	// replaces its session.
	dial(f, n.Addr).register(1, "password", "fuzzed")
	witness := dial(f, n.Addr)
	if res := witness.register(2, "witness-9f8e7d6c5b4a", "witness"); res.Code != message.CodeOK {
		f.Fatalf("register the witness: %+v", res)
	}
	if res := witness.login(2, "witness-9f8e7d6c5b4a", message.ProtoAck); res.Code != message.CodeOK {
		f.Fatalf("log in the witness: %+v", res)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		witness.t = t // the fuzz target must report through its own t
		before := runtime.NumGoroutine()
		nc, err := net.Dial("tcp", n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(data)
		// Let the server answer; a connection it keeps open times out by itself.
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				break
			}
		}
		nc.Close()

		witness.send(message.PingMesType, message.PingMes{})
		witness.next(message.PongMesType, nil)
		if !witness.isOpen() {
			t.Fatal("the witness session was closed")
		}
		// Once the connection is gone, so are its goroutines.
		checkFor(t, waitTimeout, "the connection's goroutines to end", func() bool {
			return runtime.NumGoroutine() <= before
		})
	})
}
