package model

import (
	"context"
	"time"

	"chat/common/message"
)

// MemoryRooms is RedisRooms on a Memory: rooms with their owner and members, one
// stream of messages per room, and each member's cursor in it.
type MemoryRooms struct {
	m        *Memory
	dedupTTL time.Duration
	keep     Retention
}

// memRoom is a room: its hash, its members and its stream.
type memRoom struct {
	name    string
	owner   int
	members map[int]bool
	log     memStream
}

// NewMemoryRooms returns the room store on m; see NewRedisRooms.
func NewMemoryRooms(m *Memory, dedupTTL time.Duration, keep Retention) *MemoryRooms {
	return &MemoryRooms{m: m, dedupTTL: dedupTTL, keep: keep.orDefault()}
}

// Create makes a room named name owned by owner and returns its id;
// ErrTooManyRooms if owner is in userRooms rooms already (the id is used up anyway).
func (r *MemoryRooms) Create(ctx context.Context, owner int, name string, userRooms int) (int, error) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roomSeq++
	room := m.roomSeq
	if len(m.cursors[owner]) >= userRooms {
		return 0, ErrTooManyRooms
	}
	m.rooms[room] = &memRoom{name: name, owner: owner, members: map[int]bool{owner: true}}
	m.setCursor(owner, room, "0-0")
	return room, nil
}

func (m *Memory) setCursor(user, room int, id string) {
	if m.cursors[user] == nil {
		m.cursors[user] = map[int]string{}
	}
	m.cursors[user][room] = id
}

// Join adds user to room, unless the room has roomMembers members or the user is
// in userRooms rooms already. The cursor starts at the room's newest message.
func (r *MemoryRooms) Join(ctx context.Context, room, user, roomMembers, userRooms int) (Membership, error) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := Membership{Room: room}
	rm := m.rooms[room]
	if rm == nil {
		return ms, ErrNoSuchRoom
	}
	ms.Name = rm.name
	switch {
	case rm.members[user]:
		return ms, ErrAlreadyMember
	case len(rm.members) >= roomMembers:
		return ms, ErrRoomFull
	case len(m.cursors[user]) >= userRooms:
		return ms, ErrTooManyRooms
	}
	ms.Cursor = cmpOr(rm.log.newest(), "0-0")
	rm.members[user] = true
	m.setCursor(user, room, ms.Cursor)
	return ms, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Remove takes target out of room, by its own will or the owner's; see
// RedisRooms.Remove. The owner's leaving makes the lowest member id the owner; the
// last member's deletes the room.
func (r *MemoryRooms) Remove(ctx context.Context, room, actor, target int) (string, string, error) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	rm := m.rooms[room]
	if rm == nil {
		return "", "", ErrNoSuchRoom
	}
	if (actor != target && rm.owner != actor) || !rm.members[target] {
		return rm.name, "", ErrNotMember
	}
	delete(rm.members, target)
	delete(m.cursors[target], room)
	if len(rm.members) == 0 {
		delete(m.rooms, room)
	} else if rm.owner == target {
		rm.owner = sortedKeys(rm.members)[0]
	}
	return rm.name, m.users[target].UserName, nil
}

// Memberships returns user's rooms, ordered by id, with their names and cursors.
func (r *MemoryRooms) Memberships(ctx context.Context, user int) ([]Membership, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	return r.m.memberships(user), nil
}

func (m *Memory) memberships(user int) []Membership {
	var out []Membership
	for _, room := range sortedKeys(m.cursors[user]) {
		ms := Membership{Room: room, Cursor: m.cursors[user][room]}
		if rm := m.rooms[room]; rm != nil {
			ms.Name = rm.name
		}
		out = append(out, ms)
	}
	return out
}

// Newest returns the id of the newest message of each room ("" for none).
func (r *MemoryRooms) Newest(ctx context.Context, rooms []int) ([]string, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	out := make([]string, len(rooms))
	for i, room := range rooms {
		if rm := r.m.rooms[room]; rm != nil {
			out[i] = rm.log.newest()
		}
	}
	return out, nil
}

// List returns user's rooms with their member counts, ordered by id.
func (r *MemoryRooms) List(ctx context.Context, user int) ([]message.RoomInfo, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	out := []message.RoomInfo{}
	for _, ms := range r.m.memberships(user) {
		info := message.RoomInfo{RoomID: ms.Room, Name: ms.Name}
		if rm := r.m.rooms[ms.Room]; rm != nil {
			info.Members = len(rm.members)
		}
		out = append(out, info)
	}
	return out, nil
}

// member returns room if user is a member of it: ErrNoSuchRoom, ErrNotMember.
func (m *Memory) member(room, user int) (*memRoom, error) {
	rm := m.rooms[room]
	if rm == nil {
		return nil, ErrNoSuchRoom
	}
	if !rm.members[user] {
		return rm, ErrNotMember
	}
	return rm, nil
}

// Members returns the number of room's members and the page [offset, offset+limit)
// of them ordered by id, if user is a member.
func (r *MemoryRooms) Members(ctx context.Context, room, user, offset, limit int) (int, []message.OnlineUser, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	rm, err := r.m.member(room, user)
	if err != nil {
		return 0, nil, err
	}
	ids := sortedKeys(rm.members)
	from, to := redisRange(len(ids), offset, offset+limit-1)
	users := make([]message.OnlineUser, 0, to-from)
	for _, id := range ids[from:to] {
		users = append(users, message.OnlineUser{UserID: id, UserName: r.m.users[id].UserName})
	}
	return len(ids), users, nil
}

// Send keeps a message of from in room, once; see RedisRooms.Send.
func (r *MemoryRooms) Send(ctx context.Context, room, from int, fromName, content, clientMsgID string, rate Limit) (RoomSendResult, error) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	rm := m.rooms[room]
	if rm == nil {
		return RoomSendResult{}, ErrNoSuchRoom
	}
	res := RoomSendResult{RoomName: rm.name}
	if !rm.members[from] {
		return res, ErrNotMember
	}
	dedup := ""
	if clientMsgID != "" {
		dedup = RoomDedupKey(from, room, clientMsgID)
		if first, ok := m.deduped(dedup); ok {
			res.MsgID, res.Duplicate = first, true
			return res, nil
		}
	}
	key := rateKey(RatePrivate, itoa(from))
	interval := rate.interval()
	var start float64
	if interval > 0 {
		var ok bool
		if start, ok = m.gcra(key, interval, max(rate.Burst, 1)); !ok {
			return res, ErrRateLimited
		}
	}
	res.Previous = rm.log.newest()
	res.MsgID = rm.log.add(rm.log.next(m.now().UnixMilli()), from, fromName, content)
	rm.log.trimTo(r.keep.MaxLen)
	if dedup != "" {
		m.dedup[dedup] = memDedup{id: res.MsgID, expires: m.now().Add(r.dedupTTL)}
	}
	if interval > 0 {
		m.rates[key] = start + interval
	}
	// The sender needs no copy of its own message: a sender that was caught up stays so.
	if cur, ok := m.cursors[from][room]; ok && (res.Previous == "" || cur == res.Previous) {
		m.cursors[from][room] = res.MsgID
	}
	return res, nil
}

// Read returns up to count messages of room after the id after, oldest first, if
// user is a member.
func (r *MemoryRooms) Read(ctx context.Context, room, user int, after string, count int) ([]Stored, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	rm, err := r.m.member(room, user)
	if err != nil {
		return nil, err
	}
	start, err := parseStreamID(after)
	if err != nil {
		return nil, err
	}
	return rm.log.after(start, count), nil
}

// History returns up to limit messages of room older than before ("" for the
// newest), oldest first, and whether older ones exist, if user is a member.
func (r *MemoryRooms) History(ctx context.Context, room, user int, before string, limit int) (string, []Stored, bool, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	rm, err := r.m.member(room, user)
	if err != nil {
		name := ""
		if rm != nil {
			name = rm.name
		}
		return name, nil, false, err
	}
	msgs, more, err := r.m.readBefore(&rm.log, before, limit, r.keep)
	return rm.name, msgs, more, err
}

// Advance moves cursors forward to acknowledged room messages; a cursor never
// goes back, and a room the user has left is not touched.
func (r *MemoryRooms) Advance(ctx context.Context, acks map[int]map[int]string) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	for user, rooms := range acks {
		for room, id := range rooms {
			cur, ok := r.m.cursors[user][room]
			if !ok {
				continue
			}
			c, err1 := parseStreamID(cur)
			n, err2 := parseStreamID(id)
			if err1 == nil && err2 == nil && c.less(n) {
				r.m.cursors[user][room] = id
			}
		}
	}
	return nil
}
