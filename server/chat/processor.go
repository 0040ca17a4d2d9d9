package chat

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
	"unicode/utf8"

	"chat/common/frame"
	"chat/common/message"
	"chat/server/transport"
)

// The processor: the reading goroutine of a session reads frames and runs each
// request's process, one at a time, in order; it answers 400, 401, 413 and 422
// itself.

// handler runs one request on the session's reading goroutine.
type handler struct {
	run    func(c *session, m message.Message)
	public bool // allowed before login
}

// handlers maps each request type to its process: the user process (userprocess.go),
// the sms process (smsprocess.go) and the room process (roomprocess.go). LogoutMes
// ends the read loop in dispatch.
var handlers = map[string]handler{
	message.LoginMesType:       {run: process(userProcess.login), public: true},
	message.RegisterMesType:    {run: process(userProcess.register), public: true},
	message.PingMesType:        {run: (*session).ping, public: true},
	message.OnlineUsersMesType: {run: process(userProcess.onlineUsers)},
	message.SmsMesType:         {run: process(smsProcess.groupMessage)},
	message.PrivateMesType:     {run: process(smsProcess.privateMessage)},
	message.AckMesType:         {run: process(smsProcess.ack)},
	message.RoomCreateMesType:  {run: process(roomProcess.create)},
	message.RoomJoinMesType:    {run: process(roomProcess.join)},
	message.RoomLeaveMesType:   {run: process(roomProcess.leave)},
	message.RoomKickMesType:    {run: process(roomProcess.kick)},
	message.RoomListMesType:    {run: process(roomProcess.list)},
	message.RoomMembersMesType: {run: process(roomProcess.members)},
	message.RoomMesType:        {run: process(roomProcess.message)},
	message.HistoryMesType:     {run: process(roomProcess.history)},
}

// process makes a handler of a method of a process (userProcess, smsProcess,
// roomProcess): each is the session seen as that process.
func process[P ~struct{ *session }](f func(P, message.Message)) func(*session, message.Message) {
	return func(c *session, m message.Message) { f(P{c}, m) }
}

// maxFrameBeforeLogin bounds a frame before a successful login. What may come then
// (LoginMes, RegisterMes, PingMes) takes a few hundred bytes; a larger frame is a
// protocol violation (413), so that an unauthenticated peer cannot make the server
// hold more than this per connection.
const maxFrameBeforeLogin = 4096

// serve reads the session on a goroutine counted in srv.goroutines. Once the
// reading ends, it ends the session, waits for what is queued to be written
// (or the writer to give up) and untracks the connection. Before that, the
// reading may move on to a fresh goroutine (readLoop), which serves the rest.
func (c *session) serve() {
	reason, movedOn := c.readLoop()
	if movedOn {
		return
	}
	c.t.StopReading()
	userProcess{c}.endSession(reason)
	<-c.t.Gone()
	c.srv.untrack(c)
}

// readLoop reads and dispatches frames until one must end the connection. The
// frames one read brought are a burst: their answers go out in one write, their
// private messages in one Redis round trip (smsprocess.go). A goroutine that has
// handled a burst may hand the reading on to a fresh goroutine and end
// (movedOn), before it waits or after waiting a while: see transport.Conn.Idle.
func (c *session) readLoop() (reason transport.Reason, movedOn bool) {
	handled := false
	for {
		err := transport.ErrHandOn
		if !c.t.Idle(handled) {
			err = c.t.WaitFrame()
		}
		switch {
		case err == transport.ErrHandOn:
			c.srv.goTracked(c.serve)
			return transport.ReasonNone, true
		case err != nil:
			return c.readFailed(err), false
		}
		if reason, end := c.readBurst(); end {
			return reason, false
		}
		handled = true
	}
}

// readBurst handles frames until one ends the connection or the next is not
// buffered in full. From the second frame on it holds the writer, so that the
// burst's answers go out together; a lone frame (a login, say, which may take a
// while) does not keep what others send this session waiting.
func (c *session) readBurst() (reason transport.Reason, end bool) {
	held := false
	defer func() {
		if held {
			c.t.Release()
		}
	}()
	for {
		body, err := c.readFrame()
		if err != nil {
			return c.readFailed(err), true
		}
		c.bodyUTF8 = utf8.Valid(body)
		m, err := message.Decode(body) // copies what it keeps
		if err != nil {
			smsProcess{c}.runSends()
			c.replyError(message.CodeBadEnvelope, "the body is not a message envelope", "")
			return transport.ProtocolViolation, true
		}
		if c.dispatch(m) {
			return transport.LoggedOut, true
		}
		if c.srv.shuttingDown.Load() {
			smsProcess{c}.runSends()
			return transport.ServerShutdown, true
		}
		if !c.t.FrameBuffered() {
			smsProcess{c}.runSends()
			return transport.ReasonNone, false
		}
		if !held {
			c.t.Hold()
			held = true
		}
	}
}

// readFrame reads one frame whose first byte has arrived. Once logged in, a
// session may stay idle as long as it likes, but a frame it has started must
// arrive within FrameTimeout; before login, the login deadline set at accept
// bounds everything.
func (c *session) readFrame() ([]byte, error) {
	limit := c.srv.cfg.MaxFrame
	if c.user == 0 {
		limit = min(limit, maxFrameBeforeLogin)
		return c.t.ReadFrame(limit, 0)
	}
	body, err := c.t.ReadFrame(limit, c.srv.cfg.FrameTimeout)
	// Shutdown sets its flag before its deadline: if ReadFrame cleared that
	// deadline, the flag is seen here.
	if err == nil && c.srv.shuttingDown.Load() {
		c.t.SetReadDeadline(time.Now())
	}
	return body, err
}

// readFailed answers what it can of a failed read and says why the connection ends.
func (c *session) readFailed(err error) transport.Reason {
	smsProcess{c}.runSends() // the burst's answers come first
	switch {
	case err == frame.ErrFrameTooLarge:
		c.replyError(message.CodeTooLarge, "frame too large", "")
		return transport.ProtocolViolation
	case err == frame.ErrEmptyFrame:
		c.replyError(message.CodeBadEnvelope, "empty frame", "")
		return transport.ProtocolViolation
	case c.srv.shuttingDown.Load():
		return transport.ServerShutdown
	case isTimeout(err) && c.user == 0:
		c.replyError(message.CodeUnauthorized, "no login in time", "")
		return transport.LoginTimeout
	case isTimeout(err):
		return transport.FrameTimeout
	}
	return transport.ClientClosed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// dispatch runs the handler of m. It reports whether the user logged out.
func (c *session) dispatch(m message.Message) (logout bool) {
	if m.Type != message.PrivateMesType && m.Type != message.AckMesType {
		smsProcess{c}.runSends() // answers go out in request order
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
func (c *session) unpack(m message.Message, v any) bool {
	if err := message.Unpack(m, v); err != nil {
		smsProcess{c}.runSends()
		c.replyError(message.CodeInvalid, "malformed data: "+err.Error(), m.Type)
		return false
	}
	return true
}

// Answers: reply encodes a response in the form this session reads
// (classic.go) and hands it to replyFrame, which queues a copy of it. Stored
// messages are queued by the session's feeds (delivery.go), broadcasts by the
// node's fan-out (cluster.go).

// reply queues the response v of type typ.
func (c *session) reply(typ string, v any) {
	buf := transport.GetBuffer()
	defer transport.PutBuffer(buf)
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
func (c *session) replyFrame(typ string, f []byte) {
	if !c.srv.fits(f) {
		c.srv.log.Error("response over the frame limit", "type", typ, "bytes", len(f))
		if typ != message.ErrorResMesType { // only under an absurdly low -max-frame
			c.replyError(message.CodeServerError, "server error: the response is too large", typ)
		}
		return
	}
	c.srv.metrics.messagesOut.inc(typ)
	c.t.QueueCopy(f, "")
}

// replyError answers with ErrorResMes (a notice SmsMes for a classic session).
// What it repeats of the request is cut short.
func (c *session) replyError(code int, text, refType string) {
	c.reply(message.ErrorResMesType, message.ErrorResMes{
		Code: code, Error: truncate(text, maxErrorText), RefType: truncate(refType, maxEcho)})
}

func (c *session) ping(message.Message) {
	c.reply(message.PongMesType, message.PongMes{})
}
