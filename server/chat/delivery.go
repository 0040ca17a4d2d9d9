package chat

import (
	"sync"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// Private messages reach a session through its inbox in Redis, the one source of
// truth. A message just added is handed to a session on this node as it is when
// nothing before it can be waiting (offer); otherwise a wake (local, or through the
// bus from another node) says "look again", and the session's delivery reads the
// inbox on from where it stopped. One delivery runs at a time per session, so
// messages go out once, in inbox order, which is send order.

// deliveryBatch is how many messages one read of the inbox takes.
const deliveryBatch = 256

type inboxState struct {
	mu      sync.Mutex
	ready   bool // the login was answered: deliveries may start
	pending bool // a wake came since the running delivery last read
	running bool
	// retry, while a delivery waits to retry a failed read, cuts the wait short
	// at a wake: a wake after Redis came back (a new message, the bus's return)
	// gets the delivery going at once rather than at the end of its backoff.
	retry chan struct{}

	// Owned by the running delivery (handed over through mu).
	cursor      string // id of the last message queued to the client
	offlineUpTo string // messages up to this id waited for the login: offline
}

// wakeInbox asks the session to deliver what its inbox holds.
func (c *conn) wakeInbox() {
	c.inbox.mu.Lock()
	c.inbox.pending = true
	start := c.inbox.ready && !c.inbox.running
	c.inbox.running = c.inbox.running || start
	if c.inbox.retry != nil {
		select {
		case c.inbox.retry <- struct{}{}:
		default:
		}
	}
	c.inbox.mu.Unlock()
	if start {
		c.srv.goTracked(c.deliverLoop)
	}
}

// startDelivery starts the first delivery, which sends the offline messages; it
// runs once the login response is queued, so they follow it.
func (c *conn) startDelivery() {
	c.inbox.mu.Lock()
	c.inbox.ready = true
	c.rooms.answeredAt = time.Now().UnixMilli()
	c.inbox.mu.Unlock()
	c.wakeInbox()
}

// Retry delays of a delivery whose inbox read failed (Redis slow or away).
const (
	firstRetry = 200 * time.Millisecond
	maxRetry   = 5 * time.Second
)

func (c *conn) deliverLoop() {
	retry := firstRetry
	for {
		c.inbox.mu.Lock()
		if !c.inbox.pending || c.isClosing() {
			c.inbox.running = false
			c.inbox.mu.Unlock()
			return
		}
		c.inbox.pending = false
		c.inbox.mu.Unlock()
		inboxRead := c.deliver()
		if c.deliverRooms() && inboxRead {
			retry = firstRetry
			continue
		}
		// Messages may be waiting that no later wake will come for (their sender
		// waits for them to arrive): try again until the read succeeds.
		c.srv.log.Warn("inbox read failed; retrying", "user", c.user, "in", retry)
		c.inbox.mu.Lock()
		if c.inbox.retry == nil {
			c.inbox.retry = make(chan struct{}, 1)
		}
		woken := c.inbox.retry
		c.inbox.mu.Unlock()
		select {
		case <-time.After(retry):
		case <-woken:
		case <-c.gone:
		}
		retry = min(2*retry, maxRetry)
		c.inbox.mu.Lock()
		c.inbox.pending = true
		c.inbox.mu.Unlock()
	}
}

// deliver queues every message after the cursor; false if the inbox could not be
// read. If the client reads slower than its inbox fills, delivery waits for the
// queue to drain instead of overflowing it.
func (c *conn) deliver() bool {
	for {
		ctx, cancel := c.srv.requestContext()
		msgs, err := c.srv.st.Inbox.Read(ctx, c.user, c.inbox.cursor, deliveryBatch)
		cancel()
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if !c.queueMessage(m) {
				return true // closing: nothing more to deliver to
			}
			c.inbox.cursor = m.ID
		}
		if len(msgs) < deliveryBatch || !c.waitQueueBelow(c.srv.cfg.MaxQueue/2) {
			return true
		}
	}
}

// offer delivers a message just added to the inbox straight to the session, without
// reading it back, when nothing before it can be waiting: no delivery is running
// or due, the session has not gone past it, and it delivered up to the message
// that preceded it (or the inbox held nothing else: all before it were delivered).
// Otherwise the delivery reads the inbox, in order.
func (c *conn) offer(m model.Stored, previous string) {
	c.inbox.mu.Lock()
	direct := c.inbox.ready && !c.inbox.running && !c.inbox.pending &&
		(previous == "" || previous == c.inbox.cursor) &&
		// A delivery woken by a later message may have read this one already.
		(c.inbox.cursor == "" || model.CompareIDs(m.ID, c.inbox.cursor) > 0)
	if direct && c.queueMessage(m) {
		c.inbox.cursor = m.ID
	}
	c.inbox.mu.Unlock()
	if !direct {
		c.wakeInbox()
	}
}

// queueMessage queues m for the client. A classic client gets it as an SmsMes
// (classic.go) and it is forgotten once written; a proto-2 client gets a PrivateMes
// and it is forgotten once acked.
func (c *conn) queueMessage(m model.Stored) bool {
	offline := c.inbox.offlineUpTo != "" && model.CompareIDs(m.ID, c.inbox.offlineUpTo) <= 0
	if c.classic() {
		f, err := classicPrivate(m, offline)
		if err != nil {
			return true // not encodable: nothing to send, move past it
		}
		return c.queueStored(message.SmsMesType, f, false, m.ID, m.SentAt, offline)
	}
	buf := getBuffer()
	defer putBuffer(buf)
	f := message.AppendFrameOf((*buf)[:0], message.PrivateMesType, &message.PrivateMes{
		MsgID:        m.ID,
		FromUserID:   m.From,
		FromUserName: m.FromName,
		ToUserID:     c.user,
		Content:      m.Content,
		SentAt:       m.SentAt,
		Offline:      offline,
	})
	*buf = f[:0]
	return c.queueStored(message.PrivateMesType, f, true, m.ID, m.SentAt, offline)
}

// queueStored queues frame f (of type typ) of a stored message, private or room,
// whose wire id is id; a copy of it if scratch (f is the caller's to use again).
// A classic client's message is forgotten once written; a proto-2 client's once
// it acks.
func (c *conn) queueStored(typ string, f []byte, scratch bool, id string, sentAt int64, offline bool) bool {
	forget := ""
	if c.classic() {
		forget = id
	}
	if !c.push(f, forget, false, scratch) {
		return false
	}
	c.srv.metrics.messagesOut.inc(typ)
	if !offline {
		c.srv.metrics.deliveryLatency.Observe(float64(time.Now().UnixMilli()-sentAt) / 1000)
	}
	return true
}

// ackBatch is delivered messages of one user to forget.
type ackBatch struct {
	user int
	ids  []string
}

// forget queues delivered messages to be forgotten: removed from user's inbox
// (private messages) or moved past by its cursors (room messages). It never
// waits: a writer or reader must not stall while Redis is slow or away. A removal
// that finds the queue full is dropped, and its messages come again at the next
// login, which at-least-once allows.
func (s *Server) forget(user int, ids []string) {
	select {
	case s.acks <- ackBatch{user: user, ids: ids}:
	default:
		s.log.Debug("acknowledgement queue full; messages may come again", "user", user, "messages", len(ids))
	}
}

// maxAckBatches bounds one pipelined removal.
const maxAckBatches = 512

// ackLoop removes delivered messages in batches: whatever has queued up while the
// previous batch was in Redis goes in the next one pipeline. A lost removal only
// means a message comes again at the next login, which at-least-once allows.
func (s *Server) ackLoop() {
	for {
		var first ackBatch
		select {
		case first = <-s.acks:
		case <-s.ctx.Done():
			// The connections are done by now (Shutdown waited for them, or closed
			// them when its context ended): drain what is left, as long as the
			// store's context lasts.
			for {
				select {
				case b := <-s.acks:
					s.removeAcked(map[int][]string{b.user: b.ids})
				default:
					return
				}
			}
		}
		batch := map[int][]string{first.user: first.ids}
	more:
		for n := 1; n < maxAckBatches; n++ {
			select {
			case b := <-s.acks:
				batch[b.user] = append(batch[b.user], b.ids...)
			default:
				break more
			}
		}
		s.removeAcked(batch)
	}
}
