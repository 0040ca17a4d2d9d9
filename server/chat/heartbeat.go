package chat

import (
	"time"
)

// heartbeatLoop keeps this node's heartbeat alive and reaps nodes whose heartbeat
// expired: their users go offline and messages to them are kept in inboxes.
func (s *Server) heartbeatLoop() {
	defer s.background.Done()
	ttl := 3 * s.cfg.Heartbeat
	reaped := false // the earlier run's sessions are cleared
	beaten := false // a beat has succeeded since the start
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
			s.beat(ttl, &beaten)
			s.reapOthers()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) beat(ttl time.Duration, beaten *bool) {
	ctx, cancel := s.requestContext()
	defer cancel()
	lapsed, err := s.st.Presence.Beat(ctx, s.cfg.Node, ttl)
	if err != nil {
		s.log.Warn("heartbeat failed", "err", err)
		return
	}
	if lapsed && *beaten {
		// Redis was away long enough for the heartbeat to expire: other nodes may
		// have taken this node's users offline. Put back those still here.
		replaced, err := s.st.Presence.Restore(ctx, s.cfg.Node, s.hub.sessions())
		if err != nil {
			s.log.Warn("could not restore sessions", "err", err)
			return
		}
		for _, user := range replaced {
			if c := s.hub.get(user); c != nil {
				c.replace()
			}
		}
		s.log.Info("heartbeat had lapsed; sessions restored", "replaced", len(replaced))
	}
	*beaten = true
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
		gone, count, err := s.st.Presence.Reap(ctx, n, false)
		if err != nil {
			return
		}
		if len(gone) > 0 {
			s.log.Info("node stopped beating; its users are offline", "dead", n, "users", len(gone))
			s.notifyReaped(gone, count)
		}
	}
}
