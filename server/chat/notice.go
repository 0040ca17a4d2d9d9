package chat

import (
	"bytes"
	"strconv"

	"chat/server/model"
)

// Nodes share one Redis. What a node must tell others travels as a notice on
// Redis pub/sub: on a node's own channel (wake a user's delivery, end a
// replaced session) or on the broadcast channel (group messages as ready-made
// frames, a tick's presence changes, room messages and room events). A notice is a kind letter
// and space-separated fields; what may hold spaces comes last, its lengths
// among the fields. Each kind has its type, an append that writes it and a
// parse that reads it back (parse takes the notice after the kind and its
// space: see splitNotice).
const (
	noticeKick        = 'k' // k <user> <session id>
	noticeMessage     = 'm' // m <user> <previous id or -> <id> <from> <name length> <name><content>
	noticeBroadcast   = 'b' // b <origin node> <excluded user> <type> <frame>
	noticeRoomMessage = 'r' // r <origin> <room> <previous or -> <id> <from> <name length> <room name length> <name><room name><content>
	noticeRoomEvent   = 'e' // e <origin> <room> <user> <event> <user name>
	noticePresence    = 'p' // p <origin> <count> then per user <user> <status> <name length>, then a space and the names
	noticeBatch       = 'B' // B <count> then per notice <length>, then a space and the notices (none a batch)
)

// splitNotice returns the kind of a notice and its body.
func splitNotice(payload []byte) (kind byte, body []byte, ok bool) {
	if len(payload) < 2 || payload[1] != ' ' {
		return 0, nil, false
	}
	return payload[0], payload[2:], true
}

// kickNotice ends a user's session on the node that holds it: a newer login
// took over elsewhere.
type kickNotice struct {
	user int
	sid  string // the session to end, not a newer one
}

func (n kickNotice) append(b []byte) []byte {
	b = append(b, noticeKick)
	b = appendInt(b, n.user)
	return appendField(b, n.sid)
}

func parseKick(body []byte) (n kickNotice, ok bool) {
	f, _, ok := fields(body, 2)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[0])
	return kickNotice{user: v[0], sid: string(f[1])}, ok
}

// messageNotice carries a private message just kept in user's inbox to the node
// that holds the session, so that it can deliver it without reading the inbox.
type messageNotice struct {
	user     int
	previous string // the inbox's message before m; "" if none
	m        model.Stored
}

func (n messageNotice) append(b []byte) []byte {
	b = append(b, noticeMessage)
	b = appendInt(b, n.user)
	b = appendPrevious(b, n.previous)
	b = appendField(b, n.m.ID)
	b = appendInt(b, n.m.From)
	b = appendInt(b, len(n.m.FromName))
	b = appendField(b, n.m.FromName)
	return append(b, n.m.Content...)
}

func parseMessage(body []byte) (n messageNotice, ok bool) {
	f, rest, ok := fields(body, 5)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[0], f[3], f[4])
	user, from, nameLen := v[0], v[1], v[2]
	if !ok || nameLen < 0 || nameLen > len(rest) {
		return n, false
	}
	return messageNotice{user: user, previous: parsePrevious(f[1]),
		m: storedOf(string(f[2]), from, rest[:nameLen], rest[nameLen:])}, true
}

// broadcastNotice carries a broadcast frame (a group message) to every other
// node, for its sessions but the excluded user's.
type broadcastNotice struct {
	origin  string // the node that fanned it out already
	exclude int
	typ     string
	frame   []byte
}

func (n broadcastNotice) append(b []byte) []byte {
	b = append(b, noticeBroadcast)
	b = appendField(b, n.origin)
	b = appendInt(b, n.exclude)
	b = appendField(b, n.typ)
	b = append(b, ' ')
	return append(b, n.frame...)
}

func parseBroadcast(body []byte) (n broadcastNotice, ok bool) {
	f, rest, ok := fields(body, 3)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[1])
	return broadcastNotice{origin: string(f[0]), exclude: v[0], typ: string(f[2]), frame: rest}, ok
}

// roomMessageNotice carries a message just kept in a room to every node, for
// its sessions of the room's members.
type roomMessageNotice struct {
	origin   string
	room     int
	roomName string
	previous string // the room's message before m; "" if none
	m        model.Stored
}

func (n roomMessageNotice) append(b []byte) []byte {
	b = append(b, noticeRoomMessage)
	b = appendField(b, n.origin)
	b = appendInt(b, n.room)
	b = appendPrevious(b, n.previous)
	b = appendField(b, n.m.ID)
	b = appendInt(b, n.m.From)
	b = appendInt(b, len(n.m.FromName))
	b = appendInt(b, len(n.roomName))
	b = appendField(b, n.m.FromName)
	b = append(b, n.roomName...)
	return append(b, n.m.Content...)
}

func parseRoomMessage(body []byte) (n roomMessageNotice, ok bool) {
	f, rest, ok := fields(body, 7)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[1], f[4], f[5], f[6])
	room, from, nameLen, roomNameLen := v[0], v[1], v[2], v[3]
	if !ok || nameLen < 0 || roomNameLen < 0 || nameLen > len(rest) || roomNameLen > len(rest)-nameLen {
		return n, false
	}
	return roomMessageNotice{origin: string(f[0]), room: room, previous: parsePrevious(f[2]),
		roomName: string(rest[nameLen : nameLen+roomNameLen]),
		m:        storedOf(string(f[3]), from, rest[:nameLen], rest[nameLen+roomNameLen:])}, true
}

// roomEventNotice tells every node that user joined, left or was removed from
// a room, for its sessions of the room's members.
type roomEventNotice struct {
	origin string
	room   int
	user   int
	event  string
	name   string // the user's name
}

func (n roomEventNotice) append(b []byte) []byte {
	b = append(b, noticeRoomEvent)
	b = appendField(b, n.origin)
	b = appendInt(b, n.room)
	b = appendInt(b, n.user)
	b = appendField(b, n.event)
	return appendField(b, n.name)
}

func parseRoomEvent(body []byte) (n roomEventNotice, ok bool) {
	f, name, ok := fields(body, 4)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[1], f[2])
	return roomEventNotice{origin: string(f[0]), room: v[0], user: v[1], event: string(f[3]), name: string(name)}, ok
}

// presenceNotice carries the presence changes of one tick of a node to every
// other node, for all their sessions.
type presenceNotice struct {
	origin  string
	changes []presenceChange
}

func (n presenceNotice) append(b []byte) []byte {
	b = append(b, noticePresence)
	b = appendField(b, n.origin)
	b = appendInt(b, len(n.changes))
	for _, ch := range n.changes {
		b = appendInt(b, ch.UserID)
		b = appendInt(b, ch.Status)
		b = appendInt(b, len(ch.UserName))
	}
	b = append(b, ' ')
	for _, ch := range n.changes {
		b = append(b, ch.UserName...)
	}
	return b
}

func parsePresence(body []byte) (n presenceNotice, ok bool) {
	f, rest, ok := fields(body, 2)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[1])
	count := v[0]
	// A change takes at least six bytes ("1 0 0 "): a count beyond what the
	// notice can hold is refused before anything is made for it.
	if !ok || count < 0 || count > len(rest)/6 {
		return n, false
	}
	n.origin = string(f[0])
	if count == 0 {
		return n, true
	}
	f, names, ok := fields(rest, 3*count)
	if !ok {
		return n, false
	}
	n.changes = make([]presenceChange, count)
	for i := range n.changes {
		v, ok := numbers(f[3*i], f[3*i+1], f[3*i+2])
		if !ok || v[2] < 0 || v[2] > len(names) {
			return n, false
		}
		n.changes[i] = presenceChange{UserID: v[0], Status: v[1], UserName: string(names[:v[2]])}
		names = names[v[2]:]
	}
	return n, len(names) == 0
}

// batchNotice is the notices of one outbox round to one channel, sent as one
// (outbox.go). A batch holds no batch.
type batchNotice struct{ notices [][]byte }

func (n batchNotice) append(b []byte) []byte {
	b = append(b, noticeBatch)
	b = appendInt(b, len(n.notices))
	for _, p := range n.notices {
		b = appendInt(b, len(p))
	}
	b = append(b, ' ')
	for _, p := range n.notices {
		b = append(b, p...)
	}
	return b
}

// parseBatch returns the notices of a batch, slices of body.
func parseBatch(body []byte) (n batchNotice, ok bool) {
	f, rest, ok := fields(body, 1)
	if !ok {
		return n, false
	}
	v, ok := numbers(f[0])
	count := v[0]
	// A notice takes at least two bytes, its length field as many: a count
	// beyond what the batch can hold is refused before anything is made for it.
	if !ok || count < 1 || count > len(rest)/4 {
		return n, false
	}
	f, rest, ok = fields(rest, count)
	if !ok {
		return n, false
	}
	n.notices = make([][]byte, count)
	for i := range n.notices {
		v, ok := numbers(f[i])
		if !ok || v[0] < 2 || v[0] > len(rest) || rest[0] == noticeBatch {
			return batchNotice{}, false
		}
		n.notices[i], rest = rest[:v[0]], rest[v[0]:]
	}
	return n, len(rest) == 0
}

// appendField writes a field after a space; appendInt a number.
func appendField(b []byte, f string) []byte { return append(append(b, ' '), f...) }

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(append(b, ' '), int64(n), 10) }

// numbers parses up to four decimal fields; false if one is not a number.
func numbers(fs ...[]byte) (v [4]int, ok bool) {
	for i, f := range fs {
		n, err := strconv.Atoi(string(f))
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// storedOf is the message of a notice; its time is its id's.
func storedOf(id string, from int, name, content []byte) model.Stored {
	return model.Stored{ID: id, From: from, FromName: string(name), Content: string(content), SentAt: model.IDTime(id)}
}

// appendPrevious writes a previous id, "-" for none (a field is never empty).
func appendPrevious(b []byte, previous string) []byte {
	if previous == "" {
		previous = "-"
	}
	return appendField(b, previous)
}

func parsePrevious(f []byte) string {
	if string(f) == "-" {
		return ""
	}
	return string(f)
}

// fields splits the first n space-separated fields off a notice body.
func fields(b []byte, n int) (out [][]byte, rest []byte, ok bool) {
	for range n {
		var f []byte
		f, b, ok = bytes.Cut(b, []byte{' '})
		if !ok && len(out) < n-1 {
			return nil, nil, false
		}
		out = append(out, f)
	}
	return out, b, true
}
