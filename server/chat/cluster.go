package chat

import (
	"chat/server/model"
	"chat/server/transport"
)

// The node in the cluster: broadcasts, notices to other nodes (their format is
// in notice.go) and the subscription that reads them.

// broadcast queues frame f for every ready session but exclude's, here and on
// every other node. The frame is encoded once and shared by all the queues.
func (s *Server) broadcast(typ string, f []byte, exclude int) error {
	s.fanOut(typ, f, exclude)
	return s.publish(model.BroadcastChannel, broadcastNotice{origin: s.cfg.Node, exclude: exclude, typ: typ, frame: f}.append(nil))
}

// fanOut queues f for this node's sessions but exclude's; classic sessions get
// the version of f they can show, if any, made once here.
func (s *Server) fanOut(typ string, f []byte, exclude int) {
	if s.shuttingDown.Load() {
		return // every local session is on its way out
	}
	classic := s.classicFrame(typ, f)
	l := transport.NewFanOut(&s.wire)
	s.hub.each(func(c *session) {
		if c.user != exclude && (classic != nil || !c.classic()) {
			l.Add(&c.t, c.classic())
		}
	})
	n := l.Send(f, classic)
	s.metrics.messagesOut.WithLabelValues(typ).Add(float64(n))
}

// publishToNode sends a notice another node must get (a private message, a 409)
// through the outbox, which tries until it goes through.
func (s *Server) publishToNode(node string, payload []byte) {
	s.out.send(model.NodeChannel(node), payload)
}

func (s *Server) publish(channel string, payload []byte) error {
	ctx, cancel := s.requestContext()
	defer cancel()
	err := s.st.Bus.Publish(ctx, channel, payload)
	if err != nil {
		s.log.Warn("publish failed", "channel", channel, "err", err)
	}
	return err
}

// deliverNew gets a message just kept in to's inbox on its way: to the session
// here, or through the bus to the node that holds it (tried until it goes through;
// should that node die meanwhile, the message waits in the inbox for the login
// that follows).
func (s *Server) deliverNew(to int, sent model.SendResult, m model.Stored) {
	if sent.Recipient.Node != s.cfg.Node {
		s.publishToNode(sent.Recipient.Node, messageNotice{user: to, previous: sent.Previous, m: m}.append(nil))
		return
	}
	if c := s.hub.get(to); c != nil {
		c.feeds.offer(0, m, sent.Previous, nil)
	}
}

// onNotice handles one notice from the bus. What does not parse is dropped:
// its sender is a node of another version, or the notice was damaged.
func (s *Server) onNotice(channel string, payload []byte) {
	kind, body, ok := splitNotice(payload)
	if !ok {
		return
	}
	switch kind {
	case noticeBatch:
		if n, ok := parseBatch(body); ok {
			for _, p := range n.notices {
				s.onNotice(channel, p)
			}
		}
	case noticeKick:
		if n, ok := parseKick(body); ok {
			if c := s.hub.get(n.user); c != nil && c.sid == n.sid {
				c.replace()
			}
		}
	case noticeMessage:
		if n, ok := parseMessage(body); ok {
			if c := s.hub.get(n.user); c != nil {
				c.feeds.offer(0, n.m, n.previous, nil)
			}
		}
	case noticeRoomMessage:
		if n, ok := parseRoomMessage(body); ok && n.origin != s.cfg.Node {
			s.offerRoomLocal(n.room, n.roomName, n.previous, n.m)
		}
	case noticeRoomEvent:
		if n, ok := parseRoomEvent(body); ok && n.origin != s.cfg.Node {
			s.roomEventLocal(n.room, n.user, n.name, n.event)
		}
	case noticePresence:
		if n, ok := parsePresence(body); ok && n.origin != s.cfg.Node {
			s.presence.add(false, n.changes...) // with this node's next tick
		}
	case noticeBroadcast:
		if n, ok := parseBroadcast(body); ok && n.origin != s.cfg.Node {
			s.fanOut(n.typ, n.frame, n.exclude) // a node's own was fanned out already
		}
	}
}

// subscribe listens to this node's channel and the broadcast channel. When the
// subscription comes back after Redis was away, wakes may have been lost: every
// local session then looks at its inbox and its rooms again.
func (s *Server) subscribe() {
	first := true
	s.st.Bus.Subscribe(s.ctx,
		[]string{model.NodeChannel(s.cfg.Node), model.BroadcastChannel},
		func() {
			if !first {
				s.log.Info("subscription restored")
				s.hub.each(func(c *session) {
					c.feeds.wake()
					c.feeds.wakeRooms(true)
				})
			}
			first = false
		},
		s.onNotice,
		func(err error) { s.log.Warn("subscription lost; reconnecting", "err", err) },
	)
}
