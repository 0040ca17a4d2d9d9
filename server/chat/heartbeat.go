package chat

import (
	"time"

	"chat/common/message"
	"chat/server/model"
)

// heartbeatLoop keeps this node's heartbeat alive and reaps nodes whose heartbeat
// expired: their users go offline and messages to them are kept in inboxes.
func (s *Server) heartbeatLoop() {
	ttl := 3 * s.cfg.Heartbeat
	reaped := false // the earlier run's sessions are cleared
	beaten := false // a beat has succeeded since the start
	// healthySince is when this node's beats last started to succeed. A node that
	// could not beat either (Redis was away) gives the others one TTL to beat
	// again before it takes their users offline: they lapsed for the same reason.
	var healthySince time.Time
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		if !reaped {
			if err := s.reapOwn(); err != nil {
				s.log.Warn("could not clear this node's old sessions", "err", err)
			} else {
				reaped = true
			}
		}
		if reaped {
			switch lapsed, ok := s.beat(ttl, &beaten); {
			case !ok:
				healthySince = time.Time{}
			case lapsed || healthySince.IsZero():
				healthySince = time.Now()
			case time.Since(healthySince) >= ttl:
				s.reapOthers()
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// beat renews the heartbeat; ok is false if Redis could not be reached, and
// lapsed true if the heartbeat had expired before.
func (s *Server) beat(ttl time.Duration, beaten *bool) (lapsed, ok bool) {
	ctx, cancel := s.requestContext()
	defer cancel()
	lapsed, err := s.st.Presence.Beat(ctx, s.cfg.Node, ttl)
	if err != nil {
		s.log.Warn("heartbeat failed", "err", err)
		return false, false
	}
	if lapsed && *beaten {
		// Redis was away long enough for the heartbeat to expire: other nodes may
		// have taken this node's users offline. Put back those still here.
		restored, err := s.st.Presence.Restore(ctx, s.cfg.Node, s.hub.sessions())
		if err != nil {
			s.log.Warn("could not restore sessions", "err", err)
			return lapsed, false
		}
		for _, user := range restored.Replaced {
			if c := s.hub.get(user); c != nil {
				c.replace()
			}
		}
		// Others were told these users left when this node was reaped: they are back.
		for _, user := range restored.Back {
			if c := s.hub.get(user); c != nil {
				s.notifyPresence(user, c.name, message.UserOnline, restored.OnlineCount)
			}
		}
		s.log.Info("heartbeat had lapsed; sessions restored", "back", len(restored.Back), "replaced", len(restored.Replaced))
	}
	*beaten = true
	return lapsed, true
}

func (s *Server) reapOthers() {
	ctx, cancel := s.requestContext()
	defer cancel()
	nodes, err := s.st.Presence.Nodes(ctx)
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n == s.cfg.Node {
			continue
		}
		gone, count, err := s.st.Presence.Reap(ctx, n)
		if err != nil {
			return
		}
		if len(gone) > 0 {
			s.log.Info("node stopped beating; its users are offline", "dead", n, "users", len(gone))
			s.notifyReaped(gone, count)
		}
	}
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
