package main

// The worker side of the peer scenario (peer.go): pairs send with one message
// in flight each, closed loop (send, wait for the server's answer, send the
// next), to the chat server (runPeer, on the pairs the worker logged in) or to
// Centrifugo (runCentrifugoWorker, over WebSocket).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chat/common/message"
)

// peerCmd starts the closed loop in a worker.
type peerCmd struct {
	Cmd      string `json:"cmd"` // "peer"
	Messages int    `json:"messages"`
	Size     int    `json:"size"`
	WaitMs   int64  `json:"waitMs"` // how long a sender waits for an answer before it gives up
}

// peerReport is a worker's answer: the pairs' counts and receipt latencies
// (Event, as in p2p), the send → answer latencies, and when the loop started
// and got its last answer.
type peerReport struct {
	Event
	Answer  *Hist `json:"answer"`
	StartNs int64 `json:"startNs"`
	EndNs   int64 `json:"endNs"`
}

// peerLoop runs one sender per pair: messages times, it sends (send) and waits
// for the answer the pair's onAnswer reports. It returns the send → answer
// latencies, the loop's start and its last answer (unix ns), and the first
// send error or missing answer.
func peerLoop(ctx context.Context, ps []*pair, messages int, wait time.Duration, send func(p *pair, seq int) error) (*Hist, int64, int64, string) {
	answer := NewHist()
	var mu sync.Mutex
	var last atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		answers := make(chan struct{}, 1)
		p.mu.Lock()
		p.onAnswer = func(bool) {
			select {
			case answers <- struct{}{}:
			default:
			}
		}
		p.mu.Unlock()
		wg.Go(func() {
			t := time.NewTimer(wait)
			defer t.Stop()
			for seq := 0; seq < messages; seq++ {
				t0 := time.Now()
				if err := send(p, seq); err != nil {
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				p.mu.Lock()
				p.sentN = seq + 1
				p.mu.Unlock()
				t.Reset(wait)
				select {
				case <-answers:
				case <-t.C:
					firstErr.CompareAndSwap(nil, fmt.Sprintf("pair %d→%d: no answer to message %d within %v", p.sid, p.rid, seq, wait))
					return
				case <-ctx.Done():
					return
				}
				now := time.Now()
				mu.Lock()
				answer.Record(now.Sub(t0))
				mu.Unlock()
				for ns := now.UnixNano(); ; {
					old := last.Load()
					if ns <= old || last.CompareAndSwap(old, ns) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	errs, _ := firstErr.Load().(string)
	return answer.Pack(), start.UnixNano(), last.Load(), errs
}

// armPeer readies the pairs for a closed loop: every receipt is counted, with
// its latency.
func armPeer(ps []*pair) {
	for _, p := range ps {
		p.arm(0, 1<<62, 1)
	}
}

// report waits for what is in flight, tallies the pairs and writes the report.
func (w *worker) peerReport(ctx context.Context, answer *Hist, start, end int64, errs string) {
	var sent int64
	for _, p := range w.pairs {
		p.mu.Lock()
		sent += int64(p.sentN)
		p.mu.Unlock()
	}
	e := w.drainPairs(ctx, sent)
	e.Err = errs
	r := peerReport{Event: w.withDropErr(e), Answer: answer, StartNs: start, EndNs: end}
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.out.Encode(r)
}

// runPeer is the "peer" command of a chat worker whose pairs are logged in.
func (w *worker) runPeer(ctx context.Context, line []byte) {
	var c peerCmd
	if err := json.Unmarshal(line, &c); err != nil {
		w.emit(Event{Ev: "fatal", Err: "peer: " + err.Error()})
		return
	}
	var ready []*pair
	for _, p := range w.pairs {
		if p.s != nil && p.r != nil {
			ready = append(ready, p)
		}
	}
	armPeer(w.pairs)
	answer, start, end, errs := peerLoop(ctx, ready, c.Messages, time.Duration(c.WaitMs)*time.Millisecond, func(p *pair, seq int) error {
		return p.s.send(message.PrivateMesType, message.PrivateMes{ToUserID: p.rid, Content: makeContent("P", seq, c.Size), ClientMsgID: strconv.Itoa(seq)})
	})
	w.peerReport(ctx, answer, start, end, errs)
}

// ---- Centrifugo ----

// centrifugoPath is where Centrifugo serves its WebSocket transport.
const centrifugoPath = "/connection/websocket"

var (
	errCentrifugoReply = errors.New("centrifugo: error reply")
	centrifugoPing     = []byte("{}") // protocol v2: the server's ping, and the client's pong
	centrifugoIDPrefix = []byte(`{"id":`)
	centrifugoError    = []byte(`"error":`)
	centrifugoPush     = []byte(`{"push":`)
	centrifugoData     = []byte(`"m":"`)
)

// centrifugoChannel is the channel receiver rid subscribes to.
func centrifugoChannel(rid int) string { return "p" + strconv.Itoa(rid) }

// centrifugoPublish is the publish command with id of content to channel: the
// content goes as {"m": content}, which needs no escaping (makeContent).
func centrifugoPublish(dst []byte, id int, channel, content string) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, int64(id), 10)
	dst = append(dst, `,"publish":{"channel":"`...)
	dst = append(dst, channel...)
	dst = append(dst, `","data":{"m":"`...)
	dst = append(dst, content...)
	return append(dst, `"}}}`...)
}

// pushContent returns the content of a publication push, if line is one.
func pushContent(line []byte) (string, bool) {
	if !bytes.HasPrefix(line, centrifugoPush) {
		return "", false
	}
	i := bytes.Index(line, centrifugoData)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(centrifugoData):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// centrifugoCommand sends cmd and reads until the reply with id, answering
// pings on the way; an error reply is an error.
func centrifugoCommand(c *wsConn, cmd string, id int, deadline time.Time) error {
	if err := c.writeText([]byte(cmd)); err != nil {
		return err
	}
	c.nc.SetReadDeadline(deadline)
	defer c.nc.SetReadDeadline(time.Time{})
	prefix := []byte(`{"id":` + strconv.Itoa(id) + `,`)
	for {
		msg, err := c.readMessage()
		if err != nil {
			return err
		}
		var found, failed bool
		var reply []byte
		splitLines(msg, func(line []byte) {
			if bytes.Equal(line, centrifugoPing) {
				c.writeText(centrifugoPing)
			} else if bytes.HasPrefix(line, prefix) {
				found, failed, reply = true, bytes.Contains(line, centrifugoError), line
			}
		})
		if failed {
			return fmt.Errorf("%w: %s", errCentrifugoReply, reply)
		}
		if found {
			return nil
		}
	}
}

// centrifugoWorker is a worker process of Centrifugo clients: the pairs (whose
// chat clients stay nil) and their WebSocket connections.
type centrifugoWorker struct {
	*worker
	mu        sync.Mutex
	senders   []*wsConn // by pair
	receivers []*wsConn
}

// runCentrifugoWorker is the "centrifugo-worker" mode: on "login" the task's
// users connect to Centrifugo, each receiver subscribing to its channel; on
// "peer" each sender publishes to its receiver's channel with one message in
// flight.
func runCentrifugoWorker() {
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	w := &centrifugoWorker{worker: &worker{out: json.NewEncoder(os.Stdout)}}
	readTask("centrifugo-worker", in, &w.t)
	ctx, cancel, nofile := workerLimits("centrifugo-worker", w.t.Deadline, w.t.N, w.emit)
	defer cancel()
	w.senders = make([]*wsConn, w.t.N/2)
	w.pairs = make([]*pair, w.t.N/2)
	for p := range w.pairs {
		w.pairs[p] = &pair{sid: w.t.First + 2*p, rid: w.t.First + 2*p + 1}
	}
	armPeer(w.pairs)
	w.emit(Event{Ev: "registered", Nofile: nofile})
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			w.close()
			return
		}
		var c Cmd
		json.Unmarshal(line, &c)
		switch c.Cmd {
		case "login":
			go w.connect(ctx)
		case "peer":
			go w.runPeer(ctx, line)
		case "stats":
			w.emit(Event{Ev: "stats", Connected: int(w.connected.Load()), Dropped: int(w.dropped.Load())})
		case "quit":
			w.close()
			return
		}
	}
}

func (w *centrifugoWorker) close() {
	w.quitOn.Store(true)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range append(slices.Clone(w.senders), w.receivers...) {
		if c != nil {
			c.Close()
		}
	}
	w.emit(Event{Ev: "bye"})
}

// connect connects the task's users: even ones send, odd ones subscribe to
// their channel. It emits "ready".
func (w *centrifugoWorker) connect(ctx context.Context) {
	start := time.Now()
	ready := w.connectAll(ctx, func(j int) (func(), error) {
		p := w.pairs[j/2]
		c, err := dialWS(ctx, w.t.Addrs[0], centrifugoPath, w.srcOf(j))
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(loginWait)
		err = centrifugoCommand(c, `{"id":1,"connect":{}}`, 1, deadline)
		if err == nil && j%2 == 1 {
			err = centrifugoCommand(c, `{"id":2,"subscribe":{"channel":"`+centrifugoChannel(p.rid)+`"}}`, 2, deadline)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
		return func() {
			w.connected.Add(1)
			w.mu.Lock()
			if j%2 == 0 {
				w.senders[j/2] = c
			} else {
				w.receivers = append(w.receivers, c)
			}
			w.mu.Unlock()
			go w.read(c, j)
		}, nil
	})
	ready.Ms = time.Since(start).Milliseconds()
	w.emit(ready)
}

// read reads what connection j gets until it fails: pings are answered, a
// sender's replies answer its pair's send, a receiver's publications are its
// pair's receipts.
func (w *centrifugoWorker) read(c *wsConn, j int) {
	defer func() {
		w.connected.Add(-1)
		if !w.quitOn.Load() {
			w.dropped.Add(1)
		}
	}()
	p := w.pairs[j/2]
	for {
		msg, err := c.readMessage()
		if err != nil {
			if !w.quitOn.Load() {
				w.dropErr.Store(fmt.Sprintf("user %d: %v", w.t.First+j, err))
			}
			return
		}
		now := time.Now()
		splitLines(msg, func(line []byte) {
			switch {
			case bytes.Equal(line, centrifugoPing):
				c.writeText(centrifugoPing)
			case bytes.HasPrefix(line, centrifugoIDPrefix):
				failed := bytes.Contains(line, centrifugoError)
				if failed {
					w.dropErr.Store(fmt.Sprintf("user %d: %s", w.t.First+j, line))
				}
				p.response(!failed, "")
			default:
				if content, isPush := pushContent(line); isPush {
					p.receipt(w.worker, content, now)
				}
			}
		})
	}
}

// runPeer is the "peer" command of a Centrifugo worker.
func (w *centrifugoWorker) runPeer(ctx context.Context, line []byte) {
	var c peerCmd
	if err := json.Unmarshal(line, &c); err != nil {
		w.emit(Event{Ev: "fatal", Err: "peer: " + err.Error()})
		return
	}
	w.mu.Lock()
	conns := map[*pair]*wsConn{}
	var ready []*pair
	for i, p := range w.pairs {
		if w.senders[i] != nil {
			ready = append(ready, p)
			conns[p] = w.senders[i]
		}
	}
	w.mu.Unlock()
	answer, start, end, errs := peerLoop(ctx, ready, c.Messages, time.Duration(c.WaitMs)*time.Millisecond, func(p *pair, seq int) error {
		// ids 1 and 2 were connect and subscribe
		return conns[p].writeText(centrifugoPublish(make([]byte, 0, 128+c.Size), seq+3, centrifugoChannel(p.rid), makeContent("P", seq, c.Size)))
	})
	w.peerReport(ctx, answer, start, end, errs)
}
