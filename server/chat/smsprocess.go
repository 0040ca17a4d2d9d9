package chat

import (
	"errors"
	"strconv"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// The sms process: group messages, private messages and their acknowledgements.

func (c *conn) groupMessage(m message.Message) {
	var req message.SmsMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(code int, text, msgID string) {
		if c.proto == message.ProtoAck {
			c.reply(message.SmsResMesType, message.SmsResMes{Code: code, Error: text, MsgID: msgID})
		} else if code != message.CodeOK {
			c.replyError(code, text, m.Type)
		}
	}
	if code, text := checkContent(req.Content, c.bodyUTF8); code != 0 {
		answer(code, text, "")
		return
	}
	// The connection's bucket turns a flood away without a round trip; the
	// user's limit in Redis holds across its logins and the nodes.
	if !c.groupRate.allow(time.Now()) || !c.groupAllowed() {
		answer(message.CodeRateLimited, "too many group messages; slow down", "")
		return
	}
	// The sender's identity is the session's, whatever the client wrote.
	out := message.SmsMes{
		Content:  req.Content,
		UserID:   c.user,
		UserName: c.name,
		MsgID:    "g" + c.srv.newID(),
		SentAt:   time.Now().UnixMilli(),
	}
	f, err := message.EncodeFrame(message.SmsMesType, out)
	if err != nil {
		answer(message.CodeServerError, "server error", "")
		return
	}
	if err := c.srv.broadcast(message.SmsMesType, f, c.user); err != nil {
		answer(message.CodeServerError, "delivered on this server only: the other servers are unreachable", out.MsgID)
		return
	}
	answer(message.CodeOK, "", out.MsgID)
}

func (c *conn) privateMessage(m message.Message) {
	var req message.PrivateMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(res message.PrivateResMes) {
		res.ClientMsgID = truncate(req.ClientMsgID, message.MaxClientMsgID)
		c.reply(message.PrivateResMesType, res)
	}
	fail := func(code int, text string) { answer(message.PrivateResMes{Code: code, Error: text}) }
	if len(req.ClientMsgID) > message.MaxClientMsgID {
		fail(message.CodeTooLarge, "clientMsgId is over 64 bytes")
		return
	}
	if code, _ := checkUserID(req.ToUserID); code != 0 {
		fail(code, "toUserId must be between 1 and 2147483647")
		return
	}
	if code, text := checkContent(req.Content, c.bodyUTF8); code != 0 {
		fail(code, text)
		return
	}
	if !c.privateRate.allow(time.Now()) {
		fail(message.CodeRateLimited, "too many private messages; slow down")
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	// The send script applies the user's rate in Redis and the inbox's cap.
	res, err := c.srv.st.Inbox.Send(ctx, c.user, c.name, req.ToUserID, req.Content, req.ClientMsgID, c.srv.sendLimits())
	if code, text, refused := privateRefusal(err); refused {
		fail(code, text)
		return
	}
	switch {
	case errors.Is(err, model.ErrUserNotFound):
		fail(message.CodeNoSuchUser, "no such user")
		return
	case err != nil:
		c.srv.log.Warn("private message not stored", "from", c.user, "err", err)
		fail(message.CodeServerError, "server error; the message was not sent")
		return
	}
	if res.Online && !res.Duplicate {
		c.srv.deliverNew(req.ToUserID, res, model.Stored{
			ID: res.MsgID, From: c.user, FromName: c.name, Content: req.Content, SentAt: model.IDTime(res.MsgID),
		})
	}
	answer(message.PrivateResMes{Code: message.CodeOK, MsgID: res.MsgID, Stored: !res.Online})
}

// maxAckIDs bounds one AckMes; a client acks as it reads, in small batches.
const maxAckIDs = 1000

func (c *conn) ack(m message.Message) {
	var req message.AckMes
	if !c.unpack(m, &req) {
		return
	}
	if len(req.MsgIDs) > maxAckIDs {
		c.replyError(message.CodeTooLarge, "at most 1000 msgIds per AckMes", m.Type)
		return
	}
	// Ids that cannot be message ids are ignored one by one, and the others
	// taken: an id that is not in the user's inbox (another's, or one
	// already forgotten) changes nothing.
	ids := make([]string, 0, len(req.MsgIDs))
	for _, id := range req.MsgIDs {
		if validAckID(id) {
			ids = append(ids, id)
		}
	}
	if bad := len(req.MsgIDs) - len(ids); bad > 0 {
		c.srv.metrics.acksIgnored.Add(float64(bad))
		c.replyError(message.CodeInvalid, strconv.Itoa(bad)+" msgIds are not message ids: ignored", m.Type)
	}
	if len(ids) > 0 {
		c.srv.forget(c.user, ids)
	}
}
