package chat

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// Nodes share one Redis. What a node must tell others travels as a notice on Redis
// pub/sub: on a node's own channel (wake a user's delivery, end a replaced session)
// or on the broadcast channel (group messages and presence, as ready-made frames).
// A notice is a kind letter and space-separated fields; a frame comes last.
const (
	noticeKick      = 'k' // k <user> <session id>
	noticeMessage   = 'm' // m <user> <previous id or -> <id> <from> <name length> <name><content>
	noticeBroadcast = 'b' // b <origin node> <excluded user> <type> <frame>
)

func kickNotice(user int, sid string) []byte {
	return []byte(string(noticeKick) + " " + strconv.Itoa(user) + " " + sid)
}

// messageNotice carries a private message just kept in user's inbox to the node
// that holds the session, so that it can deliver it without reading the inbox.
func messageNotice(user int, previous string, m model.Stored) []byte {
	if previous == "" {
		previous = "-"
	}
	b := make([]byte, 0, 64+len(m.FromName)+len(m.Content))
	b = append(b, noticeMessage, ' ')
	b = strconv.AppendInt(b, int64(user), 10)
	b = append(b, ' ')
	b = append(b, previous...)
	b = append(b, ' ')
	b = append(b, m.ID...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(m.From), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(m.FromName)), 10)
	b = append(b, ' ')
	b = append(b, m.FromName...)
	return append(b, m.Content...)
}

// parseMessageNotice reads what messageNotice wrote (after the kind).
func parseMessageNotice(body []byte) (user int, previous string, m model.Stored, ok bool) {
	f, rest, ok := fields(body, 5)
	if !ok {
		return 0, "", m, false
	}
	user, err1 := strconv.Atoi(string(f[0]))
	from, err2 := strconv.Atoi(string(f[3]))
	nameLen, err3 := strconv.Atoi(string(f[4]))
	if err1 != nil || err2 != nil || err3 != nil || nameLen < 0 || nameLen > len(rest) {
		return 0, "", m, false
	}
	if previous = string(f[1]); previous == "-" {
		previous = ""
	}
	id := string(f[2])
	m = model.Stored{ID: id, From: from, FromName: string(rest[:nameLen]), Content: string(rest[nameLen:]), SentAt: model.IDTime(id)}
	return user, previous, m, true
}

func broadcastNotice(origin string, exclude int, typ string, f []byte) []byte {
	b := make([]byte, 0, len(origin)+len(typ)+len(f)+16)
	b = append(b, noticeBroadcast, ' ')
	b = append(b, origin...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(exclude), 10)
	b = append(b, ' ')
	b = append(b, typ...)
	b = append(b, ' ')
	return append(b, f...)
}

// fields splits the first n space-separated fields off a notice body.
func fields(b []byte, n int) (out [][]byte, rest []byte, ok bool) {
	for range n {
		var f []byte
		f, b, ok = bytes.Cut(b, []byte{' '})
		if !ok && len(out) < n-1 {
			return nil, nil, false
		}
		out = append(out, f)
	}
	return out, b, true
}

// broadcast queues frame f for every ready session but exclude's, here and on
// every other node. The frame is encoded once and shared by all the queues.
func (s *Server) broadcast(typ string, f []byte, exclude int) error {
	s.fanOut(typ, f, exclude)
	return s.publish(model.BroadcastChannel, broadcastNotice(s.cfg.Node, exclude, typ, f))
}

// fanOut queues f for this node's sessions but exclude's.
func (s *Server) fanOut(typ string, f []byte, exclude int) {
	if s.shuttingDown.Load() {
		return // every local session is on its way out
	}
	l := newFanOutList()
	s.hub.each(func(c *conn) {
		if c.user != exclude {
			l.conns = append(l.conns, c)
		}
	})
	n := queueHeld(l, f)
	s.metrics.messagesOut.WithLabelValues(typ).Add(float64(n))
}

// publishToNode sends a notice another node must get (a private message, a 409):
// if Redis refuses it now, it is tried again in the background for a while. Should
// it still fail, Redis is away, and the node that holds the session reads every
// inbox again when its subscription comes back.
func (s *Server) publishToNode(node string, payload []byte) {
	if s.publish(model.NodeChannel(node), payload) == nil {
		return
	}
	go func() {
		for delay := 100 * time.Millisecond; delay <= 10*time.Second; delay *= 2 {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			if s.publish(model.NodeChannel(node), payload) == nil {
				return
			}
		}
	}()
}

func (s *Server) publish(channel string, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := s.st.Bus.Publish(ctx, channel, payload)
	if err != nil {
		s.log.Warn("publish failed", "channel", channel, "err", err)
	}
	return err
}

// deliverNew gets a message just kept in to's inbox on its way: to the session
// here, or through the bus to the node that holds it. If the notice is lost, the
// message waits in the inbox for the next delivery or login.
func (s *Server) deliverNew(to int, sent model.SendResult, m model.Stored) {
	if sent.Recipient.Node != s.cfg.Node {
		s.publishToNode(sent.Recipient.Node, messageNotice(to, sent.Previous, m))
		return
	}
	if c := s.hub.get(to); c != nil {
		c.offer(m, sent.Previous)
	}
}

// onNotice handles one notice from the bus.
func (s *Server) onNotice(_ string, payload []byte) {
	if len(payload) < 2 {
		return
	}
	kind, body := payload[0], payload[2:]
	switch kind {
	case noticeKick:
		f, _, ok := fields(body, 2)
		if !ok {
			return
		}
		user, _ := strconv.Atoi(string(f[0]))
		if c := s.hub.get(user); c != nil && c.sid == string(f[1]) {
			c.replace()
		}
	case noticeMessage:
		user, previous, m, ok := parseMessageNotice(body)
		if !ok {
			return
		}
		if c := s.hub.get(user); c != nil {
			c.offer(m, previous)
		}
	case noticeBroadcast:
		f, frame, ok := fields(body, 3)
		if !ok || string(f[0]) == s.cfg.Node {
			return // this node's own broadcast, fanned out already
		}
		exclude, _ := strconv.Atoi(string(f[1]))
		s.fanOut(string(f[2]), frame, exclude)
	}
}

// start joins the cluster: it takes offline the sessions an earlier run under this
// node id left behind, then starts the acker, the heartbeat and the subscription.
func (s *Server) start() {
	s.background.Add(3)
	go s.ackLoop()
	go s.heartbeatLoop()
	go func() {
		defer s.background.Done()
		s.subscribe()
	}()
}

// reapOwn clears what an earlier run under this node id left; sessions of this
// run (their ids start with idBase) are spared, as logins may come first.
func (s *Server) reapOwn() error {
	ctx, cancel := s.requestContext()
	defer cancel()
	gone, count, err := s.st.Presence.Reset(ctx, s.cfg.Node, s.idBase)
	if err != nil {
		return err
	}
	s.notifyReaped(gone, count)
	return nil
}

func (s *Server) notifyReaped(gone []model.Reaped, count int) {
	for _, u := range gone {
		s.notifyPresence(u.UserID, u.Name, message.UserOffline, count)
	}
}

// subscribe listens to this node's channel and the broadcast channel. When the
// subscription comes back after Redis was away, wakes may have been lost: every
// local session then looks at its inbox again.
func (s *Server) subscribe() {
	first := true
	s.st.Bus.Subscribe(s.ctx,
		[]string{model.NodeChannel(s.cfg.Node), model.BroadcastChannel},
		func() {
			if !first {
				s.log.Info("subscription restored")
				s.hub.each(func(c *conn) { c.wakeInbox() })
			}
			first = false
		},
		s.onNotice,
		func(err error) { s.log.Warn("subscription lost; reconnecting", "err", err) },
	)
}
