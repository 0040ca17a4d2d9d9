package chat

import (
	"sync"

	"chat/server/model"
)

// hub is this node's sessions by user id.
type hub struct {
	mu    sync.RWMutex
	conns map[int]*conn
}

// add makes c its user's session on this node and returns the one it replaces.
func (h *hub) add(c *conn) (prev *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev = h.conns[c.user]
	h.conns[c.user] = c
	return prev
}

// remove forgets c, unless a newer session of its user replaced it already.
func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.user] == c {
		delete(h.conns, c.user)
	}
}

// restore undoes add after a failed login: prev, if any, is the session again.
func (h *hub) restore(c, prev *conn) {
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

func (h *hub) get(user int) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[user]
}

// each calls fn for every session; fn must not call back into the hub.
func (h *hub) each(fn func(*conn)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns {
		fn(c)
	}
}

// sessions returns where each local session is, for re-announcing them.
func (h *hub) sessions() map[int]model.Session {
	out := make(map[int]model.Session)
	h.each(func(c *conn) { out[c.user] = c.session() })
	return out
}
