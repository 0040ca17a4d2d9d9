package chat

import (
	"errors"
	"sync"

	"chat/common/message"
	"chat/server/model"
)

// A burst is the frames one read of a connection brought. The reading goroutine
// holds the connection's writer while it handles them (readBurst), so that their
// answers go out in one write; their private messages go to Redis as one entry of
// the shared pipelines (one round trip, in order), and the recipients on this node
// are held while the burst delivers to them, so that each gets one write too.

// maxBurstSends bounds the private messages of one round trip of a connection.
const maxBurstSends = 64

// sendArrays holds the arrays of the private messages of bursts: a connection
// takes one for a burst that sends, so that an idle one holds none.
var sendArrays = sync.Pool{New: func() any { s := make([]model.SendRequest, 0, maxBurstSends); return &s }}

// addSend adds r to the burst's private messages and returns how many it holds.
func (c *conn) addSend(r model.SendRequest) int {
	if c.sends == nil {
		c.sends = sendArrays.Get().(*[]model.SendRequest)
	}
	*c.sends = append(*c.sends, r)
	return len(*c.sends)
}

// hold keeps the connection's writer from starting until release: what is queued
// meanwhile goes out in one write.
func (c *conn) hold() {
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// release ends a hold; the last one starts the writer if frames wait.
func (c *conn) release() {
	if c.unhold() {
		c.srv.goTracked(c.flush)
	}
}

// releaseHere is release for a caller that writes what is queued itself (the
// fan-out's workers), instead of starting a goroutine for it.
func (c *conn) releaseHere() {
	if c.unhold() {
		c.flushHere()
	}
}

// unhold ends a hold and reports whether the caller must run the writer.
func (c *conn) unhold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holds--
	start := c.holds == 0 && c.deferred
	if start {
		c.deferred = false
	}
	return start
}

// runSends keeps the private messages the burst has gathered so far in Redis, in
// one round trip, delivers them and answers each, in request order. Handlers that
// answer anything else call it first, so that answers keep the order of requests.
func (c *conn) runSends() {
	if c.sends == nil {
		return
	}
	reqs := *c.sends
	ctx, cancel := c.srv.requestContext()
	// The send script applies the user's rate in Redis and each inbox's cap.
	results, errs := c.srv.st.Inbox.Send(ctx, c.user, c.name, reqs, c.srv.sendLimits())
	cancel()
	var on [16]*conn // most bursts have few recipients
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
					rc.offer(m, res.Previous) // deliverNew without looking it up again
				} else {
					c.srv.deliverNew(r.To, res, m)
				}
			}
			c.answerPrivate(r.ClientMsgID, message.PrivateResMes{Code: message.CodeOK, MsgID: res.MsgID, Stored: !res.Online})
		}
	}
	for _, rc := range held {
		rc.release()
	}
	clear(reqs) // the pool keeps no message alive
	*c.sends = reqs[:0]
	sendArrays.Put(c.sends)
	c.sends = nil
}

// holdRecipients holds the sessions on this node that sends just kept messages
// for, each once, so that a burst's deliveries to each go out in one write. It
// appends them to held, looking each recipient up in the hub once.
func (s *Server) holdRecipients(held []*conn, reqs []model.SendRequest, results []model.SendResult, errs []error) []*conn {
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
		rc.hold()
		held = append(held, rc)
	}
	return held
}

// heldSession returns the session of user among held, nil if none.
func heldSession(held []*conn, user int) *conn {
	for _, c := range held {
		if c.user == user {
			return c
		}
	}
	return nil
}
