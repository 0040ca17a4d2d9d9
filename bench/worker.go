package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// Task is what the parent gives a worker (first line of its stdin).
type Task struct {
	Kind      string   `json:"kind"`              // "pairs" (sender/receiver pairs), "listen" (logged-in readers) or "subscribe" (Redis subscribers)
	Channel   string   `json:"channel,omitempty"` // subscribe: the Redis channel
	Addrs     []string `json:"addrs"`
	SrcIPs    []string `json:"srcIPs,omitempty"`
	First     int      `json:"first"` // first user id
	N         int      `json:"n"`     // users (even for pairs)
	Node0     int      `json:"node0"` // placement offset, so workers spread over nodes
	Register  bool     `json:"register"`
	RegConc   int      `json:"regConc"`
	LoginConc int      `json:"loginConc"`
	InFlight  int      `json:"inFlight"`
	Size      int      `json:"size"`
	MsgIDs    bool     `json:"msgIds"` // send clientMsgId
	WarmupMs  int64    `json:"warmupMs"`
	MeasureMs int64    `json:"measureMs"`
	DrainMs   int64    `json:"drainMs"`
	Deadline  int64    `json:"deadline"` // unix ms: the worker exits at this time whatever happens

	SpreadMs    int64 `json:"spreadMs,omitempty"`    // login: start the N logins evenly over this time (a login wave)
	LoginWaitMs int64 `json:"loginWaitMs,omitempty"` // login: how long a user goes on trying after busy answers (default loginWait)

	Storm *StormTask `json:"storm,omitempty"` // pairs that survive a node's death (storm.go)
}

// Cmd is a parent → worker line after the task.
type Cmd struct {
	Cmd string `json:"cmd"` // login, run, stats, quit
}

// Event is a worker → parent line.
type Event struct {
	Ev         string `json:"ev"` // registered, ready, result, fan, stats, fatal, bye
	W          int    `json:"w"`  // worker index (set by the parent)
	Ms         int64  `json:"ms,omitempty"`
	OK         int    `json:"ok,omitempty"`
	Fail       int    `json:"fail,omitempty"`
	Err        string `json:"err,omitempty"`
	Hist       *Hist  `json:"hist,omitempty"`
	Sent       int64  `json:"sent,omitempty"`
	Accepted   int64  `json:"accepted,omitempty"`
	Rejected   int64  `json:"rejected,omitempty"`
	Delivered  int64  `json:"delivered,omitempty"`  // first receipts inside the measured window
	Received   int64  `json:"received,omitempty"`   // all first receipts
	Lost       int64  `json:"lost,omitempty"`       // sent, not rejected, never received
	Unanswered int64  `json:"unanswered,omitempty"` // sent, no PrivateResMes
	Dup        int64  `json:"dup,omitempty"`
	Reordered  int64  `json:"reordered,omitempty"` // first receipts of a seq below one received before
	Seq        int    `json:"seq,omitempty"`
	N          int    `json:"n,omitempty"`
	Last       int64  `json:"last,omitempty"` // unix ns of the last receipt
	Connected  int    `json:"connected,omitempty"`
	Dropped    int    `json:"dropped,omitempty"`
	Notices    int64  `json:"notices,omitempty"`
	Nofile     uint64 `json:"nofile,omitempty"`
	Retries    int64  `json:"retries,omitempty"` // register/login attempts repeated (lost answers)

	Storm *StormReport    `json:"storm,omitempty"`
	Raw   json.RawMessage `json:"-"` // the whole line, for workers with events of their own
}

type worker struct {
	t      Task
	outMu  sync.Mutex
	out    *json.Encoder
	quit   chan struct{}
	quitOn atomic.Bool

	clients   []*client
	subs      []redis.PubSubConn // subscribe mode
	connected atomic.Int64
	dropped   atomic.Int64
	notices   atomic.Int64
	dropErr   atomic.Value

	pairs  []*pair
	tokens []string     // session token of each user's last login
	storm  *stormWorker // nil unless the task is a storm's

	// listen mode: group message receipts per seq
	fanMu   sync.Mutex
	fanN    map[int]int
	fanLast map[int]int64
	fanHist *Hist
}

func (w *worker) emit(e Event) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.out.Encode(e)
}

// readTask reads a worker's task, the first line of its stdin, into t, or exits.
func readTask(name string, in *bufio.Reader, t any) {
	line, err := in.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, t)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: no task: %v\n", name, err)
		os.Exit(2)
	}
}

// workerLimits bounds a worker in time whatever the parent does (it exits at
// deadline, unix ms), and checks that conns connections fit its open files: if
// not, it emits a fatal event and exits. It returns the open-file limit.
func workerLimits(name string, deadline int64, conns int, emit func(Event)) (context.Context, context.CancelFunc, uint64) {
	ctx, cancel := taskContext(name, deadline)
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	if uint64(conns)+64 > rl.Cur {
		emit(Event{Ev: "fatal", Err: fmt.Sprintf("ulimit -n is %d, need %d", rl.Cur, conns+64)})
		os.Exit(2)
	}
	return ctx, cancel, rl.Cur
}

func runWorker() {
	in := bufio.NewReader(os.Stdin)
	w := &worker{out: json.NewEncoder(os.Stdout), quit: make(chan struct{}),
		fanN: map[int]int{}, fanLast: map[int]int64{}, fanHist: NewHist()}
	readTask("worker", in, &w.t)
	w.storm = newStormWorker(w.t)
	if w.t.LoginWaitMs > 0 {
		loginWait = time.Duration(w.t.LoginWaitMs) * time.Millisecond
	}
	ctx, cancel, nofile := workerLimits("worker", w.t.Deadline, w.t.N, w.emit)
	defer cancel()

	if w.t.Register {
		start := time.Now()
		ids := make([]int, w.t.N)
		for i := range ids {
			ids[i] = w.t.First + i
		}
		if err := registerRange(ctx, w.t.Addrs[w.t.Node0%len(w.t.Addrs)], ids, w.t.RegConc); err != nil {
			w.emit(Event{Ev: "fatal", Err: "register: " + err.Error()})
			os.Exit(2)
		}
		w.emit(Event{Ev: "registered", Ms: time.Since(start).Milliseconds(), Nofile: nofile, Retries: retries.Load()})
	} else {
		w.emit(Event{Ev: "registered", Nofile: nofile})
	}

	for i := 0; i < 100000; i++ {
		line, err := in.ReadBytes('\n')
		if err != nil {
			w.shutdown()
			return
		}
		var c Cmd
		json.Unmarshal(line, &c)
		switch c.Cmd {
		case "login": // in the background, so that stats can report progress
			if w.t.Kind == "subscribe" {
				go w.subscribeAll(ctx)
			} else {
				go w.loginAll(ctx)
			}
		case "run":
			if w.storm != nil {
				go w.runStorm(ctx)
			} else {
				go w.runPairs(ctx)
			}
		case "real": // realistic.go
			go w.runReal(ctx, line)
		case "peer": // peer_worker.go
			go w.runPeer(ctx, line)
		case "storm", "stormstats", "back", "calm":
			w.stormCmd(c.Cmd)
		case "stats":
			e := Event{Ev: "stats", Connected: int(w.connected.Load()), Dropped: int(w.dropped.Load()), Notices: w.notices.Load()}
			if v, ok := w.dropErr.Load().(string); ok {
				e.Err = v
			}
			w.emit(e)
		case "report": // listen mode: what every seq reached
			w.fanMu.Lock()
			for s, n := range w.fanN {
				w.emit(Event{Ev: "fanfinal", Seq: s, N: n, Last: w.fanLast[s]})
			}
			w.emit(Event{Ev: "report", Hist: w.fanHist.Pack()})
			w.fanMu.Unlock()
		case "quit":
			w.shutdown()
			return
		}
	}
}

// taskContext bounds a worker process in time whatever its parent does: the
// process exits with status 3 at deadline (unix ms), and the context ends then.
func taskContext(name string, deadline int64) (context.Context, context.CancelFunc) {
	at := time.UnixMilli(deadline)
	time.AfterFunc(time.Until(at), func() {
		fmt.Fprintln(os.Stderr, name+": deadline reached, exiting")
		os.Exit(3)
	})
	return context.WithDeadline(context.Background(), at)
}

func (w *worker) shutdown() {
	w.quitOn.Store(true)
	for _, c := range w.clients {
		if c != nil {
			c.Close()
		}
	}
	for _, c := range w.subs {
		c.Close()
	}
	w.emit(Event{Ev: "bye"})
}

// nodeOf places user j of this worker on a node.
func (w *worker) nodeOf(j int) int {
	if w.storm != nil {
		return w.storm.nodeOf(j)
	}
	n := len(w.t.Addrs)
	if w.t.Kind == "pairs" {
		p := j / 2
		if j%2 == 1 && n > 1 { // receivers sit on the next node: every message crosses nodes
			return (w.t.Node0 + p + 1) % n
		}
		return (w.t.Node0 + p) % n
	}
	return (w.t.Node0 + j) % n
}

func (w *worker) srcOf(j int) string {
	if len(w.t.SrcIPs) == 0 {
		return ""
	}
	return w.t.SrcIPs[(w.t.Node0+j)%len(w.t.SrcIPs)]
}

func (w *worker) loginAll(ctx context.Context) {
	start := time.Now()
	w.clients = make([]*client, w.t.N)
	w.tokens = make([]string, w.t.N)
	if w.t.Kind == "pairs" {
		w.pairs = make([]*pair, w.t.N/2)
		for p := range w.pairs {
			w.pairs[p] = &pair{sid: w.t.First + 2*p, rid: w.t.First + 2*p + 1}
		}
	}
	ready := w.connectAll(ctx, func(j int) (func(), error) {
		var c *client
		var r message.LoginResMes
		var err error
		for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				retries.Add(1)
			}
			if c, err = dialClient(ctx, w.t.Addrs[w.nodeOf(j)], w.srcOf(j)); err != nil {
				continue
			}
			if r, err = c.login(w.t.First + j); err == nil {
				break
			}
			c.Close()
		}
		if err != nil {
			return nil, err
		}
		return func() {
			w.clients[j] = c
			w.tokens[j] = r.Token
			if w.pairs != nil {
				if j%2 == 0 {
					w.pairs[j/2].s = c
				} else {
					w.pairs[j/2].r = c
				}
			}
			w.connected.Add(1)
			go w.serve(ctx, j, c)
		}, nil
	})
	ready.Ms = time.Since(start).Milliseconds()
	ready.Retries = retries.Load()
	w.emit(ready)
}

// connectAll calls connect for each of the task's N connections, LoginConc at a
// time, until ctx ends, and returns the "ready" event: how many connected, how many
// failed (and the first error) and how long each connect took. The keep function a
// successful connect returns runs under a lock shared by all the calls.
func (w *worker) connectAll(ctx context.Context, connect func(j int) (keep func(), err error)) Event {
	next := make(chan int, w.t.N)
	for j := 0; j < w.t.N; j++ {
		next <- j
	}
	close(next)
	hist := NewHist()
	var mu sync.Mutex
	var ok, fail int
	var firstErr string
	var wg sync.WaitGroup
	start := time.Now()
	for range max(1, w.t.LoginConc) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if ctx.Err() != nil {
					return
				}
				if w.t.SpreadMs > 0 && !sleepCtx(ctx, time.Until(start.Add(time.Duration(w.t.SpreadMs)*time.Millisecond*time.Duration(j)/time.Duration(w.t.N)))) {
					return
				}
				t0 := time.Now()
				keep, err := connect(j)
				mu.Lock()
				if err != nil {
					fail++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					ok++
					hist.Record(time.Since(t0))
					keep()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return Event{Ev: "ready", OK: ok, Fail: fail, Err: firstErr, Hist: hist.Pack()}
}

// readLoop reads everything a client gets, so that the server never sees a slow reader.
func (w *worker) readLoop(j int, c *client) {
	defer func() {
		w.connected.Add(-1)
		if !w.quitOn.Load() {
			w.dropped.Add(1)
		}
	}()
	var p *pair
	if w.t.Kind == "pairs" {
		p = w.pairs[j/2]
	}
	var acks []string
	for {
		typ, body, err := c.readFrame()
		if err != nil {
			if !w.quitOn.Load() {
				w.dropErr.Store(fmt.Sprintf("user %d: %v", w.t.First+j, err))
			}
			return
		}
		now := time.Now()
		switch typ {
		case message.NotifyUserStatusMesType, message.NotifyUsersStatusMesType:
			w.notices.Add(1)
		case message.PrivateResMesType:
			var r message.PrivateResMes
			unpack(body, &r)
			if p != nil {
				p.response(r.Code == message.CodeOK, r.ClientMsgID)
			}
		case message.PrivateMesType:
			var m message.PrivateMes
			if unpack(body, &m) == nil {
				acks = append(acks, m.MsgID)
				if p != nil {
					p.receipt(w, m.Content, now)
				}
			}
		case message.SmsMesType:
			var m message.SmsMes
			if unpack(body, &m) == nil {
				w.fanReceipt(m.Content, now)
			}
		case message.ErrorResMesType:
			if !w.quitOn.Load() {
				w.dropErr.Store(fmt.Sprintf("user %d: %s", w.t.First+j, string(body)))
			}
		}
		if len(acks) > 0 && (c.br.Buffered() == 0 || len(acks) >= 256) {
			if err := c.send(message.AckMesType, message.AckMes{MsgIDs: acks}); err != nil {
				return
			}
			acks = acks[:0]
		}
	}
}

// parseContent reads "<tag>|<seq>|<unix ns>|padding".
func parseContent(s string) (seq int, sent int64, ok bool) {
	parts := strings.SplitN(s, "|", 4)
	if len(parts) < 3 {
		return 0, 0, false
	}
	seq, err1 := strconv.Atoi(parts[1])
	sent, err2 := strconv.ParseInt(parts[2], 10, 64)
	return seq, sent, err1 == nil && err2 == nil
}

func makeContent(tag string, seq int, size int) string {
	s := tag + "|" + strconv.Itoa(seq) + "|" + strconv.FormatInt(time.Now().UnixNano(), 10) + "|"
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

// warmupTag marks the content of a fan-out's warm-up rounds: the workers spend
// about twice their usual CPU on the first broadcast after the logins (measured
// from /proc), whichever server sends it, and the first measured round should
// not pay for that.
const warmupTag = "W"

func (w *worker) fanReceipt(content string, now time.Time) {
	seq, sent, ok := parseContent(content)
	if !ok {
		return
	}
	w.fanMu.Lock()
	w.fanN[seq]++
	n := w.fanN[seq]
	if now.UnixNano() > w.fanLast[seq] {
		w.fanLast[seq] = now.UnixNano()
	}
	if !strings.HasPrefix(content, warmupTag+"|") {
		w.fanHist.Record(now.Sub(time.Unix(0, sent)))
	}
	last := w.fanLast[seq]
	w.fanMu.Unlock()
	if n == int(w.connected.Load()) {
		w.emit(Event{Ev: "fan", Seq: seq, N: n, Last: last})
	}
}

// pair is one sender and its receiver, both in this worker.
type pair struct {
	sid, rid int
	s, r     *client
	slots    chan struct{}

	mu          sync.Mutex
	sentN       int          // seqs 0..sentN-1 were written
	rejectedSeq map[int]bool // by clientMsgId, when sent
	nresp       int
	rejected    int64
	received    []uint8
	firstRecv   int64
	dup         int64
	reordered   int64
	maxSeq      int // highest seq received
	inWindow    int64
	hist        *Hist
	winFrom     int64 // unix ns
	winTo       int64
	// Set by the realistic scenario (realistic_worker.go): called, without mu,
	// with each answer and with each first receipt's send time (unix ns).
	onAnswer  func(ok bool)
	onReceipt func(sent int64, now time.Time)
}

// sendLoop sends message seq = 0, 1, … with send each time the pair has a free
// slot (an unanswered send in flight less), until winTo, ctx's end or a failed send.
func (p *pair) sendLoop(ctx context.Context, winTo time.Time, sent *atomic.Int64, send func(seq int) error) {
	stop := time.NewTimer(time.Until(winTo))
	defer stop.Stop()
	for seq := 0; seq < 1<<26; seq++ {
		select {
		case <-p.slots:
		case <-stop.C:
			return
		case <-ctx.Done():
			return
		}
		if send(seq) != nil {
			return
		}
		sent.Add(1)
		p.mu.Lock()
		p.sentN = seq + 1
		p.mu.Unlock()
	}
}

// arm gives the pair a new latency histogram of receipts in [winFrom, winTo)
// (unix ns) and inflight free send slots.
func (p *pair) arm(winFrom, winTo int64, inflight int) {
	p.mu.Lock()
	p.hist = NewHist()
	p.winFrom, p.winTo = winFrom, winTo
	p.mu.Unlock()
	p.slots = make(chan struct{}, inflight)
	for i := 0; i < inflight; i++ {
		p.slots <- struct{}{}
	}
}

// tally sums what the pairs counted into a result event.
func tally(ps []*pair) Event {
	e := Event{Ev: "result", Hist: NewHist()}
	for _, p := range ps {
		p.mu.Lock()
		e.Accepted += int64(p.nresp) - p.rejected
		e.Lost += p.lost()
		e.Unanswered += int64(p.sentN - p.nresp)
		e.Rejected += p.rejected
		e.Dup += p.dup
		e.Reordered += p.reordered
		e.Delivered += p.inWindow
		e.Received += p.firstRecv
		e.Hist.Merge(p.hist)
		p.mu.Unlock()
	}
	return e
}

func (p *pair) response(ok bool, clientMsgID string) {
	p.mu.Lock()
	if f := p.onAnswer; f != nil {
		defer f(ok)
	}
	p.nresp++
	if !ok {
		p.rejected++
		if seq, err := strconv.Atoi(clientMsgID); err == nil {
			if p.rejectedSeq == nil {
				p.rejectedSeq = map[int]bool{}
			}
			p.rejectedSeq[seq] = true
		}
	}
	p.mu.Unlock()
	if !ok {
		p.release()
	}
}

func (p *pair) release() {
	select {
	case p.slots <- struct{}{}:
	default:
	}
}

func (p *pair) receipt(w *worker, content string, now time.Time) {
	seq, sent, ok := parseContent(content)
	if !ok || seq < 0 || seq > 1<<26 {
		return
	}
	p.mu.Lock()
	for len(p.received) <= seq {
		p.received = append(p.received, 0)
	}
	p.received[seq]++
	first := p.received[seq] == 1
	if !first {
		p.dup++
	} else {
		p.firstRecv++
		if seq < p.maxSeq {
			p.reordered++
		}
		p.maxSeq = max(p.maxSeq, seq)
		if f := p.onReceipt; f != nil {
			defer f(sent, now)
		}
		ns := now.UnixNano()
		if p.hist != nil && ns >= p.winFrom && ns < p.winTo {
			p.inWindow++
			p.hist.Record(now.Sub(time.Unix(0, sent)))
		}
	}
	p.mu.Unlock()
	if first {
		p.release()
	}
}

func (w *worker) runPairs(ctx context.Context) {
	t0 := time.Now()
	winFrom := t0.Add(time.Duration(w.t.WarmupMs) * time.Millisecond)
	winTo := winFrom.Add(time.Duration(w.t.MeasureMs) * time.Millisecond)
	inflight := max(1, w.t.InFlight)
	var wg sync.WaitGroup
	var sent atomic.Int64
	var sendErr atomic.Value
	for _, p := range w.pairs {
		p.arm(winFrom.UnixNano(), winTo.UnixNano(), inflight)
		if p.s == nil || p.r == nil {
			continue
		}
		wg.Add(1)
		go func(p *pair) {
			defer wg.Done()
			p.sendLoop(ctx, winTo, &sent, func(seq int) error {
				pm := message.PrivateMes{ToUserID: p.rid, Content: makeContent("P", seq, w.t.Size)}
				if w.t.MsgIDs {
					pm.ClientMsgID = strconv.Itoa(seq)
				}
				err := p.s.send(message.PrivateMesType, pm)
				if err != nil {
					sendErr.Store(err.Error())
				}
				return err
			})
		}(p)
	}
	wg.Wait()
	e := w.drainPairs(ctx, sent.Load())
	e.Ms = time.Since(t0).Milliseconds()
	if v, ok := sendErr.Load().(string); ok {
		e.Err = v
	}
	w.emit(w.withDropErr(e))
}

// drainPairs waits until every accepted message has arrived, or the drain time
// is up, and tallies the pairs.
func (w *worker) drainPairs(ctx context.Context, sent int64) Event {
	drainEnd := time.Now().Add(time.Duration(w.t.DrainMs) * time.Millisecond)
	for time.Now().Before(drainEnd) && ctx.Err() == nil {
		if w.pending(sent) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, p := range w.pairs {
		p.mu.Lock()
		if missing := p.missing(8); len(missing) > 0 || p.nresp != p.sentN {
			fmt.Fprintf(os.Stderr, "worker: pair %d (%d→%d): sent %d, responses %d, received %d, rejected %d, not received e.g. %v\n",
				i, p.sid, p.rid, p.sentN, p.nresp, p.firstRecv, p.rejected, missing)
		}
		p.mu.Unlock()
	}
	e := tally(w.pairs)
	e.Sent = sent
	e.Hist.Pack()
	e.Dropped = int(w.dropped.Load())
	return e
}

// withDropErr gives e the error of a dropped connection unless it has one.
func (w *worker) withDropErr(e Event) Event {
	if e.Err == "" {
		if v, ok := w.dropErr.Load().(string); ok {
			e.Err = v
		}
	}
	return e
}

// missing lists up to n sent seqs that never arrived (p.mu held).
func (p *pair) missing(n int) []int {
	var out []int
	for seq := 0; seq < p.sentN && len(out) < n; seq++ {
		if (seq >= len(p.received) || p.received[seq] == 0) && !p.rejectedSeq[seq] {
			out = append(out, seq)
		}
	}
	return out
}

// lost counts sent messages that never arrived and were not rejected (p.mu held).
// Without clientMsgIds the rejected ones are not known by seq: their count is taken off.
// settled counts the sent messages that were received or rejected, each once: a
// send answered 505 may still have been kept and delivered, and counting it twice
// would end the wait for messages in flight too early.
func (p *pair) settled() int64 {
	if p.rejectedSeq == nil { // no clientMsgId: rejections cannot be told apart
		return p.firstRecv + p.rejected
	}
	var n int64
	for seq := 0; seq < p.sentN; seq++ {
		if (seq < len(p.received) && p.received[seq] != 0) || p.rejectedSeq[seq] {
			n++
		}
	}
	return n
}

func (p *pair) lost() int64 {
	var n int64
	for seq := 0; seq < p.sentN; seq++ {
		if (seq >= len(p.received) || p.received[seq] == 0) && !p.rejectedSeq[seq] {
			n++
		}
	}
	if p.rejectedSeq == nil {
		n = max(0, n-p.rejected)
	}
	return n
}

// pending counts sent messages whose response or receipt has not come yet.
func (w *worker) pending(sent int64) int64 {
	var got int64
	var resp int64
	for _, p := range w.pairs {
		p.mu.Lock()
		resp += int64(p.nresp)
		got += p.settled()
		p.mu.Unlock()
	}
	return (sent - resp) + (sent - got)
}
