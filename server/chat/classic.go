package chat

import (
	"errors"
	"strconv"
	"time"

	"chat/common/frame"
	"chat/common/message"
	"chat/server/model"
)

// Classic sessions (PROTOCOL.md, "Classic sessions"): a client that did not announce
// proto 2 may be the course's own, which reads each frame into an 8,096-byte buffer
// and shows only LoginResMes, RegisterResMes, NotifyUserStatusMes and SmsMes. So
// such a session gets no frame over message.MaxClassicFrame, its private messages
// and notices as SmsMes, and broadcasts of other types not at all.

// errNoClassicFit means a response cannot be made to fit a classic session's frame.
var errNoClassicFit = errors.New("response does not fit a classic frame")

// encodeReply encodes a response for this connection, appended to dst or in a
// frame of its own. After login, a classic session gets an ErrorResMes as a notice
// from the server; and a response that would pass its frame limit carries fewer
// list entries, or is not sent at all.
func (c *session) encodeReply(dst []byte, typ string, v any) ([]byte, error) {
	if !c.classic() {
		return message.AppendFrame(dst, typ, v)
	}
	if e, ok := v.(message.ErrorResMes); ok && c.user != 0 {
		return message.FitSmsFrame(serverNotice("["+strconv.Itoa(e.Code)+"] "+e.Error), nil, message.MaxClassicFrame)
	}
	f, err := message.EncodeFrame(typ, v)
	if err != nil || len(f) <= message.MaxClassicFrame {
		return f, err
	}
	switch r := v.(type) {
	case message.LoginResMes:
		ids := r.UsersId
		return fitList(len(ids), func(n int) ([]byte, error) {
			r.UsersId = ids[:n]
			return message.EncodeFrame(typ, r)
		})
	case message.OnlineUsersResMes:
		users := r.Users
		return fitList(len(users), func(n int) ([]byte, error) {
			r.Users = users[:n]
			return message.EncodeFrame(typ, r)
		})
	case message.RoomMembersResMes:
		users := r.Users
		return fitList(len(users), func(n int) ([]byte, error) {
			r.Users = users[:n]
			return message.EncodeFrame(typ, r)
		})
	case message.RoomListResMes:
		rooms := r.Rooms
		return fitList(len(rooms), func(n int) ([]byte, error) {
			r.Rooms = rooms[:n]
			return message.EncodeFrame(typ, r)
		})
	}
	return nil, errNoClassicFit
}

// fitList returns encode(n) for the largest n up to count whose frame fits a
// classic session. Each try shrinks n in proportion to the excess, so a few tries do.
func fitList(count int, encode func(n int) ([]byte, error)) ([]byte, error) {
	for n := count; ; {
		f, err := encode(n)
		if err != nil || len(f) <= message.MaxClassicFrame {
			return f, err
		}
		if n == 0 {
			return nil, errNoClassicFit
		}
		n = min(n-1, n*message.MaxClassicFrame/len(f))
	}
}

// serverNotice is an SmsMes from the server, for what a classic session must see.
func serverNotice(text string) message.SmsMes {
	return message.SmsMes{
		Content:  text,
		UserID:   message.ServerUserID,
		UserName: message.ServerUserName,
		SentAt:   time.Now().UnixMilli(),
	}
}

// noticeShutdown tells a classic session that the server is going away; a proto-2
// client sees the connection close.
func (c *session) noticeShutdown() {
	if c.user != 0 && c.classic() {
		c.reply(message.SmsMesType, serverNotice("the server is shutting down; log in again in a moment"))
	}
}

// classicFrame returns what classic sessions get of a broadcast frame f of type
// typ: f itself if they can show it and it fits, a group message cut to fit, or nil.
// It runs once per broadcast and node, never per session.
func (s *Server) classicFrame(typ string, f []byte) []byte {
	switch {
	case typ != message.SmsMesType && typ != message.NotifyUserStatusMesType:
		return nil
	case len(f) <= message.MaxClassicFrame:
		return f
	case typ != message.SmsMesType:
		return nil
	}
	var m message.SmsMes
	env, err := message.Decode(f[frame.HeaderLen:])
	if err == nil {
		err = message.Unpack(env, &m)
	}
	if err == nil {
		f, err = message.FitSmsFrame(m, f, message.MaxClassicFrame)
	}
	if err != nil {
		s.log.Error("group message not cut for classic sessions", "err", err)
		return nil
	}
	return f
}

// classicPrivate is the frame of a private message for a classic session: an SmsMes
// from its sender, marked as private, cut if it would not fit.
func classicPrivate(m model.Stored, offline bool) ([]byte, error) {
	prefix := message.PrivatePrefix
	if offline {
		prefix = message.OfflinePrivatePrefix
	}
	return message.FitSmsFrame(message.SmsMes{
		Content:  prefix + m.Content,
		UserID:   m.From,
		UserName: m.FromName,
		MsgID:    m.ID,
		SentAt:   m.SentAt,
	}, nil, message.MaxClassicFrame)
}
