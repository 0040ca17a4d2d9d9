package chat

import (
	"context"
	"log/slog"
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
}

// maxAckBatches bounds one pipelined removal.
const maxAckBatches = 512

// forget queues delivered messages to be forgotten. It never waits: a writer or
// reader must not stall while Redis is slow or away. A removal that finds the
// queue full is dropped, and its messages come again at the next login, which
// at-least-once allows.
func (a *acker) forget(user int, ids []string) {
	select {
	case a.ch <- ackBatch{user: user, ids: ids}:
	default:
		a.log.Debug("acknowledgement queue full; messages may come again", "user", user, "messages", len(ids))
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
				default:
					return
				}
			}
		}
		batch := map[int][]string{first.user: first.ids}
		linger.Reset(ackLinger)
	more:
		for n := 1; n < maxAckBatches; n++ {
			select {
			case b := <-a.ch:
				batch[b.user] = append(batch[b.user], b.ids...)
			case <-linger.C:
				break more
			case <-done:
				break more
			}
		}
		linger.Stop()
		a.remove(batch)
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
