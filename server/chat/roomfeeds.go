package chat

import "chat/server/model"

// A session's rooms are feeds (delivery.go) of proto-2 sessions: read once at
// login (load), joined and left as the room process answers, woken by the
// room's notices, and taken out of the node's room index when the session ends.

// wakeRooms asks the session's delivery to read the given rooms on from their
// cursors (all of them when all is set: after the bus was away).
func (d *feeds) wakeRooms(all bool, rooms ...int) {
	d.mu.Lock()
	if d.dirty == nil {
		d.dirty = make(map[int]bool)
	}
	for _, room := range rooms {
		d.dirty[room] = true
	}
	if all {
		for room := range d.rooms {
			d.dirty[room] = true
		}
	}
	d.mu.Unlock()
	d.run()
}

// deliverRooms runs in the delivery loop: at its first run it reads the
// session's rooms (load), then whatever rooms were woken. False if Redis could
// not be read.
func (d *feeds) deliverRooms() bool {
	if !d.s.takesRooms() {
		return true
	}
	if !d.load() {
		return false
	}
	d.mu.Lock()
	dirty := d.dirty
	d.dirty = nil
	d.mu.Unlock()
	for room := range dirty {
		d.mu.Lock()
		f := d.rooms[room]
		d.mu.Unlock()
		if f != nil && !d.deliver(f) {
			d.mu.Lock()
			if d.dirty == nil {
				d.dirty = make(map[int]bool)
			}
			for r := range dirty {
				d.dirty[r] = true
			}
			d.mu.Unlock()
			return false
		}
		delete(dirty, room)
	}
	return true
}

// joined makes room one of the session's feeds, its cursor at cursor, and
// reads on from there: a message kept between the join and now is not missed.
func (d *feeds) joined(room int, name, cursor string) {
	if !d.s.takesRooms() {
		return
	}
	d.mu.Lock()
	if d.rooms == nil {
		d.rooms = make(map[int]*feed)
	}
	if _, ok := d.rooms[room]; !ok {
		d.rooms[room] = &feed{room: room, name: name, cursor: cursor}
	}
	if !d.ended {
		d.s.srv.rooms.add(room, d.s)
	}
	d.mu.Unlock()
	d.wakeRooms(false, room)
}

// left forgets room for this session.
func (d *feeds) left(room int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.rooms, room)
	delete(d.dirty, room)
	d.s.srv.rooms.remove(room, d.s)
}

// drop takes an ending session out of the node's room index for good. The
// index is changed under mu (the index's own lock comes second, never the
// other way round), so a delivery still loading the session's rooms cannot put
// it back.
func (d *feeds) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ended = true
	for room := range d.rooms {
		d.s.srv.rooms.remove(room, d.s)
	}
}

// load reads the session's rooms once, at login: it puts the session in the
// node's index for each, then reads each room's newest id. A message kept before
// the session was in the index (whose notice found no one here) is then seen as
// newer than the cursor; one kept after is offered. Only the rooms with messages
// after the cursor are read: a login costs three round trips whatever the number
// of rooms, plus one read per room with something missed.
func (d *feeds) load() bool {
	c := d.s
	d.mu.Lock()
	loaded := d.loaded
	d.mu.Unlock()
	if loaded {
		return true
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	list, err := c.srv.st.Rooms.Memberships(ctx, c.user)
	if err != nil {
		return false
	}
	d.mu.Lock()
	if d.rooms == nil {
		d.rooms = make(map[int]*feed)
	}
	var fresh []*feed
	var ids []int
	for _, m := range list {
		if _, joined := d.rooms[m.Room]; joined {
			continue
		}
		f := &feed{room: m.Room, name: m.Name, cursor: m.Cursor}
		d.rooms[m.Room] = f
		fresh, ids = append(fresh, f), append(ids, m.Room)
		if !d.ended {
			c.srv.rooms.add(m.Room, c)
		}
	}
	d.mu.Unlock()
	var newest []string
	if len(ids) > 0 {
		if newest, err = c.srv.st.Rooms.Newest(ctx, ids); err != nil {
			// Undone, for the next try to do it all again.
			d.mu.Lock()
			for i, room := range ids {
				if d.rooms[room] == fresh[i] {
					delete(d.rooms, room)
					c.srv.rooms.remove(room, c)
				}
			}
			d.mu.Unlock()
			return false
		}
	}
	d.mu.Lock()
	if d.dirty == nil {
		d.dirty = make(map[int]bool)
	}
	for i, f := range fresh {
		if newest[i] != "" && model.CompareIDs(newest[i], f.cursor) > 0 {
			f.offlineUpTo = newest[i]
			d.dirty[ids[i]] = true
		}
	}
	d.loaded = true
	d.mu.Unlock()
	return true
}
