package chat

import (
	"bytes"
	"cmp"
	"slices"
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

// fanOut queues f for this node's sessions but exclude's; classic sessions get
// the version of f they can show, if any, made once here.
func (s *Server) fanOut(typ string, f []byte, exclude int) {
	if s.shuttingDown.Load() {
		return // every local session is on its way out
	}
	classic := s.classicFrame(typ, f)
	l := newFanOutList()
	s.hub.each(func(c *conn) {
		if c.user != exclude && (classic != nil || !c.classic()) {
			l.conns = append(l.conns, c)
		}
	})
	// In the order of their sockets: the kernel hands out the lowest free file
	// descriptor, so this is the order of its tables and mostly of the sockets'
	// memory, here and at local peers. Writing 10,000 sessions in the map's random
	// order cost a tenth more CPU per broadcast, and local receivers a twentieth.
	slices.SortFunc(l.conns, func(a, b *conn) int { return cmp.Compare(a.fd, b.fd) })
	n := s.queueHeld(l, f, classic)
	s.metrics.messagesOut.WithLabelValues(typ).Add(float64(n))
}

// publishToNode sends a notice another node must get (a private message, a 409).
// If Redis refuses it now (away, or every pooled connection busy), it is tried
// again in the background until it goes through or the server shuts down: a
// message whose notice were dropped would wait in the inbox, its recipient online,
// until some later message or login read the inbox again.
func (s *Server) publishToNode(node string, payload []byte) {
	s.publishRetried(model.NodeChannel(node), payload)
}

// Delays between the tries of a notice that could not be published.
const (
	firstPublishRetry = 100 * time.Millisecond
	maxPublishRetry   = 2 * time.Second
)

// publishRetried publishes payload on channel, and if Redis refuses it now, tries
// again in the background, until it succeeds or the server shuts down.
func (s *Server) publishRetried(channel string, payload []byte) {
	if s.publish(channel, payload) == nil {
		return
	}
	s.goTracked(func() {
		for delay := firstPublishRetry; ; delay = min(2*delay, maxPublishRetry) {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			if s.publish(channel, payload) == nil {
				return
			}
		}
	})
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
	case noticeRoomMessage:
		s.onRoomMessage(body)
	case noticeRoomEvent:
		s.onRoomEvent(body)
	case noticeBroadcast:
		f, frame, ok := fields(body, 3)
		if !ok || string(f[0]) == s.cfg.Node {
			return // this node's own broadcast, fanned out already
		}
		exclude, _ := strconv.Atoi(string(f[1]))
		s.fanOut(string(f[2]), frame, exclude)
	}
}

// start joins the cluster: it starts the acker, the heartbeat loop, the
// subscription and the memory trimmer (trim.go). The heartbeat loop's first round
// takes offline the sessions an earlier run under this node id left behind
// (reapOwn), and retries that every beat until Redis answers.
func (s *Server) start() {
	s.goTracked(s.ackLoop)
	s.goTracked(s.heartbeatLoop)
	s.goTracked(s.subscribe)
	s.goTracked(s.trimLoop)
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
// local session then looks at its inbox and its rooms again.
func (s *Server) subscribe() {
	first := true
	s.st.Bus.Subscribe(s.ctx,
		[]string{model.NodeChannel(s.cfg.Node), model.BroadcastChannel},
		func() {
			if !first {
				s.log.Info("subscription restored")
				s.hub.each(func(c *conn) { c.wakeAllRooms() })
			}
			first = false
		},
		s.onNotice,
		func(err error) { s.log.Warn("subscription lost; reconnecting", "err", err) },
	)
}
