package chat

import (
	"context"
	"errors"
	"log/slog"

	"chat/common/message"
)

// handler runs one request on the connection's reading goroutine.
type handler struct {
	run    func(c *conn, m message.Message)
	public bool // allowed before login
}

// handlers maps each request type to its process: the user process (userprocess.go),
// the sms process (smsprocess.go) and the room process (roomprocess.go). LogoutMes
// ends the read loop in dispatch.
var handlers = map[string]handler{
	message.LoginMesType:       {run: (*conn).login, public: true},
	message.RegisterMesType:    {run: (*conn).register, public: true},
	message.PingMesType:        {run: (*conn).ping, public: true},
	message.OnlineUsersMesType: {run: (*conn).onlineUsers},
	message.SmsMesType:         {run: (*conn).groupMessage},
	message.PrivateMesType:     {run: (*conn).privateMessage},
	message.AckMesType:         {run: (*conn).ack},
	message.RoomCreateMesType:  {run: (*conn).roomCreate},
	message.RoomJoinMesType:    {run: (*conn).roomJoin},
	message.RoomLeaveMesType:   {run: (*conn).roomLeave},
	message.RoomKickMesType:    {run: (*conn).roomKick},
	message.RoomListMesType:    {run: (*conn).roomList},
	message.RoomMembersMesType: {run: (*conn).roomMembers},
	message.RoomMesType:        {run: (*conn).roomMessage},
	message.HistoryMesType:     {run: (*conn).history},
}

// dispatch runs the handler of m. It reports whether the user logged out.
func (c *conn) dispatch(m message.Message) (logout bool) {
	if m.Type != message.PrivateMesType && m.Type != message.AckMesType {
		c.runSends() // answers go out in request order
	}
	h, known := handlers[m.Type]
	if !known && m.Type != message.LogoutMesType {
		c.srv.metrics.messagesIn.inc("unknown")
		c.replyError(message.CodeBadEnvelope, "unknown message type", m.Type)
		return false
	}
	c.srv.metrics.messagesIn.inc(m.Type)
	if c.user == 0 && !h.public {
		c.replyError(message.CodeUnauthorized, "log in first", m.Type)
		return false
	}
	if m.Type == message.LogoutMesType {
		return true
	}
	h.run(c, m)
	return false
}

// unpack parses m's payload into v, answering ErrorResMes 422 if it cannot.
func (c *conn) unpack(m message.Message, v any) bool {
	if err := message.Unpack(m, v); err != nil {
		c.runSends()
		c.replyError(message.CodeInvalid, "malformed data: "+err.Error(), m.Type)
		return false
	}
	return true
}

// reply queues a response for this connection, in a form it can read (classic.go).
func (c *conn) reply(typ string, v any) {
	buf := getBuffer()
	defer putBuffer(buf)
	f, err := c.encodeReply((*buf)[:0], typ, v)
	if err != nil {
		level := slog.LevelError
		if errors.Is(err, errNoClassicFit) {
			level = slog.LevelDebug // what the client asked for, not a fault
		}
		c.srv.log.Log(context.Background(), level, "response not sent", "type", typ, "err", err)
		return
	}
	c.replyFrame(typ, f)
	*buf = f[:0] // grown, maybe
}

// replyFrame queues a copy of the response frame f of type typ. Every response is
// bounded by construction; should one still be over the frame limit, the client
// gets 505 instead of a frame it would have to treat as a protocol violation.
func (c *conn) replyFrame(typ string, f []byte) {
	if !c.srv.fits(f) {
		c.srv.log.Error("response over the frame limit", "type", typ, "bytes", len(f))
		if typ != message.ErrorResMesType { // only under an absurdly low -max-frame
			c.replyError(message.CodeServerError, "server error: the response is too large", typ)
		}
		return
	}
	c.srv.metrics.messagesOut.inc(typ)
	c.enqueueCopy(f, "")
}

// replyError answers with ErrorResMes (a notice SmsMes for a classic session).
// What it repeats of the request is cut short.
func (c *conn) replyError(code int, text, refType string) {
	c.reply(message.ErrorResMesType, message.ErrorResMes{
		Code: code, Error: truncate(text, maxErrorText), RefType: truncate(refType, maxEcho)})
}

func (c *conn) ping(message.Message) {
	c.reply(message.PongMesType, message.PongMes{})
}
