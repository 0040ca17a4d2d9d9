package chat

import (
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

// privateMessage checks a private message and adds it to the burst's sends, which
// runSends keeps in Redis and answers, in order.
func (c *conn) privateMessage(m message.Message) {
	var req message.PrivateMes
	if !c.unpack(m, &req) {
		return
	}
	fail := func(code int, text string) {
		c.runSends() // the answers of the messages before this one come first
		c.answerPrivate(req.ClientMsgID, message.PrivateResMes{Code: code, Error: text})
	}
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
	// runSends keeps it: the send script applies the user's rate in Redis and
	// the inbox's cap.
	if c.addSend(model.SendRequest{To: req.ToUserID, Content: req.Content, ClientMsgID: req.ClientMsgID}) >= maxBurstSends {
		c.runSends()
	}
}

// answerPrivate answers a private message, repeating its clientMsgId (cut to the
// protocol's limit: the answer to one over it says so).
func (c *conn) answerPrivate(clientMsgID string, res message.PrivateResMes) {
	res.ClientMsgID = truncate(clientMsgID, message.MaxClientMsgID)
	// Small, and not one of the types encodeReply changes for classic sessions,
	// it is the same frame for every session.
	buf := getBuffer()
	f := message.AppendFrameOf((*buf)[:0], message.PrivateResMesType, &res)
	c.replyFrame(message.PrivateResMesType, f)
	*buf = f[:0]
	putBuffer(buf)
}

// maxAckIDs bounds one AckMes; a client acks as it reads, in small batches.
const maxAckIDs = 1000

func (c *conn) ack(m message.Message) {
	var req message.AckMes
	if !c.unpack(m, &req) {
		return
	}
	if len(req.MsgIDs) > maxAckIDs {
		c.runSends()
		c.replyError(message.CodeTooLarge, "at most 1000 msgIds per AckMes", m.Type)
		return
	}
	// Ids that cannot be message ids are ignored one by one, and the others
	// taken: an id that is not in the user's inbox (another's, or one
	// already forgotten) changes nothing. They are kept in req's array.
	ids := req.MsgIDs[:0]
	for _, id := range req.MsgIDs {
		if validAckID(id) {
			ids = append(ids, id)
		}
	}
	if bad := len(req.MsgIDs) - len(ids); bad > 0 {
		c.srv.metrics.acksIgnored.Add(float64(bad))
		c.runSends()
		c.replyError(message.CodeInvalid, strconv.Itoa(bad)+" msgIds are not message ids: ignored", m.Type)
	}
	if len(ids) > 0 {
		c.srv.forget(c.user, ids)
	}
}
