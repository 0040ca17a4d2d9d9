package chat

import (
	"sync"

	"chat/server/model"
)

// hub is this node's sessions by user id.
type hub struct {
	mu    sync.RWMutex // guards conns
	conns map[int]*session
}

// add makes c its user's session on this node and returns the one it replaces.
func (h *hub) add(c *session) (prev *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev = h.conns[c.user]
	h.conns[c.user] = c
	return prev
}

// remove forgets c, unless a newer session of its user replaced it already.
func (h *hub) remove(c *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.user] == c {
		delete(h.conns, c.user)
	}
}

// restore undoes add after a failed login: prev, if any, is the session again.
func (h *hub) restore(c, prev *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.user] != c {
		return
	}
	if prev != nil {
		h.conns[c.user] = prev
	} else {
		delete(h.conns, c.user)
	}
}

func (h *hub) get(user int) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[user]
}

// each calls fn for every session; fn must not call back into the hub.
func (h *hub) each(fn func(*session)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		fn(c)
	}
}

// sessions returns where each local session is, for re-announcing them.
func (h *hub) sessions() map[int]model.Session {
	out := make(map[int]model.Session)
	h.each(func(c *session) { out[c.user] = c.presence() })
	return out
}

// roomIndex is this node's sessions by room, for fanning out room messages and notices.
type roomIndex struct {
	mu      sync.RWMutex // guards members
	members map[int]map[*session]struct{}
}

func (x *roomIndex) add(room int, c *session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.members == nil {
		x.members = make(map[int]map[*session]struct{})
	}
	set := x.members[room]
	if set == nil {
		set = make(map[*session]struct{})
		x.members[room] = set
	}
	set[c] = struct{}{}
}

func (x *roomIndex) remove(room int, c *session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if set := x.members[room]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(x.members, room)
		}
	}
}

// sessions returns this node's sessions in room.
func (x *roomIndex) sessions(room int) []*session {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*session, 0, len(x.members[room]))
	for c := range x.members[room] {
		out = append(out, c)
	}
	return out
}
