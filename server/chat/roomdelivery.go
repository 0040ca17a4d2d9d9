package chat

import (
	"errors"
	"strconv"
	"sync"

	"chat/common/message"
	"chat/server/model"
)

// Room messages reach members the way private messages do (delivery.go), with a
// room's stream in Redis as the source of truth and the member's cursor in it as
// its inbox: a message just kept is offered to every member session on every node
// (one notice per message on the bus, read by each node, which looks up its own
// members of the room); a session takes it as it is when it delivered up to the
// message before it, and otherwise reads the room's stream on from its cursor. The
// session's one delivery loop does both its inbox and its rooms, so each goes out
// once and in order. Acknowledged room messages move the member's cursor in Redis;
// what lies after it comes again at the next login, marked offline.

// sessionRooms is a session's rooms; guarded by the session's inbox.mu, and the
// cursors are owned by the running delivery as the inbox cursor is.
type sessionRooms struct {
	loaded bool // the memberships were read at login
	ended  bool // the session ended: it joins no more of the node's room index
	// answeredAt is when the login was answered (Unix ms): a message kept later
	// did not wait for the login, whatever the rooms' first read finds. Nor did
	// one kept in that same millisecond, as far as anyone can tell: it may have
	// been sent after the client read the answer, and such a message must not
	// come marked offline.
	answeredAt int64
	rooms      map[int]*roomFeed // by room id
	dirty      map[int]bool      // rooms to read on from their cursor
}

// roomFeed is one room of a session.
type roomFeed struct {
	name        string
	cursor      string // id of the last message queued to the client (or skipped: the session's own)
	offlineUpTo string // messages up to this id waited for the login: offline
}

// roomIndex is this node's sessions by room, for fanning out room messages and notices.
type roomIndex struct {
	mu      sync.RWMutex
	members map[int]map[*conn]struct{}
}

func (x *roomIndex) add(room int, c *conn) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.members == nil {
		x.members = make(map[int]map[*conn]struct{})
	}
	set := x.members[room]
	if set == nil {
		set = make(map[*conn]struct{})
		x.members[room] = set
	}
	set[c] = struct{}{}
}

func (x *roomIndex) remove(room int, c *conn) {
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
func (x *roomIndex) sessions(room int) []*conn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*conn, 0, len(x.members[room]))
	for c := range x.members[room] {
		out = append(out, c)
	}
	return out
}

// joinedRoom makes room one of the session's rooms, its cursor at cursor, and
// reads on from there: a message kept between the join and now is not missed.
func (c *conn) joinedRoom(room int, name, cursor string) {
	if !c.takesRooms() {
		return
	}
	c.inbox.mu.Lock()
	if c.rooms.rooms == nil {
		c.rooms.rooms = make(map[int]*roomFeed)
	}
	if _, ok := c.rooms.rooms[room]; !ok {
		c.rooms.rooms[room] = &roomFeed{name: name, cursor: cursor}
	}
	if !c.rooms.ended {
		c.srv.rooms.add(room, c)
	}
	c.inbox.mu.Unlock()
	c.wakeRoom(room)
}

// leftRoom forgets room for this session.
func (c *conn) leftRoom(room int) {
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	delete(c.rooms.rooms, room)
	delete(c.rooms.dirty, room)
	c.srv.rooms.remove(room, c)
}

// dropRooms takes an ending session out of the node's room index for good. The
// index is changed under the session's lock (the index's own lock comes second,
// never the other way round), so a delivery still loading the session's rooms
// cannot put it back.
func (c *conn) dropRooms() {
	c.inbox.mu.Lock()
	defer c.inbox.mu.Unlock()
	c.rooms.ended = true
	for room := range c.rooms.rooms {
		c.srv.rooms.remove(room, c)
	}
}

// takesRooms reports whether room messages and notices go to this session: only
// to proto-2 sessions. A classic client would not show them, so for a member
// logged in with one they wait in the room for its next proto-2 login.
func (c *conn) takesRooms() bool { return c.proto == message.ProtoAck }

// wakeRoom asks the session's delivery to read room on from its cursor.
func (c *conn) wakeRoom(room int) {
	c.inbox.mu.Lock()
	if c.rooms.dirty == nil {
		c.rooms.dirty = make(map[int]bool)
	}
	c.rooms.dirty[room] = true
	c.inbox.mu.Unlock()
	c.wakeInbox()
}

// wakeAllRooms asks the session to read every room on (after the bus was away).
func (c *conn) wakeAllRooms() {
	c.inbox.mu.Lock()
	for room := range c.rooms.rooms {
		if c.rooms.dirty == nil {
			c.rooms.dirty = make(map[int]bool)
		}
		c.rooms.dirty[room] = true
	}
	c.inbox.mu.Unlock()
	c.wakeInbox()
}

// deliverRooms runs in the session's delivery loop: at its first run it reads the
// session's rooms and delivers what each holds after the member's cursor (what was
// missed while offline); then whatever rooms were woken. False if Redis could not
// be read.
func (c *conn) deliverRooms() bool {
	if !c.takesRooms() {
		return true
	}
	if !c.loadRooms() {
		return false
	}
	c.inbox.mu.Lock()
	dirty := c.rooms.dirty
	c.rooms.dirty = nil
	c.inbox.mu.Unlock()
	for room := range dirty {
		if !c.deliverRoom(room) {
			c.inbox.mu.Lock()
			for r := range dirty {
				if c.rooms.dirty == nil {
					c.rooms.dirty = make(map[int]bool)
				}
				c.rooms.dirty[r] = true
			}
			c.inbox.mu.Unlock()
			return false
		}
		delete(dirty, room)
	}
	return true
}

// loadRooms reads the session's rooms once, at login: it puts the session in the
// node's index for each, then reads each room's newest id. A message kept before
// the session was in the index (whose notice found no one here) is then seen as
// newer than the cursor; one kept after is offered. Only the rooms with messages
// after the cursor are read: a login costs three round trips whatever the number
// of rooms, plus one read per room with something missed.
func (c *conn) loadRooms() bool {
	c.inbox.mu.Lock()
	loaded := c.rooms.loaded
	c.inbox.mu.Unlock()
	if loaded {
		return true
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	list, err := c.srv.st.Rooms.Memberships(ctx, c.user)
	if err != nil {
		return false
	}
	c.inbox.mu.Lock()
	if c.rooms.rooms == nil {
		c.rooms.rooms = make(map[int]*roomFeed)
	}
	var fresh []*roomFeed
	var ids []int
	for _, m := range list {
		if _, joined := c.rooms.rooms[m.Room]; joined {
			continue
		}
		f := &roomFeed{name: m.Name, cursor: m.Cursor}
		c.rooms.rooms[m.Room] = f
		fresh, ids = append(fresh, f), append(ids, m.Room)
		if !c.rooms.ended {
			c.srv.rooms.add(m.Room, c)
		}
	}
	c.inbox.mu.Unlock()
	var newest []string
	if len(ids) > 0 {
		if newest, err = c.srv.st.Rooms.Newest(ctx, ids); err != nil {
			// Undone, for the next try to do it all again.
			c.inbox.mu.Lock()
			for i, room := range ids {
				if c.rooms.rooms[room] == fresh[i] {
					delete(c.rooms.rooms, room)
					c.srv.rooms.remove(room, c)
				}
			}
			c.inbox.mu.Unlock()
			return false
		}
	}
	c.inbox.mu.Lock()
	if c.rooms.dirty == nil {
		c.rooms.dirty = make(map[int]bool)
	}
	for i, f := range fresh {
		if newest[i] != "" && model.CompareIDs(newest[i], f.cursor) > 0 {
			f.offlineUpTo = newest[i]
			c.rooms.dirty[ids[i]] = true
		}
	}
	c.rooms.loaded = true
	c.inbox.mu.Unlock()
	return true
}

// deliverRoom queues every message of room after the session's cursor.
func (c *conn) deliverRoom(room int) bool {
	for {
		c.inbox.mu.Lock()
		feed := c.rooms.rooms[room]
		var cursor string
		if feed != nil {
			cursor = feed.cursor
		}
		c.inbox.mu.Unlock()
		if feed == nil {
			return true // left meanwhile
		}
		ctx, cancel := c.srv.requestContext()
		msgs, err := c.srv.st.Rooms.Read(ctx, room, c.user, cursor, deliveryBatch)
		cancel()
		if errors.Is(err, model.ErrNotMember) || errors.Is(err, model.ErrNoSuchRoom) {
			c.leftRoom(room) // removed while the notice was lost
			return true
		}
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if !c.queueRoomMessage(room, feed, m, nil) {
				return true
			}
			c.inbox.mu.Lock()
			feed.cursor = m.ID
			c.inbox.mu.Unlock()
		}
		if len(msgs) < deliveryBatch {
			return true
		}
		if !c.waitQueueBelow(c.srv.cfg.MaxQueue / 2) {
			return true
		}
	}
}

// offerRoom is offer (delivery.go) for a room message: f, if not nil, is its
// frame as a live message.
func (c *conn) offerRoom(room int, m model.Stored, previous string, f []byte) {
	c.inbox.mu.Lock()
	feed := c.rooms.rooms[room]
	if feed == nil {
		c.inbox.mu.Unlock()
		return // not (or no longer) a member here
	}
	direct := c.inbox.ready && c.rooms.loaded && !c.inbox.running && !c.inbox.pending &&
		(previous == "" || previous == feed.cursor) && model.CompareIDs(m.ID, feed.cursor) > 0
	if direct && c.queueRoomMessage(room, feed, m, f) {
		feed.cursor = m.ID
	}
	c.inbox.mu.Unlock()
	if !direct {
		c.wakeRoom(room)
	}
}

// queueRoomMessage queues m of room for the client, unless the client sent it.
func (c *conn) queueRoomMessage(room int, feed *roomFeed, m model.Stored, f []byte) bool {
	if m.From == c.user {
		return true // the sender has its own message
	}
	msgID := model.RoomMsgID(room, m.ID)
	offline := feed.offlineUpTo != "" && model.CompareIDs(m.ID, feed.offlineUpTo) <= 0 && m.SentAt < c.rooms.answeredAt
	if f == nil || offline {
		var err error
		f, err = message.EncodeFrame(message.RoomMesType, roomMes(room, feed.name, m, offline))
		if err != nil {
			return true
		}
	}
	return c.queueStored(message.RoomMesType, f, false, msgID, m.SentAt, offline)
}

func roomMes(room int, name string, m model.Stored, offline bool) message.RoomMes {
	return message.RoomMes{
		RoomID: room, RoomName: name, MsgID: model.RoomMsgID(room, m.ID),
		FromUserID: m.From, FromUserName: m.FromName, Content: m.Content, SentAt: m.SentAt, Offline: offline,
	}
}

// Bus notices of rooms (see cluster.go for the others).
const (
	noticeRoomMessage = 'r' // r <origin> <room> <previous or -> <id> <from> <name length> <room name length> <name><room name><content>
	noticeRoomEvent   = 'e' // e <origin> <room> <user> <event> <user name>
)

// roomMessage gets a message just kept in room to every member session: this
// node's at once, the others' through one notice on the bus.
func (s *Server) roomMessage(room int, roomName, previous string, m model.Stored) {
	s.offerRoomLocal(room, roomName, previous, m)
	if previous == "" {
		previous = "-"
	}
	b := make([]byte, 0, 96+len(s.cfg.Node)+len(m.FromName)+len(roomName)+len(m.Content))
	b = append(b, noticeRoomMessage, ' ')
	b = append(b, s.cfg.Node...)
	for _, f := range []string{strconv.Itoa(room), previous, m.ID, strconv.Itoa(m.From),
		strconv.Itoa(len(m.FromName)), strconv.Itoa(len(roomName))} {
		b = append(b, ' ')
		b = append(b, f...)
	}
	b = append(b, ' ')
	b = append(b, m.FromName...)
	b = append(b, roomName...)
	b = append(b, m.Content...)
	s.publishRoom(b)
}

// publishRoom publishes a room notice to every node, retried for a while if Redis
// refuses it. Should it still be lost, a room message reaches the members
// elsewhere from their cursor at their next wake or login (every session reads its
// rooms again when a node's subscription comes back), and a removed member's
// session leaves the room at its next read, which checks membership.
func (s *Server) publishRoom(payload []byte) {
	s.publishRetried(model.BroadcastChannel, payload)
}

// offerRoomLocal offers a room message to this node's sessions in the room; the
// live frame is encoded once for all of them.
func (s *Server) offerRoomLocal(room int, roomName, previous string, m model.Stored) {
	members := s.rooms.sessions(room)
	if len(members) == 0 {
		return
	}
	f, err := message.EncodeFrame(message.RoomMesType, roomMes(room, roomName, m, false))
	if err != nil {
		return
	}
	for _, c := range members {
		c.offerRoom(room, m, previous, f)
	}
}

// onRoomMessage handles a room message notice from another node.
func (s *Server) onRoomMessage(body []byte) {
	f, rest, ok := fields(body, 7)
	if !ok || string(f[0]) == s.cfg.Node {
		return
	}
	room, err1 := strconv.Atoi(string(f[1]))
	from, err2 := strconv.Atoi(string(f[4]))
	nameLen, err3 := strconv.Atoi(string(f[5]))
	roomNameLen, err4 := strconv.Atoi(string(f[6]))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || nameLen < 0 || roomNameLen < 0 || nameLen+roomNameLen > len(rest) {
		return
	}
	previous := string(f[2])
	if previous == "-" {
		previous = ""
	}
	id := string(f[3])
	m := model.Stored{ID: id, From: from, FromName: string(rest[:nameLen]),
		Content: string(rest[nameLen+roomNameLen:]), SentAt: model.IDTime(id)}
	s.offerRoomLocal(room, string(rest[nameLen:nameLen+roomNameLen]), previous, m)
}

// roomEvent tells the room's members online, on every node, that user joined,
// left or was removed; a removed user's session, wherever it is, leaves the room.
func (s *Server) roomEvent(room, user int, name, event string) {
	s.roomEventLocal(room, user, name, event)
	b := []byte(string(noticeRoomEvent) + " " + s.cfg.Node + " " + strconv.Itoa(room) + " " +
		strconv.Itoa(user) + " " + event + " " + name)
	s.publishRoom(b)
}

func (s *Server) roomEventLocal(room, user int, name, event string) {
	members := s.rooms.sessions(room)
	if len(members) == 0 {
		return
	}
	f, err := message.EncodeFrame(message.RoomNoticeMesType,
		message.RoomNoticeMes{RoomID: room, UserID: user, UserName: name, Event: event})
	if err != nil {
		return
	}
	n := 0
	for _, c := range members {
		if event == message.RoomJoined && c.user == user {
			continue // the joiner has its answer
		}
		if c.enqueue(f, "") {
			n++
		}
		if event == message.RoomRemoved && c.user == user {
			c.leftRoom(room)
		}
	}
	s.metrics.messagesOut.WithLabelValues(message.RoomNoticeMesType).Add(float64(n))
}

// onRoomEvent handles a room event notice from another node.
func (s *Server) onRoomEvent(body []byte) {
	f, name, ok := fields(body, 4)
	if !ok || string(f[0]) == s.cfg.Node {
		return
	}
	room, err1 := strconv.Atoi(string(f[1]))
	user, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return
	}
	s.roomEventLocal(room, user, string(name), string(f[3]))
}

// validAckID reports whether an AckMes id is a private or a room message id.
func validAckID(id string) bool {
	if model.ValidID(id) {
		return true
	}
	_, _, ok := model.ParseRoomMsgID(id)
	return ok
}

// removeAcked forgets what was delivered: private messages leave their inbox,
// room messages move their members' cursors. It owns batch: the room ids are
// taken out of it, and what is left is the private ids of each user.
func (s *Server) removeAcked(batch map[int][]string) {
	var rooms map[int]map[int]string
	for user, ids := range batch {
		private := ids[:0]
		for _, id := range ids {
			room, rid, ok := model.ParseRoomMsgID(id)
			if !ok {
				private = append(private, id)
				continue
			}
			if rooms == nil {
				rooms = map[int]map[int]string{}
			}
			if rooms[user] == nil {
				rooms[user] = map[int]string{}
			}
			if cur, seen := rooms[user][room]; !seen || model.CompareIDs(rid, cur) > 0 {
				rooms[user][room] = rid
			}
		}
		if len(private) == 0 {
			delete(batch, user)
		} else {
			batch[user] = private
		}
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	if len(batch) > 0 {
		if failed, err := s.st.Inbox.Delete(ctx, batch); err != nil {
			s.metrics.ackRemovalsFailed.Add(float64(failed))
			s.log.Warn("could not forget delivered messages; they may come again", "users", failed, "of", len(batch), "err", err)
		}
	}
	if len(rooms) > 0 {
		if err := s.st.Rooms.Advance(ctx, rooms); err != nil {
			s.log.Warn("could not move room cursors; room messages may come again", "users", len(rooms), "err", err)
		}
	}
}
