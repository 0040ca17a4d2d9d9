package model

import (
	"context"
	"slices"
	"strings"
	"time"

	"chat/common/message"
)

// MemoryPresence is RedisPresence on a Memory: each user's session, the users of
// each node, and the nodes' heartbeats with their TTL.
type MemoryPresence struct {
	m *Memory
}

// NewMemoryPresence returns the presence store on m.
func NewMemoryPresence(m *Memory) *MemoryPresence { return &MemoryPresence{m: m} }

// onlineIDs returns the online user ids in order.
func (m *Memory) onlineIDs() []int { return sortedKeys(m.sessions) }

// addNodeUser puts uid in node's users.
func (m *Memory) addNodeUser(node string, uid int) {
	if m.nodeUsers[node] == nil {
		m.nodeUsers[node] = map[int]bool{}
	}
	m.nodeUsers[node][uid] = true
}

// Claim records s as userID's session, replacing any other, and returns what the
// login response needs, with at most firstIDs online ids.
func (p *MemoryPresence) Claim(ctx context.Context, userID int, s Session, firstIDs int) (Claim, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	var c Claim
	c.Previous, c.Replaced = p.m.sessions[userID]
	p.m.sessions[userID] = s
	p.m.addNodeUser(s.Node, userID)
	if c.Replaced && c.Previous.Node != s.Node {
		delete(p.m.nodeUsers[c.Previous.Node], userID)
	}
	c.LastInboxID = p.m.inboxes[userID].newest()
	c.InRooms = len(p.m.cursors[userID]) > 0
	ids := p.m.onlineIDs()
	c.OnlineCount = len(ids)
	from, to := redisRange(len(ids), 0, firstIDs-1)
	c.FirstIDs = slices.Clone(ids[from:to])
	return c, nil
}

// Release ends the session s of userID if it is still current, and returns the
// online count after it.
func (p *MemoryPresence) Release(ctx context.Context, userID int, s Session) (count int, released bool, err error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	cur, ok := p.m.sessions[userID]
	if !ok || cur.Node != s.Node || cur.ID != s.ID {
		return 0, false, nil
	}
	delete(p.m.sessions, userID)
	delete(p.m.nodeUsers[s.Node], userID)
	return len(p.m.sessions), true, nil
}

// Page returns the total online count and the users at [offset, offset+limit) in
// id order.
func (p *MemoryPresence) Page(ctx context.Context, offset, limit int) (int, []message.OnlineUser, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	ids := p.m.onlineIDs()
	from, to := redisRange(len(ids), offset, offset+limit-1)
	users := make([]message.OnlineUser, 0, to-from)
	for _, id := range ids[from:to] {
		users = append(users, message.OnlineUser{UserID: id, UserName: p.m.sessions[id].Name})
	}
	return len(ids), users, nil
}

// beating reports whether node's heartbeat has not expired.
func (m *Memory) beating(node string) bool {
	exp, ok := m.alive[node]
	return ok && m.now().Before(exp)
}

// Beat renews node's heartbeat for ttl and announces it; it reports whether the
// heartbeat had lapsed.
func (p *MemoryPresence) Beat(ctx context.Context, node string, ttl time.Duration) (lapsed bool, err error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	lapsed = !p.m.beating(node)
	p.m.alive[node] = p.m.now().Add(ttl)
	p.m.nodes[node] = true
	return lapsed, nil
}

// Nodes lists the nodes that have announced themselves and not been reaped, in order.
func (p *MemoryPresence) Nodes(ctx context.Context) ([]string, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	out := make([]string, 0, len(p.m.nodes))
	for n := range p.m.nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// Reap takes offline the users of node if its heartbeat has expired.
func (p *MemoryPresence) Reap(ctx context.Context, node string) ([]Reaped, int, error) {
	return p.reap(node, "")
}

// Reset takes offline the sessions of node whose id does not start with run.
func (p *MemoryPresence) Reset(ctx context.Context, node, run string) ([]Reaped, int, error) {
	return p.reap(node, run)
}

// reap is reap.lua.
func (p *MemoryPresence) reap(node, run string) ([]Reaped, int, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if run == "" && p.m.beating(node) {
		return nil, 0, nil
	}
	var gone []Reaped
	for _, uid := range sortedKeys(p.m.nodeUsers[node]) {
		cur, ok := p.m.sessions[uid]
		switch {
		case ok && cur.Node == node && (run == "" || !strings.HasPrefix(cur.ID, run)):
			delete(p.m.sessions, uid)
			delete(p.m.nodeUsers[node], uid)
			gone = append(gone, Reaped{UserID: uid, Name: cur.Name})
		case !ok || cur.Node != node:
			delete(p.m.nodeUsers[node], uid)
		}
	}
	if run == "" {
		delete(p.m.nodes, node)
	}
	return gone, len(p.m.sessions), nil
}

// Restore re-announces the sessions of node.
func (p *MemoryPresence) Restore(ctx context.Context, node string, sessions map[int]Session) (Restored, error) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	var res Restored
	for _, id := range sortedKeys(sessions) {
		s := sessions[id]
		cur, ok := p.m.sessions[id]
		if ok && cur.String() != s.String() {
			res.Replaced = append(res.Replaced, id)
			continue
		}
		p.m.sessions[id] = s
		p.m.addNodeUser(node, id)
		if !ok {
			res.Back = append(res.Back, id)
		}
	}
	res.OnlineCount = len(p.m.sessions)
	return res, nil
}

// Leave forgets node on a clean shutdown.
func (p *MemoryPresence) Leave(ctx context.Context, node string) error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	delete(p.m.alive, node)
	delete(p.m.nodeUsers, node)
	delete(p.m.nodes, node)
	return nil
}

// Ping answers at once: memory is always there.
func (p *MemoryPresence) Ping(ctx context.Context) error { return nil }
