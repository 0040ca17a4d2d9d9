package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chat/server/model"
)

// Delivered messages are forgotten in the background: private messages leave
// their inbox, room messages move their member's cursor. A proto-2 client's
// message is delivered when the client acknowledges it (smsProcess.ack), a
// classic client's when its frame is written (session.Written).

// ackBatch is delivered messages of one user to forget.
type ackBatch struct {
	user int
	ids  []string
}

// acker forgets delivered messages in batches, on one goroutine (loop).
type acker struct {
	ch      chan ackBatch
	st      *Stores
	log     *slog.Logger
	metrics *metrics
	// request bounds one round trip (Server.requestContext).
	request func() (context.Context, context.CancelFunc)

	// A login waits for its user's acknowledgements queued here (waitFor): a
	// message acknowledged just before the user logged in again must not come
	// again at that login.
	mu      sync.Mutex
	pending map[int]int   // batches queued per user, not yet removed
	removed chan struct{} // closed, and replaced, at the end of each round
	hurry   chan struct{} // (1) a login waits: the round goes without lingering
}

func newAcker(st *Stores, log *slog.Logger, m *metrics, request func() (context.Context, context.CancelFunc)) *acker {
	return &acker{ch: make(chan ackBatch, 4096), st: st, log: log, metrics: m, request: request,
		pending: map[int]int{}, removed: make(chan struct{}), hurry: make(chan struct{}, 1)}
}

// maxAckBatches bounds one pipelined removal.
const maxAckBatches = 512

// forget queues delivered messages to be forgotten. It never waits: a writer or
// reader must not stall while Redis is slow or away. A removal that finds the
// queue full is dropped, and its messages come again at the next login, which
// at-least-once allows.
func (a *acker) forget(user int, ids []string) {
	a.mu.Lock()
	a.pending[user]++
	a.mu.Unlock()
	select {
	case a.ch <- ackBatch{user: user, ids: ids}:
	default:
		a.done(map[int]int{user: 1})
		a.log.Debug("acknowledgement queue full; messages may come again", "user", user, "messages", len(ids))
	}
}

// done counts batches of users as removed (or dropped), and wakes waitFor.
func (a *acker) done(batches map[int]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for user, n := range batches {
		if a.pending[user] -= n; a.pending[user] <= 0 {
			delete(a.pending, user)
		}
	}
	close(a.removed)
	a.removed = make(chan struct{})
}

// waitFor returns once the acknowledgements of user queued so far are removed
// (or failed to be), or ctx ends. Those of another node are not waited for: a
// user back on another node within a round may get them again, as
// at-least-once allows.
func (a *acker) waitFor(ctx context.Context, user int) {
	for {
		a.mu.Lock()
		n, removed := a.pending[user], a.removed
		a.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case a.hurry <- struct{}{}:
		default: // hurried already
		}
		select {
		case <-removed:
		case <-ctx.Done():
			return
		}
	}
}

// ackLinger is how long the acker gathers acknowledgements after the first of a
// round before it goes to Redis. Nobody waits for a removal, and a node whose
// clients ack one message at a time would otherwise make a round trip per
// acknowledgement (chat-load realistic).
const ackLinger = 5 * time.Millisecond

// loop removes delivered messages in batches until done ends: whatever queues
// within ackLinger of a round's first acknowledgement, or while the previous
// round was in Redis, goes in one pipeline. A lost removal only means a
// message comes again at the next login, which at-least-once allows.
func (a *acker) loop(done <-chan struct{}) {
	linger := time.NewTimer(ackLinger)
	linger.Stop()
	for {
		var first ackBatch
		select {
		case first = <-a.ch:
		case <-done:
			// The connections are done by now (Shutdown waited for them, or closed
			// them when its context ended): drain what is left, as long as the
			// store's context lasts.
			for {
				select {
				case b := <-a.ch:
					a.remove(map[int][]string{b.user: b.ids})
					a.done(map[int]int{b.user: 1})
				default:
					return
				}
			}
		}
		batch := map[int][]string{first.user: first.ids}
		batches := map[int]int{first.user: 1}
		linger.Reset(ackLinger)
	more:
		for n := 1; n < maxAckBatches; n++ {
			select {
			case b := <-a.ch:
				batch[b.user] = append(batch[b.user], b.ids...)
				batches[b.user]++
			case <-linger.C:
				break more
			case <-a.hurry:
				break more
			case <-done:
				break more
			}
		}
		linger.Stop()
		a.remove(batch)
		a.done(batches)
	}
}

// remove forgets what was delivered: private messages leave their inbox, room
// messages move their members' cursors. It owns batch: the room ids are taken
// out of it, and what is left is the private ids of each user.
func (a *acker) remove(batch map[int][]string) {
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
	ctx, cancel := a.request()
	defer cancel()
	if len(batch) > 0 {
		if failed, err := a.st.Inbox.Delete(ctx, batch); err != nil {
			a.metrics.ackRemovalsFailed.Add(float64(failed))
			a.log.Warn("could not forget delivered messages; they may come again", "users", failed, "of", len(batch), "err", err)
		}
	}
	if len(rooms) > 0 {
		if err := a.st.Rooms.Advance(ctx, rooms); err != nil {
			a.log.Warn("could not move room cursors; room messages may come again", "users", len(rooms), "err", err)
		}
	}
}

// validAckID reports whether an AckMes id is a private or a room message id.
func validAckID(id string) bool {
	if model.ValidID(id) {
		return true
	}
	_, _, ok := model.ParseRoomMsgID(id)
	return ok
}
