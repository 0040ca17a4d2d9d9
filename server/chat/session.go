package chat

import (
	"net"
	"sync"

	"chat/common/message"
	"chat/server/model"
	"chat/server/transport"
)

// session is one client connection and, once logged in, its user's session on
// this node. Its reading goroutine (processor.go) runs the requests one at a
// time through the user, sms and room processes, and owns the fields it sets at
// login; its transport (package transport) writes what is queued; its feeds
// (delivery.go) bring stored private and room messages.
//
// Other goroutines reach a session only through its transport (a frame of a
// broadcast or a room notice), its feeds (offer, wake), replace and the close
// of its transport.
type session struct {
	// user and proto come first, next to the transport's own fields that a
	// fan-out uses: a broadcast reads them for every session of the node, and
	// each cache line it touches per session is a miss (BENCHMARKS.md, chat-load fanout).
	// Both are set once by the reading goroutine at login, before the session
	// is published in the hub, and read-only after that (user goes back to
	// zero only if the login fails, before it is answered).
	user  int
	proto int
	t     transport.Conn

	srv  *Server
	addr string // remote IP, for per-address limits

	// More of the session, set at login like user and proto.
	name  string
	sid   string
	token string // the session token of a proto-2 login; never logged

	// loginMu guards answered and replacedEarly, so that a newer login that
	// replaces this one while it is answered either finds it answered (and
	// ends it) or leaves the reading goroutine to end it (setReady).
	loginMu       sync.Mutex
	answered      bool // LoginResMes is queued
	replacedEarly bool // a newer login took over before this one was answered

	// The reading goroutine's own.
	privateRate, groupRate bucket
	bodyUTF8               bool                 // the frame being handled is valid UTF-8
	sends                  *[]model.SendRequest // private messages of this burst (smsprocess.go); nil if none

	feeds feeds
}

func newSession(s *Server, nc net.Conn) *session {
	c := &session{srv: s, addr: transport.RemoteHost(nc)}
	c.t.Init(&s.wire, nc, c)
	c.feeds.s = c
	return c
}

// Written is told the ids of a classic session's private messages once their
// frames are written: a classic client does not acknowledge, so they are
// delivered then.
func (c *session) Written(ids []string) { c.srv.acks.forget(c.user, ids) }

// presence is where the session is, as the presence store keeps it.
func (c *session) presence() model.Session {
	return model.Session{Node: c.srv.cfg.Node, ID: c.sid, Name: c.name}
}

// classic reports whether the session gets only what the course's client shows
// (classic.go).
func (c *session) classic() bool { return c.proto != message.ProtoAck }

// takesRooms reports whether room messages and notices go to this session: only
// to proto-2 sessions. A classic client would not show them, so for a member
// logged in with one they wait in the room for its next proto-2 login.
func (c *session) takesRooms() bool { return c.proto == message.ProtoAck }

// setReady lets broadcasts come, now that the login is answered. It reports
// whether the session was replaced meanwhile.
func (c *session) setReady() (replaced bool) {
	c.t.SetReady()
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.answered = true
	return c.replacedEarly
}

// replace ends this session because a newer login of its user took over. A
// session whose login is not answered yet is ended right after the answer, so
// that every LoginMes gets its LoginResMes.
func (c *session) replace() {
	c.loginMu.Lock()
	if !c.answered {
		c.replacedEarly = true
		c.loginMu.Unlock()
		return
	}
	c.loginMu.Unlock()
	c.replyError(message.CodeReplaced, "you logged in somewhere else", "")
	c.t.CloseAfterFlush(transport.Replaced)
}
