package chat

import (
	"sync"
	"time"

	"chat/common/message"
	"chat/server/model"
	"chat/server/transport"
)

// Presence goes out a tick at a time. A notice per login to every online user
// makes a wave of N logins with M online N×M frames, queued ahead of the
// messages. So a node collects its users' changes (a user's last status wins)
// and sends them together at most once per Config.PresenceTick: to the other
// nodes as one notice, which they add to their own next tick, and to its
// sessions, a proto-2 session as one NotifyUsersStatusMes (more if the list
// passes the frame limit). A classic session can show nothing else than
// NotifyUserStatusMes, so it still gets one per changed user, but all of a
// tick's in one queued write; it gets them all, with no cap of its own: the
// presence limit bounds a tick's changes, and their frames (some 70 bytes each)
// stay well within a session's queue. The first change after a quiet tick goes at once:
// a lone login is not delayed.

// presenceChange is a user's new status, as NotifyUserStatusMes tells it.
type presenceChange = message.NotifyUserStatusMes

// changeSet is presence changes, a user's last only, in the order of each
// user's first.
type changeSet struct {
	at      map[int]int // user id → its change's index in changes
	changes []presenceChange
}

// put keeps ch, in place of an earlier change of its user.
func (c *changeSet) put(ch presenceChange) {
	if i, ok := c.at[ch.UserID]; ok {
		c.changes[i] = ch
		return
	}
	if c.at == nil {
		c.at = make(map[int]int)
	}
	c.at[ch.UserID] = len(c.changes)
	c.changes = append(c.changes, ch)
}

// take returns the changes kept and forgets them.
func (c *changeSet) take() []presenceChange {
	out := c.changes
	c.changes = nil
	clear(c.at)
	return out
}

// presenceBatch is the presence changes the node has not sent yet: of its own
// users, for the other nodes and its sessions, and those other nodes sent, for
// its sessions, so that a session gets one frame a tick however many nodes.
type presenceBatch struct {
	mu   sync.Mutex    // guards own and all
	own  changeSet     // this node's users' changes
	all  changeSet     // those and the other nodes'
	wake chan struct{} // a change waits; buffered, never blocks
}

func newPresenceBatch() presenceBatch {
	return presenceBatch{wake: make(chan struct{}, 1)}
}

// add keeps changes, own: of this node's users, and wakes the presence loop.
func (b *presenceBatch) add(own bool, changes ...presenceChange) {
	b.mu.Lock()
	for _, ch := range changes {
		b.all.put(ch)
		if own {
			b.own.put(ch)
		}
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns the changes kept and forgets them: all of them, and those of
// this node's users.
func (b *presenceBatch) take() (all, own []presenceChange) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.all.take(), b.own.take()
}

// notifyPresence tells every other online user, on every node, that user came or
// went, as long as at most PresenceLimit users are online: beyond that the cost
// of one login would grow with the number online. The notice leaves with the
// node's next tick.
func (s *Server) notifyPresence(user int, name string, status, online int) {
	if online > s.cfg.PresenceLimit {
		return
	}
	s.metrics.presenceChanges.Inc()
	s.presence.add(true, presenceChange{UserID: user, Status: status, UserName: name})
}

// presenceLoop sends the presence changes: those of a quiet moment at once,
// then what came meanwhile once a tick, until a tick brings nothing. When the
// server stops, what is left of its users' goes to the other nodes (the local
// sessions are gone).
func (s *Server) presenceLoop() {
	tick := time.NewTimer(s.cfg.PresenceTick)
	tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			s.sendPresence(s.presence.take())
			return
		case <-s.presence.wake:
		}
		for all, own := s.presence.take(); len(all) > 0; all, own = s.presence.take() {
			s.sendPresence(all, own)
			tick.Reset(s.cfg.PresenceTick)
			select {
			case <-s.ctx.Done():
				tick.Stop()
				s.sendPresence(s.presence.take())
				return
			case <-tick.C:
			}
		}
	}
}

// sendPresence sends all to this node's sessions, and own, the changes of its
// users, as one notice to the other nodes.
func (s *Server) sendPresence(all, own []presenceChange) {
	if len(all) > 0 {
		s.fanOutPresence(all)
	}
	if len(own) > 0 {
		s.publish(model.BroadcastChannel, presenceNotice{origin: s.cfg.Node, changes: own}.append(nil))
	}
}

// fanOutPresence queues changes to this node's ready sessions: the frames of
// presenceFrames, shared by all of them. A classic session whose own user is
// among the changes gets the frames before its own and those after, so that,
// as ever, no one is told of their own login.
func (s *Server) fanOutPresence(changes []presenceChange) {
	if s.shuttingDown.Load() {
		return // every local session is on its way out
	}
	list, classic, own := s.presenceFrames(changes)
	l := transport.NewFanOut(&s.wire)
	s.hub.each(func(c *session) {
		if !c.classic() {
			l.Add(&c.t, false)
		} else if span, ok := own[c.user]; ok {
			l.AddParts(&c.t, classic[:span[0]], classic[span[1]:])
		} else {
			l.Add(&c.t, true)
		}
	})
	n := l.Send(list, classic)
	s.metrics.messagesOut.WithLabelValues(message.NotifyUsersStatusMesType).Add(float64(n))
}

// maxPresencePage bounds the users of one NotifyUsersStatusMes, so that a page
// nearly always fits the frame limit at the first encoding.
const maxPresencePage = 500

// presenceFrames returns what sessions get of changes: for proto-2 sessions,
// NotifyUsersStatusMes frames, each within the send limit, one after the other;
// for classic ones, a NotifyUserStatusMes per change, one after the other, and
// where each user's begins and ends in it.
func (s *Server) presenceFrames(changes []presenceChange) (list, classic []byte, own map[int][2]int) {
	for rest := changes; len(rest) > 0; {
		k := min(len(rest), maxPresencePage)
		start := len(list)
		for {
			var err error
			list, err = message.AppendFrame(list[:start], message.NotifyUsersStatusMesType, message.NotifyUsersStatusMes{Users: rest[:k]})
			if err == nil && s.fits(list[start:]) {
				break
			}
			list = list[:start]
			if err != nil || k == 1 {
				break // cannot be: a change is far below any frame limit
			}
			k /= 2
		}
		rest = rest[k:]
	}
	own = make(map[int][2]int, len(changes))
	for i := range changes {
		start := len(classic)
		classic = message.AppendFrameOf(classic, message.NotifyUserStatusMesType, &changes[i])
		own[changes[i].UserID] = [2]int{start, len(classic)}
	}
	return list, classic, own
}
