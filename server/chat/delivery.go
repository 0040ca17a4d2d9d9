package chat

import (
	"errors"
	"sync"
	"time"

	"chat/common/message"
	"chat/server/model"
	"chat/server/transport"
)

// Stored messages reach a session through its feeds: its inbox (private
// messages) and each of its rooms. Each feed is a stream in Redis, the one
// source of truth, and the session's cursor in it. A message just kept is
// offered to the session (offer): queued as it is when nothing before it can be
// waiting, or else a wake (local, or through the bus from another node) says
// "look again", and the session's one delivery goroutine (loop) reads the feed
// on from its cursor. So messages go out once, in the order of their feed.
// Acknowledged messages leave the inbox, or move the member's cursor in Redis
// (acks.go); what lies after the cursor comes again at the next login, marked
// offline.

// deliveryBatch is how many messages one read of a feed takes.
const deliveryBatch = 256

// feed is one stream a session reads: its inbox, or one of its rooms.
type feed struct {
	room        int    // 0: the inbox
	name        string // the room's name
	cursor      string // id of the last message queued to the client (or skipped: the session's own)
	offlineUpTo string // messages up to this id waited for the login: offline
}

// feeds is a session's feeds and its delivery.
type feeds struct {
	s *session

	// mu guards every field below, the feeds' cursors included. It is taken
	// before the session's transport lock (offer queues under it), never after.
	mu      sync.Mutex
	ready   bool // the login was answered: deliveries may start
	pending bool // a wake came since the running delivery last read
	// inboxDue: the inbox may hold messages not read yet: a wake came for it,
	// or the login found it not empty. A login to an empty inbox, and a wake
	// for rooms only, cost no read of it.
	inboxDue bool
	running  bool // a delivery goroutine runs
	loaded   bool // the room memberships were read at login
	ended    bool // the session ended: it joins no more of the node's room index
	// answeredAt is when the login was answered (Unix milliseconds): a room message kept
	// later did not wait for the login, whatever the rooms' first read finds.
	// Nor did one kept in that same millisecond, as far as anyone can tell: it
	// may have been sent after the client read the answer, and such a message
	// must not come marked offline.
	answeredAt int64
	inbox      feed
	rooms      map[int]*feed // by room id
	dirty      map[int]bool  // rooms to read on from their cursor
	// retry, while a delivery waits to retry a failed read, cuts the wait short
	// at a wake: a wake after Redis came back (a new message, the bus's return)
	// gets the delivery going at once rather than at the end of its backoff.
	retry chan struct{}
}

// start starts the first delivery, which sends the offline messages; it runs
// once the login response is queued, so they follow it.
func (d *feeds) start() {
	d.mu.Lock()
	d.ready = true
	d.answeredAt = time.Now().UnixMilli()
	d.mu.Unlock()
	d.run()
}

// claimed takes what the login's claim found: the newest message waiting in the
// inbox, up to which messages count as offline, and whether the user was in a
// room. An empty inbox is not read at the first delivery (a message kept after
// the claim comes with a wake), nor the rooms of a user in none (a room joined
// later comes as it is joined).
func (d *feeds) claimed(c model.Claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inbox.offlineUpTo = c.LastInboxID
	d.inboxDue = d.inboxDue || c.LastInboxID != ""
	d.loaded = d.loaded || !c.InRooms
}

// wake asks the session to deliver what its inbox holds, and its dirty rooms.
func (d *feeds) wake() {
	d.mu.Lock()
	d.inboxDue = true
	d.mu.Unlock()
	d.run()
}

// run starts the delivery goroutine unless it runs, or tells the one running
// to read again.
func (d *feeds) run() {
	d.mu.Lock()
	d.pending = true
	start := d.ready && !d.running
	d.running = d.running || start
	if d.retry != nil {
		select {
		case d.retry <- struct{}{}:
		default:
		}
	}
	d.mu.Unlock()
	if start {
		d.s.srv.goTracked(d.loop)
	}
}

// Retry delays of a delivery whose read failed (Redis slow or away).
const (
	firstRetry = 200 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// loop is the session's delivery goroutine: it runs while wakes come.
func (d *feeds) loop() {
	c := d.s
	retry := firstRetry
	for {
		d.mu.Lock()
		if !d.pending || c.t.IsClosing() {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.pending = false
		inboxDue := d.inboxDue
		d.inboxDue = false
		d.mu.Unlock()
		inboxRead := !inboxDue || d.deliver(&d.inbox)
		if !inboxRead {
			d.mu.Lock()
			d.inboxDue = true // read it again at the retry
			d.mu.Unlock()
		}
		if d.deliverRooms() && inboxRead {
			retry = firstRetry
			continue
		}
		// Messages may be waiting that no later wake will come for (their sender
		// waits for them to arrive): try again until the read succeeds.
		c.srv.log.Warn("inbox read failed; retrying", "user", c.user, "in", retry)
		d.mu.Lock()
		if d.retry == nil {
			d.retry = make(chan struct{}, 1)
		}
		woken := d.retry
		d.mu.Unlock()
		select {
		case <-time.After(retry):
		case <-woken:
		case <-c.t.Gone():
		}
		retry = min(2*retry, maxRetry)
		d.mu.Lock()
		d.pending = true
		d.mu.Unlock()
	}
}

// deliver queues every message of f after its cursor; false if the feed could
// not be read. If the client reads slower than the feed fills, delivery waits
// for the queue to drain instead of overflowing it.
func (d *feeds) deliver(f *feed) bool {
	c := d.s
	for {
		d.mu.Lock()
		cursor, member := f.cursor, f.room == 0 || d.rooms[f.room] == f
		d.mu.Unlock()
		if !member {
			return true // left meanwhile
		}
		msgs, err := d.read(f, cursor)
		if f.room != 0 && (errors.Is(err, model.ErrNotMember) || errors.Is(err, model.ErrNoSuchRoom)) {
			d.left(f.room) // removed while the notice was lost
			return true
		}
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if !d.queue(f, m, nil) {
				return true // closing: nothing more to deliver to
			}
			d.mu.Lock()
			f.cursor = m.ID
			d.mu.Unlock()
		}
		if len(msgs) < deliveryBatch || !c.t.WaitQueueBelow(c.srv.cfg.MaxQueue/2) {
			return true
		}
	}
}

// read reads the messages of f after cursor.
func (d *feeds) read(f *feed, cursor string) ([]model.Stored, error) {
	c := d.s
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	if f.room == 0 {
		return c.srv.st.Inbox.Read(ctx, c.user, cursor, deliveryBatch)
	}
	return c.srv.st.Rooms.Read(ctx, f.room, c.user, cursor, deliveryBatch)
}

// offer delivers a message just added to a feed (room, or 0: the inbox)
// straight to the session, without reading it back, when nothing before it can
// be waiting: no delivery is running or due, the session has not gone past it,
// and it delivered up to the message that preceded it (or the feed held nothing
// else: all before it were delivered). Otherwise the delivery reads the feed,
// in order. live, if not nil, is the frame of a room message as a live one.
func (d *feeds) offer(room int, m model.Stored, previous string, live []byte) {
	d.mu.Lock()
	f := &d.inbox
	if room != 0 {
		if f = d.rooms[room]; f == nil {
			d.mu.Unlock()
			return // not (or no longer) a member here
		}
	}
	direct := d.ready && (room == 0 || d.loaded) && !d.running && !d.pending &&
		(previous == "" || previous == f.cursor) &&
		// A delivery woken by a later message may have read this one already.
		(f.cursor == "" || model.CompareIDs(m.ID, f.cursor) > 0)
	if direct && d.queue(f, m, live) {
		f.cursor = m.ID
	}
	d.mu.Unlock()
	switch {
	case direct:
	case room == 0:
		d.wake()
	default:
		d.wakeRooms(false, room)
	}
}

// queue queues m of f for the client. A private message goes to a classic
// client as an SmsMes (classic.go) and is forgotten once written; to a proto-2
// client as a PrivateMes, forgotten once acked. A room message goes as a
// RoomMes (live, if not nil, is its frame as a live one), unless the client
// sent it. It reports false once the session takes no more frames.
func (d *feeds) queue(f *feed, m model.Stored, live []byte) bool {
	c := d.s
	offline := f.offlineUpTo != "" && model.CompareIDs(m.ID, f.offlineUpTo) <= 0
	var typ, id string
	var frame []byte
	var err error
	copied := false // frame is in a scratch buffer: queue a copy
	switch {
	case f.room != 0:
		if m.From == c.user {
			return true // the sender has its own message
		}
		offline = offline && m.SentAt < d.answeredAt
		typ, id, frame = message.RoomMesType, model.RoomMsgID(f.room, m.ID), live
		if frame == nil || offline {
			frame, err = message.EncodeFrame(typ, roomMes(f.room, f.name, m, offline))
		}
	case c.classic():
		typ, id = message.SmsMesType, m.ID
		frame, err = classicPrivate(m, offline)
	default:
		typ, id, copied = message.PrivateMesType, m.ID, true
		buf := transport.GetBuffer()
		defer transport.PutBuffer(buf)
		frame = message.AppendFrameOf((*buf)[:0], typ, &message.PrivateMes{
			MsgID:        m.ID,
			FromUserID:   m.From,
			FromUserName: m.FromName,
			ToUserID:     c.user,
			Content:      m.Content,
			SentAt:       m.SentAt,
			Offline:      offline,
		})
		*buf = frame[:0]
	}
	if err != nil {
		return true // not encodable: nothing to send, move past it
	}
	ack := "" // a proto-2 client acks
	if c.classic() {
		ack = id
	}
	queued := false
	if copied {
		queued = c.t.QueueCopy(frame, ack)
	} else {
		queued = c.t.Queue(frame, ack)
	}
	if !queued {
		return false
	}
	c.srv.metrics.messagesOut.inc(typ)
	if !offline {
		c.srv.metrics.deliveryLatency.Observe(float64(time.Now().UnixMilli()-m.SentAt) / 1000)
	}
	return true
}

func roomMes(room int, name string, m model.Stored, offline bool) message.RoomMes {
	return message.RoomMes{
		RoomID: room, RoomName: name, MsgID: model.RoomMsgID(room, m.ID),
		FromUserID: m.From, FromUserName: m.FromName, Content: m.Content, SentAt: m.SentAt, Offline: offline,
	}
}
