package chat

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// outbox publishes the notices this node must get to other nodes (private
// messages to wake, room messages and events, sessions to end) in rounds: one
// goroutine (loop) takes everything queued since its last round and publishes
// it as one notice per channel, a batch when there are several. A busy node
// then makes one PUBLISH per channel per round trip to Redis, not one per
// message, and the node that reads them one pub/sub message. A round gathers
// for outboxLinger after its first notice, and what queues while a round is in
// Redis goes in the next.
//
// A channel's notices go out in the order they were queued. A round Redis
// refuses (away, or every pooled connection busy) is tried again, its notices
// still ahead of the newer ones, until it goes through or the node shuts down:
// a message whose notice were dropped would wait in the inbox, its recipient
// online, until some later message or login read the inbox again.
type outbox struct {
	publish func(ctx context.Context, channel string, payload []byte) error
	request func() (context.Context, context.CancelFunc) // bounds one round trip
	log     *slog.Logger
	dropped func() // counts a notice dropped because the outbox was full

	mu       sync.Mutex // guards queued, channels and n
	queued   map[string][][]byte
	channels []string // of queued, in the order they got their first notice
	n        int      // notices queued or taken and not published yet
	wake     chan struct{}
}

// Bounds of the outbox: a batch's size, and the notices it holds while Redis
// is away. Past that a new notice is dropped: its message waits in its inbox
// or room, and the receiving node, whose subscription broke as well, reads
// every inbox and room again once its subscription is back.
const (
	maxBatchBytes  = 512 << 10
	maxOutboxItems = 200_000
)

// outboxLinger is how long a round gathers notices after its first: a node
// whose clients send one message at a time would otherwise make a round trip,
// and its peer a pub/sub read, for nearly every message (chat-load realistic).
const outboxLinger = time.Millisecond

// publishTimeout bounds one publication. A PUBLISH takes well under a
// millisecond; one that hangs (a Redis Cluster primary that died with the
// connection open) would hold up every notice of its channel for the whole
// store timeout. Cut short, it is tried again on a fresh connection, through
// the cluster's refreshed slot map. A notice published twice is harmless: the
// receiving node delivers a message once (feeds.offer).
const publishTimeout = 500 * time.Millisecond

// Delays between the tries of publications that failed: short, because the
// notices of their channel wait meanwhile, and a Redis Cluster primary's
// failover ends within seconds; one PUBLISH per try costs Redis nothing.
const (
	firstPublishRetry = 50 * time.Millisecond
	maxPublishRetry   = 400 * time.Millisecond
)

func newOutbox(publish func(context.Context, string, []byte) error, request func() (context.Context, context.CancelFunc), log *slog.Logger, dropped func()) *outbox {
	return &outbox{publish: publish, request: request, log: log, dropped: dropped,
		queued: make(map[string][][]byte), wake: make(chan struct{}, 1)}
}

// send queues a notice for channel. It never waits.
func (o *outbox) send(channel string, notice []byte) {
	o.mu.Lock()
	if o.n >= maxOutboxItems {
		o.mu.Unlock()
		o.dropped()
		return
	}
	q, seen := o.queued[channel]
	if !seen {
		o.channels = append(o.channels, channel)
	}
	o.queued[channel] = append(q, notice)
	o.n++
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// publication is one PUBLISH of a round.
type publication struct {
	channel string
	payload []byte
	count   int // notices in it
}

// loop publishes rounds until done ends, then what is left, once, as long as
// the store's context lasts.
func (o *outbox) loop(done <-chan struct{}) {
	var failed []publication // Redis refused them: they go ahead of what queued since
	delay := firstPublishRetry
	linger := time.NewTimer(outboxLinger)
	linger.Stop()
	for {
		if len(failed) == 0 {
			select {
			case <-o.wake:
			case <-done:
				o.publishAll(o.take())
				return
			}
			linger.Reset(outboxLinger)
			select {
			case <-linger.C:
			case <-done:
				linger.Stop()
			}
		} else {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				o.publishAll(append(failed, o.take()...))
				return
			}
			delay = min(2*delay, maxPublishRetry)
		}
		if failed = o.publishAll(append(failed, o.take()...)); len(failed) == 0 {
			delay = firstPublishRetry
		}
	}
}

// take returns what is queued as publications: per channel, in the order the
// channels got their first notice, one notice as it is or several as batches.
func (o *outbox) take() []publication {
	o.mu.Lock()
	queued, channels := o.queued, o.channels
	o.queued, o.channels = make(map[string][][]byte, len(channels)), nil
	o.mu.Unlock()
	var pubs []publication
	for _, ch := range channels {
		notices := queued[ch]
		for len(notices) > 0 {
			n, size := 0, 0
			for n < len(notices) && (n == 0 || size+len(notices[n]) <= maxBatchBytes) {
				size += len(notices[n])
				n++
			}
			p := publication{channel: ch, payload: notices[0], count: n}
			if n > 1 {
				p.payload = batchNotice{notices: notices[:n]}.append(make([]byte, 0, size+16*n))
			}
			pubs = append(pubs, p)
			notices = notices[n:]
		}
	}
	return pubs
}

// publishAll publishes pubs in order and returns those that did not go, in
// order: a channel whose publication failed takes no more in this round (its
// notices keep their order), but the others' go on, so that a channel on a
// Redis Cluster primary that is failing over holds up no other channel.
func (o *outbox) publishAll(pubs []publication) (failed []publication) {
	var blocked map[string]bool
	for _, p := range pubs {
		if blocked[p.channel] {
			failed = append(failed, p)
			continue
		}
		ctx, cancel := o.request()
		err := o.publish(ctx, p.channel, p.payload)
		cancel()
		if err != nil {
			o.log.Warn("could not publish notices; retrying", "channel", p.channel, "notices", p.count, "err", err)
			if blocked == nil {
				blocked = make(map[string]bool)
			}
			blocked[p.channel] = true
			failed = append(failed, p)
			continue
		}
		o.mu.Lock()
		o.n -= p.count
		o.mu.Unlock()
	}
	return failed
}
