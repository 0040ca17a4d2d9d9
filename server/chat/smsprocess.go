package chat

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"chat/common/message"
	"chat/server/model"
	"chat/server/transport"
)

// The sms process: group messages, private messages and their acknowledgements.
//
// The private messages of a burst (the frames one read brought, processor.go)
// are gathered (privateMessage) and kept in Redis in one round trip (runSends),
// in order, before any other answer, so that answers keep the order of the
// requests; the recipients on this node are held while the burst delivers to
// them, so that each gets the burst's messages in one write.
type smsProcess struct{ *session }

func (c smsProcess) groupMessage(m message.Message) {
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
func (c smsProcess) privateMessage(m message.Message) {
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
func (c smsProcess) answerPrivate(clientMsgID string, res message.PrivateResMes) {
	res.ClientMsgID = truncate(clientMsgID, message.MaxClientMsgID)
	// Small, and not one of the types encodeReply changes for classic sessions,
	// it is the same frame for every session.
	buf := transport.GetBuffer()
	f := message.AppendFrameOf((*buf)[:0], message.PrivateResMesType, &res)
	c.replyFrame(message.PrivateResMesType, f)
	*buf = f[:0]
	transport.PutBuffer(buf)
}

// maxAckIDs bounds one AckMes; a client acks as it reads, in small batches.
const maxAckIDs = 1000

func (c smsProcess) ack(m message.Message) {
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
		c.srv.acks.forget(c.user, ids)
	}
}

// groupAllowed applies the user's group message rate, across logins and nodes.
// While Redis cannot be asked, the connection's own bucket (checked before) is
// the limit: a group message reaches this node's users even then.
func (c smsProcess) groupAllowed() bool {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	ok, err := c.srv.st.Rates.Allow(ctx, model.RateGroup, strconv.Itoa(c.user),
		model.Limit{Rate: c.srv.cfg.RateGroup, Burst: c.srv.cfg.BurstGroup})
	if err != nil {
		c.srv.log.Warn("could not check a group message's rate", "user", c.user, "err", err)
		return true
	}
	return ok
}

// maxBurstSends bounds the private messages of one round trip of a connection.
const maxBurstSends = 64

// sendArrays holds the arrays of the private messages of bursts: a connection
// takes one for a burst that sends, so that an idle one holds none.
var sendArrays = sync.Pool{New: func() any { s := make([]model.SendRequest, 0, maxBurstSends); return &s }}

// addSend adds r to the burst's private messages and returns how many it holds.
func (c smsProcess) addSend(r model.SendRequest) int {
	if c.sends == nil {
		c.sends = sendArrays.Get().(*[]model.SendRequest)
	}
	*c.sends = append(*c.sends, r)
	return len(*c.sends)
}

// runSends keeps the private messages the burst has gathered so far in Redis, in
// one round trip, delivers them and answers each, in request order. Handlers that
// answer anything else call it first, so that answers keep the order of requests.
func (c smsProcess) runSends() {
	if c.sends == nil {
		return
	}
	reqs := *c.sends
	ctx, cancel := c.srv.requestContext()
	// The send script applies the user's rate in Redis and each inbox's cap.
	results, errs := c.srv.st.Inbox.Send(ctx, c.user, c.name, reqs, c.srv.sendLimits())
	cancel()
	var on [16]*session // most bursts have few recipients
	held := c.srv.holdRecipients(on[:0], reqs, results, errs)
	logged := false
	for i, r := range reqs {
		res, err := results[i], errs[i]
		if code, text, refused := privateRefusal(err); refused {
			c.answerPrivate(r.ClientMsgID, message.PrivateResMes{Code: code, Error: text})
			continue
		}
		switch {
		case errors.Is(err, model.ErrUserNotFound):
			c.answerPrivate(r.ClientMsgID, message.PrivateResMes{Code: message.CodeNoSuchUser, Error: "no such user"})
		case err != nil:
			if !logged {
				c.srv.log.Warn("private message not stored", "from", c.user, "err", err)
				logged = true
			}
			c.answerPrivate(r.ClientMsgID, message.PrivateResMes{Code: message.CodeServerError,
				Error:      "server error; the message may have been kept: resend it with the same clientMsgId",
				RetryAfter: retryAfter(message.CodeServerError)})
		default:
			if res.Online {
				m := model.Stored{ID: res.MsgID, From: c.user, FromName: c.name, Content: r.Content, SentAt: model.IDTime(res.MsgID)}
				if res.Duplicate {
					// The first send may have been kept after its answer was lost
					// (Redis ran it once the request had timed out), and never
					// delivered: wake the recipient's delivery, which reads its
					// inbox on from where it stopped. A message that follows itself
					// is never offered as it is, so a copy delivered already is not
					// sent again.
					res.Previous = res.MsgID
					c.srv.deliverNew(r.To, res, m)
				} else if rc := heldSession(held, r.To); rc != nil {
					rc.feeds.offer(0, m, res.Previous, nil) // deliverNew without looking it up again
				} else {
					c.srv.deliverNew(r.To, res, m)
				}
			}
			c.answerPrivate(r.ClientMsgID, message.PrivateResMes{Code: message.CodeOK, MsgID: res.MsgID, Stored: !res.Online})
		}
	}
	for _, rc := range held {
		rc.t.Release()
	}
	clear(reqs) // the pool keeps no message alive
	*c.sends = reqs[:0]
	sendArrays.Put(c.sends)
	c.sends = nil
}

// holdRecipients holds the sessions on this node that sends just kept messages
// for, each once, so that a burst's deliveries to each go out in one write. It
// appends them to held, looking each recipient up in the hub once.
func (s *Server) holdRecipients(held []*session, reqs []model.SendRequest, results []model.SendResult, errs []error) []*session {
	for i, r := range reqs {
		res := results[i]
		if errs[i] != nil || !res.Online || res.Duplicate || res.Recipient.Node != s.cfg.Node ||
			heldSession(held, r.To) != nil {
			continue
		}
		rc := s.hub.get(r.To)
		if rc == nil {
			continue
		}
		rc.t.Hold()
		held = append(held, rc)
	}
	return held
}

// heldSession returns the session of user among held, nil if none.
func heldSession(held []*session, user int) *session {
	for _, c := range held {
		if c.user == user {
			return c
		}
	}
	return nil
}
