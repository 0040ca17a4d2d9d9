package main

// The rooms worker ("rooms-worker" mode of this binary): the members of the rooms
// scenario (rooms.go) that one process holds. It logs them in, reads and acks
// what they get, sends its share of the room messages, takes the away users
// offline and back, and checks what every member received.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chat/common/message"
)

// roomRecv is a member's first receipt of a message.
type roomRecv struct {
	session int
	offline bool
}

// awaySpan is a time (unix ms) a member was offline, and the session that followed.
type awaySpan struct {
	from, to int64
	session  int
}

type roomMember struct {
	g     int
	rooms []int

	mu          sync.Mutex
	c           *client
	session     int
	leaving     bool
	seen        map[string]roomRecv
	last        map[int]string // room index → last msgId of this session
	away        []awaySpan
	delivered   int64
	dup         int64
	redelivered int64
	outOfOrder  int64
	replayed    int64
}

type roomWorker struct {
	t       roomTask
	outMu   sync.Mutex
	out     *json.Encoder
	members []*roomMember
	roomIdx map[int]int // room id → index

	connected, dropped atomic.Int64
	dropErr            atomic.Value
	quitting           atomic.Bool
	winFrom, winTo     atomic.Int64 // unix ns

	histMu sync.Mutex
	hist   *Hist

	sent, answered, rejected atomic.Int64
	accMu                    sync.Mutex
	accepted                 []roomMsg
}

func (w *roomWorker) emit(v any) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.out.Encode(v)
}

func (w *roomWorker) addr(g int) string { return w.t.Addrs[g%len(w.t.Addrs)] }

// runRoomsWorker is the "rooms-worker" command.
func runRoomsWorker() {
	in := bufio.NewReader(os.Stdin)
	w := &roomWorker{out: json.NewEncoder(os.Stdout), roomIdx: map[int]int{}, hist: NewHist()}
	readTask("rooms-worker", in, &w.t)
	ctx, cancel, nofile := workerLimits("rooms-worker", w.t.Deadline, w.t.N, func(e Event) { w.emit(e) })
	defer cancel()
	for i, id := range w.t.RoomIDs {
		w.roomIdx[id] = i
	}
	for g := w.t.First; g < w.t.First+w.t.N; g++ {
		w.members = append(w.members, &roomMember{g: g, rooms: w.t.Layout.roomsOf(g), seen: map[string]roomRecv{}})
	}
	w.emit(Event{Ev: "registered", Nofile: nofile})
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			w.shutdown()
			return
		}
		var c roomCmd
		json.Unmarshal(line, &c)
		switch c.Cmd {
		case "login":
			go w.loginAll(ctx)
		case "stats":
			e := Event{Ev: "stats", Connected: int(w.connected.Load()), Dropped: int(w.dropped.Load())}
			e.Err, _ = w.dropErr.Load().(string)
			w.emit(e)
		case "run":
			go w.run(ctx)
		case "check":
			go w.check(ctx, c.Accepted)
		case "quit":
			w.shutdown()
			return
		}
	}
}

func (w *roomWorker) shutdown() {
	w.quitting.Store(true)
	for _, m := range w.members {
		m.mu.Lock()
		if m.c != nil {
			m.c.Close()
		}
		m.mu.Unlock()
	}
	w.emit(Event{Ev: "bye"})
}

// dialLogin connects member m to its node and logs it in (proto 2), three
// attempts; res (if not nil) gets the last LoginResMes.
func (w *roomWorker) dialLogin(ctx context.Context, m *roomMember, res *message.LoginResMes) (*client, error) {
	var err error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			retries.Add(1)
		}
		var c *client
		if c, err = dialClient(ctx, w.addr(m.g), ""); err != nil {
			continue
		}
		var r message.LoginResMes
		r, err = c.login(w.t.Base + m.g)
		if res != nil {
			*res = r
		}
		if err == nil {
			return c, nil
		}
		c.Close()
	}
	if err == nil {
		err = ctx.Err()
	}
	return nil, err
}

// online makes c member m's connection for a new session and starts its reader.
func (w *roomWorker) online(m *roomMember, c *client) int {
	m.mu.Lock()
	m.session++
	s := m.session
	m.c, m.leaving, m.last = c, false, map[int]string{}
	m.mu.Unlock()
	w.connected.Add(1)
	go w.read(m, c, s)
	return s
}

func (w *roomWorker) loginAll(ctx context.Context) {
	start := time.Now()
	hist := NewHist()
	var mu sync.Mutex
	var ok, fail int
	var firstErr string
	forEach(len(w.members), max(1, w.t.LoginConc), func(i int) {
		m := w.members[i]
		t0 := time.Now()
		c, err := w.dialLogin(ctx, m, nil)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fail++
			if firstErr == "" {
				firstErr = err.Error()
			}
			return
		}
		ok++
		hist.Record(time.Since(t0))
		w.online(m, c)
	})
	w.emit(Event{Ev: "ready", OK: ok, Fail: fail, Err: firstErr, Ms: time.Since(start).Milliseconds(), Hist: hist.Pack(), Retries: retries.Load()})
}

// read reads everything session s of member m gets, counts room messages and acks them.
func (w *roomWorker) read(m *roomMember, c *client, s int) {
	defer func() {
		w.connected.Add(-1)
		m.mu.Lock()
		meant := m.leaving || m.session != s
		m.mu.Unlock()
		if !meant && !w.quitting.Load() {
			w.dropped.Add(1)
		}
	}()
	var acks []string
	for {
		typ, body, err := c.readFrame()
		if err != nil {
			m.mu.Lock()
			meant := m.leaving || m.session != s
			m.mu.Unlock()
			if !meant && !w.quitting.Load() {
				w.dropErr.Store(fmt.Sprintf("user %d: %v", w.t.Base+m.g, err))
			}
			return
		}
		now := time.Now()
		switch typ {
		case message.RoomMesType:
			var rm message.RoomMes
			if unpack(body, &rm) == nil {
				w.receipt(m, s, &rm, now)
				acks = append(acks, rm.MsgID)
			}
		case message.RoomResMesType:
			var r message.RoomResMes
			if unpack(body, &r) == nil {
				w.answer(m, r)
			}
		case message.ErrorResMesType:
			w.dropErr.Store(fmt.Sprintf("user %d: %s", w.t.Base+m.g, string(body)))
		}
		if len(acks) > 0 && (c.br.Buffered() == 0 || len(acks) >= 256) {
			if err := c.send(message.AckMesType, message.AckMes{MsgIDs: acks}); err != nil {
				return
			}
			acks = acks[:0]
		}
	}
}

func (w *roomWorker) answer(m *roomMember, r message.RoomResMes) {
	w.answered.Add(1)
	if r.Code != message.CodeOK {
		w.rejected.Add(1)
		w.dropErr.CompareAndSwap(nil, fmt.Sprintf("RoomResMes %d %s", r.Code, r.Error))
		return
	}
	w.accMu.Lock()
	w.accepted = append(w.accepted, roomMsg{Room: w.roomIdx[r.RoomID], ID: r.MsgID, From: m.g})
	w.accMu.Unlock()
}

func (w *roomWorker) receipt(m *roomMember, s int, rm *message.RoomMes, now time.Time) {
	r := w.roomIdx[rm.RoomID]
	_, sentNS, okc := parseContent(rm.Content)
	live := false
	m.mu.Lock()
	if prev, ok := m.last[r]; ok && !msgIDBefore(prev, rm.MsgID) {
		m.outOfOrder++
	}
	m.last[r] = rm.MsgID
	if first, ok := m.seen[rm.MsgID]; ok {
		if rm.Offline && first.session < s {
			m.redelivered++
		} else {
			m.dup++
		}
	} else {
		m.seen[rm.MsgID] = roomRecv{session: s, offline: rm.Offline}
		if rm.Offline {
			m.replayed++
		}
		if ns := now.UnixNano(); ns >= w.winFrom.Load() && ns < w.winTo.Load() {
			m.delivered++
			live = !rm.Offline && okc
		}
	}
	m.mu.Unlock()
	if live {
		w.histMu.Lock()
		w.hist.Record(now.Sub(time.Unix(0, sentNS)))
		w.histMu.Unlock()
	}
}

// msgIDTime splits a room msgId "<room>:<ms>-<seq>".
func msgIDTime(id string) (ms, seq int64, ok bool) {
	_, rest, found := strings.Cut(id, ":")
	a, b, found2 := strings.Cut(rest, "-")
	if !found || !found2 {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// msgIDBefore tells whether room msgId a comes before b in the room.
func msgIDBefore(a, b string) bool {
	am, as, _ := msgIDTime(a)
	bm, bs, _ := msgIDTime(b)
	return am < bm || (am == bm && as < bs)
}

// run sends this worker's share of room messages until the window ends, takes the
// away users offline and back meanwhile, and reports what was answered 200.
func (w *roomWorker) run(ctx context.Context) {
	t0 := time.Now()
	measure := time.Duration(w.t.MeasureMs) * time.Millisecond
	away := time.Duration(w.t.AwayMs) * time.Millisecond
	winFrom := t0.Add(time.Duration(w.t.WarmupMs) * time.Millisecond)
	winTo := winFrom.Add(measure)
	w.winFrom.Store(winFrom.UnixNano())
	w.winTo.Store(winTo.UnixNano())
	var senders []*roomMember
	var wg sync.WaitGroup
	for _, m := range w.members {
		switch {
		case w.t.away(m.g):
			at := winFrom.Add(time.Duration(rand.Int64N(int64(max(1, measure-away)))))
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.goAway(ctx, m, at, away)
			}()
		case len(m.rooms) > 0:
			senders = append(senders, m)
		}
	}
	if w.t.Rate > 0 && len(senders) > 0 {
		interval := time.Duration(float64(time.Second) / w.t.Rate)
		for i := 0; ctx.Err() == nil; i++ {
			at := t0.Add(time.Duration(i) * interval)
			if !at.Before(winTo) {
				break
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			m := senders[i%len(senders)]
			r := m.rooms[(i/len(senders))%len(m.rooms)]
			m.mu.Lock()
			c := m.c
			m.mu.Unlock()
			if c == nil {
				continue
			}
			err := c.send(message.RoomMesType, message.RoomMes{RoomID: w.t.RoomIDs[r],
				Content: makeContent("R", i, w.t.Size), ClientMsgID: strconv.Itoa(i)})
			if err != nil {
				w.dropErr.Store(fmt.Sprintf("send: %v", err))
				continue
			}
			w.sent.Add(1)
		}
	}
	wg.Wait()
	// Answers still on their way.
	for end := time.Now().Add(time.Duration(w.t.DrainMs) * time.Millisecond); time.Now().Before(end) && ctx.Err() == nil; {
		if w.answered.Load() >= w.sent.Load() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.accMu.Lock()
	rep := &roomReport{Accepted: w.accepted, Sent: w.sent.Load(), Rejected: w.rejected.Load(),
		Unanswered: w.sent.Load() - w.answered.Load()}
	w.emit(roomEvent{Ev: "sent", Room: rep})
	w.accMu.Unlock()
}

// goAway closes m's connection at at, stays away for d and logs in again.
func (w *roomWorker) goAway(ctx context.Context, m *roomMember, at time.Time, d time.Duration) {
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		return
	}
	m.mu.Lock()
	m.leaving = true
	c := m.c
	m.mu.Unlock()
	if c == nil {
		return
	}
	c.Close()
	from := time.Now().UnixMilli()
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return
	}
	to := time.Now().UnixMilli()
	// Like a client, it tries again while the node answers 505 (may be retried),
	// after the wait the answer asks for, until the drain would be over.
	until := time.UnixMilli(to).Add(time.Duration(w.t.MeasureMs+w.t.DrainMs) * time.Millisecond)
	var nc *client
	var err error
	for {
		var last message.LoginResMes
		if nc, err = w.dialLogin(ctx, m, &last); err == nil || last.Code != message.CodeServerError || time.Now().After(until) {
			break
		}
		retries.Add(1)
		select {
		case <-time.After(time.Duration(max(100, last.RetryAfter)) * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if err != nil {
		w.dropped.Add(1)
		w.dropErr.Store(fmt.Sprintf("user %d back: %v", w.t.Base+m.g, err))
		return
	}
	s := w.online(m, nc)
	m.mu.Lock()
	m.away = append(m.away, awaySpan{from: from, to: to, session: s})
	m.mu.Unlock()
}

// check waits (up to the drain time) until every member has every message of its
// rooms answered 200 to someone else, then reports.
func (w *roomWorker) check(ctx context.Context, accepted []roomMsg) {
	byRoom := make([][]roomMsg, w.t.Layout.Rooms)
	for _, a := range accepted {
		if a.Room >= 0 && a.Room < len(byRoom) {
			byRoom[a.Room] = append(byRoom[a.Room], a)
		}
	}
	missing := func(ex *[]string) (expected, lost int64) {
		for _, m := range w.members {
			m.mu.Lock()
			for _, r := range m.rooms {
				for _, a := range byRoom[r] {
					if a.From == m.g {
						continue
					}
					expected++
					if _, ok := m.seen[a.ID]; !ok {
						lost++
						if ex != nil && len(*ex) < 5 {
							*ex = append(*ex, fmt.Sprintf("user %d: %s", w.t.Base+m.g, a.ID))
						}
					}
				}
			}
			m.mu.Unlock()
		}
		return expected, lost
	}
	for end := time.Now().Add(time.Duration(w.t.DrainMs) * time.Millisecond); time.Now().Before(end) && ctx.Err() == nil; {
		if _, lost := missing(nil); lost == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rep := &roomReport{Sent: w.sent.Load(), Rejected: w.rejected.Load(), Unanswered: w.sent.Load() - w.answered.Load(),
		Dropped: int(w.dropped.Load())}
	rep.Expected, rep.Lost = missing(&rep.LostEx)
	rep.Err, _ = w.dropErr.Load().(string)
	for _, m := range w.members {
		m.mu.Lock()
		rep.Received += int64(len(m.seen))
		rep.Delivered += m.delivered
		rep.Dup += m.dup
		rep.Redelivered += m.redelivered
		rep.OutOfOrder += m.outOfOrder
		rep.Replayed += m.replayed
		if len(m.away) > 0 {
			rep.Away++
		}
		for _, sp := range m.away {
			for _, r := range m.rooms {
				for _, a := range byRoom[r] {
					if ms, _, ok := msgIDTime(a.ID); !ok || a.From == m.g || ms <= sp.from || ms >= sp.to {
						continue
					}
					rep.Missed++
					if got, ok := m.seen[a.ID]; ok && got.session == sp.session && got.offline {
						rep.MissedOK++
					}
				}
			}
		}
		m.mu.Unlock()
	}
	w.histMu.Lock()
	rep.Hist = w.hist.Pack()
	w.histMu.Unlock()
	w.emit(roomEvent{Ev: "result", Room: rep})
}
