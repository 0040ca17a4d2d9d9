package main

// The rooms scenario: room messages to members spread over the nodes, while some
// members go offline and come back.
//
// Membership slot s (0 ≤ s < rooms × members) is in room s / members and belongs
// to user s % users: a room's members are consecutive users (placed on the nodes
// in turn), and each user is in rooms × members / users rooms. Setup goes through
// the protocol before the measured logins: each room's first member creates it,
// then every user logs in, joins its other rooms and leaves, so that the joins
// cost no notices to members online. The members then log in (proto 2) in worker
// processes of this binary ("rooms-worker"); the users that never go away send
// RoomMes with a clientMsgId at a fixed total rate, every member acks each RoomMes
// with AckMes, and one user in every 1/-offline closes its connection once inside
// the window, stays away -away, and logs in again.
//
// Counting, on the receivers: a message is identified by its msgId. The first
// receipt counts; a repeat marked offline in a later session than the first
// receipt is a redelivery (at-least-once after a reconnect, allowed); any other
// repeat is a duplicate. After the window the parent sends every worker the
// messages answered 200; a member that has not received one of its rooms'
// (others') messages by the end of the drain lost it. A message stored (its msgId's
// time) while a member was away must reach it in its next session marked offline;
// within a session each room's msgIds must grow. Latency is send → receipt of the
// live (not offline) first receipts inside the window.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
	"chat/server/model"
)

// roomOpts are the rooms scenario's flags.
type roomOpts struct {
	rooms, members, users int
	rate, offline         float64
	away                  time.Duration
}

func (r *roomOpts) register(fs *flag.FlagSet) {
	fs.IntVar(&r.rooms, "rooms", 1000, "rooms: rooms")
	fs.IntVar(&r.members, "members", 100, "rooms: members per room")
	fs.IntVar(&r.users, "room-users", 10000, "rooms: users (each in rooms×members/users rooms)")
	fs.Float64Var(&r.rate, "room-rate", 200, "rooms: room messages sent per second, all senders together")
	fs.Float64Var(&r.offline, "offline", 0.1, "rooms: share of the users that go offline once inside the window and come back")
	fs.DurationVar(&r.away, "away", 3*time.Second, "rooms: how long those users stay offline")
}

// roomLayout places the users in the rooms (see the top of this file).
type roomLayout struct {
	Rooms   int `json:"rooms"`
	Members int `json:"members"`
	Users   int `json:"users"`
}

// roomsOf lists the room indexes of user index g.
func (l roomLayout) roomsOf(g int) []int {
	var rs []int
	for s := g; s < l.Rooms*l.Members; s += l.Users {
		rs = append(rs, s/l.Members)
	}
	return rs
}

// creator is the user index that creates room r: its first member.
func (l roomLayout) creator(r int) int { return r * l.Members % l.Users }

// roomTask is a rooms worker's job, the first line of its stdin.
type roomTask struct {
	Layout    roomLayout `json:"layout"`
	Addrs     []string   `json:"addrs"`
	Base      int        `json:"base"`  // user id of user index 0
	First     int        `json:"first"` // this worker's users: indexes First..First+N-1
	N         int        `json:"n"`
	RoomIDs   []int      `json:"roomIds"` // by room index
	Rate      float64    `json:"rate"`    // messages per second from this worker
	Size      int        `json:"size"`
	AwayEvery int        `json:"awayEvery"` // user index g goes away once if g%AwayEvery == AwayEvery-1 (0: nobody)
	AwayMs    int64      `json:"awayMs"`
	LoginConc int        `json:"loginConc"`
	WarmupMs  int64      `json:"warmupMs"`
	MeasureMs int64      `json:"measureMs"`
	DrainMs   int64      `json:"drainMs"`
	Deadline  int64      `json:"deadline"` // unix ms: the worker exits then whatever happens
}

func (t roomTask) away(g int) bool { return t.AwayEvery > 0 && g%t.AwayEvery == t.AwayEvery-1 }

// roomMsg is one room message answered 200.
type roomMsg struct {
	Room int    `json:"r"` // room index
	ID   string `json:"id"`
	From int    `json:"f"` // sender's user index
}

// roomCmd is a parent → rooms worker line: login, stats, run, check (with the
// messages answered 200), quit.
type roomCmd struct {
	Cmd      string    `json:"cmd"`
	Accepted []roomMsg `json:"accepted,omitempty"`
}

// roomReport is what a rooms worker reports after sending ("sent") and after the
// check ("result"), under "room" in its Event line.
type roomReport struct {
	Accepted    []roomMsg `json:"accepted,omitempty"`
	Sent        int64     `json:"sent"`
	Rejected    int64     `json:"rejected"`
	Unanswered  int64     `json:"unanswered"`
	Expected    int64     `json:"expected"` // receipts due: members × others' messages of their rooms
	Received    int64     `json:"received"` // first receipts
	Delivered   int64     `json:"delivered"`
	Lost        int64     `json:"lost"`
	Dup         int64     `json:"dup"`
	Redelivered int64     `json:"redelivered"`
	OutOfOrder  int64     `json:"outOfOrder"`
	Replayed    int64     `json:"replayed"` // first receipts marked offline
	Missed      int64     `json:"missed"`   // stored while their member was away
	MissedOK    int64     `json:"missedOk"` // of them, first received in the next session, offline
	Away        int       `json:"away"`     // users that went away and came back
	Dropped     int       `json:"dropped"`
	Err         string    `json:"err,omitempty"`
	LostEx      []string  `json:"lostEx,omitempty"`
	Hist        *Hist     `json:"hist,omitempty"`
}

type roomEvent struct {
	Ev   string      `json:"ev"`
	Room *roomReport `json:"room,omitempty"`
}

// roomSetup creates the rooms (each by its first member) and has every other
// member join, conc users at a time, each logged in only for its own requests.
// It returns the room ids by index.
func roomSetup(ctx context.Context, e *env, addrs []string, base int, l roomLayout, conc int) ([]int, error) {
	ids := make([]int, l.Rooms)
	byCreator := map[int][]int{}
	for r := range l.Rooms {
		byCreator[l.creator(r)] = append(byCreator[l.creator(r)], r)
	}
	creators := make([]int, 0, len(byCreator))
	for g := range byCreator {
		creators = append(creators, g)
	}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// session logs user index g in, sends reqs, and reads one RoomResMes for each.
	session := func(g int, typ string, reqs []any, got func(i int, r message.RoomResMes)) {
		if ctx.Err() != nil || len(reqs) == 0 {
			return
		}
		c, err := dialClient(ctx, addrs[g%len(addrs)], "")
		if err != nil {
			fail(err)
			return
		}
		defer c.Close()
		if _, err := c.login(base + g); err != nil {
			fail(err)
			return
		}
		for _, q := range reqs {
			if err := c.send(typ, q); err != nil {
				fail(err)
				return
			}
		}
		for i := range reqs {
			var r message.RoomResMes
			if err := c.waitFor(message.RoomResMesType, &r, time.Now().Add(30*time.Second)); err != nil {
				fail(fmt.Errorf("user %d: %w", base+g, err))
				return
			}
			got(i, r)
		}
	}
	t0 := time.Now()
	forEach(len(creators), conc, func(i int) {
		g := creators[i]
		rs := byCreator[g]
		reqs := make([]any, len(rs))
		for k, r := range rs {
			reqs[k] = message.RoomCreateMes{Name: fmt.Sprintf("bench room %d", r)}
		}
		session(g, message.RoomCreateMesType, reqs, func(k int, res message.RoomResMes) {
			if res.Code != message.CodeOK {
				fail(fmt.Errorf("create room %d: %d %s", rs[k], res.Code, res.Error))
				return
			}
			ids[rs[k]] = res.RoomID
		})
	})
	if firstErr != nil {
		return nil, firstErr
	}
	e.logf("rooms: %d rooms created by %d users in %v", l.Rooms, len(creators), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	var joins atomic.Int64
	forEach(l.Users, conc, func(g int) {
		var reqs []any
		for _, r := range l.roomsOf(g) {
			if l.creator(r) != g {
				reqs = append(reqs, message.RoomJoinMes{RoomID: ids[r]})
			}
		}
		session(g, message.RoomJoinMesType, reqs, func(k int, res message.RoomResMes) {
			if res.Code != message.CodeOK {
				fail(fmt.Errorf("user %d joins room %d: %d %s", base+g, res.RoomID, res.Code, res.Error))
				return
			}
			joins.Add(1)
		})
	})
	if firstErr != nil {
		return nil, firstErr
	}
	e.logf("rooms: %d joins by %d users in %v (%.0f joins/s incl. one login per user)", joins.Load(), l.Users,
		time.Since(t0).Round(time.Millisecond), float64(joins.Load())/time.Since(t0).Seconds())
	return ids, ctx.Err()
}

// roomMemory is what Redis holds: used_memory, and the room streams' MEMORY
// USAGE (exact, SAMPLES 0) and entries.
type roomMemory struct{ used, streams, entries int64 }

func readRoomMemory(addr string, roomIDs []int) (roomMemory, error) {
	var m roomMemory
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(5*time.Second), redis.DialReadTimeout(60*time.Second))
	if err != nil {
		return m, err
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "memory"))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			m.used, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	for _, id := range roomIDs {
		c.Send("MEMORY", "USAGE", model.RoomLogKey(id), "SAMPLES", "0")
		c.Send("XLEN", model.RoomLogKey(id))
	}
	if err := c.Flush(); err != nil {
		return m, err
	}
	for range roomIDs {
		u, err := redis.Int64(c.Receive())
		if err != nil && err != redis.ErrNil {
			return m, err
		}
		n, err := redis.Int64(c.Receive())
		if err != nil {
			return m, err
		}
		m.streams += u
		m.entries += n
	}
	return m, nil
}

// roomProbe is what one more room message costs Redis, in bytes: its room
// stream's growth, and the dedup key of its clientMsgId (kept for the dedup TTL).
type roomProbe struct{ stream, dedup float64 }

// marginalRoomMemory sends a first message, then n with a clientMsgId, to a new
// room of user userID alone (nothing is delivered), and reads the stream's growth
// and the dedup keys' MEMORY USAGE.
func marginalRoomMemory(ctx context.Context, addr, redisAddr string, userID, n, size int) (roomProbe, error) {
	var p roomProbe
	c, err := dialClient(ctx, addr, "")
	if err != nil {
		return p, err
	}
	defer c.Close()
	if _, err := c.login(userID); err != nil {
		return p, err
	}
	deadline := time.Now().Add(60 * time.Second)
	var res message.RoomResMes
	if err := c.send(message.RoomCreateMesType, message.RoomCreateMes{Name: "memory probe"}); err != nil {
		return p, err
	}
	if err := c.waitFor(message.RoomResMesType, &res, deadline); err != nil || res.Code != message.CodeOK {
		return p, fmt.Errorf("create: %v %d %s", err, res.Code, res.Error)
	}
	room := res.RoomID
	send := func(k int, ids bool) error {
		for i := range k {
			m := message.RoomMes{RoomID: room, Content: makeContent("M", i, size)}
			if ids {
				m.ClientMsgID = "probe-" + strconv.Itoa(i)
			}
			if err := c.send(message.RoomMesType, m); err != nil {
				return err
			}
		}
		for range k {
			var r message.RoomResMes
			if err := c.waitFor(message.RoomResMesType, &r, deadline); err != nil {
				return err
			}
			if r.Code != message.CodeOK {
				return fmt.Errorf("RoomMes: %d %s", r.Code, r.Error)
			}
		}
		return nil
	}
	if err := send(1, false); err != nil {
		return p, err
	}
	m0, err := readRoomMemory(redisAddr, []int{room})
	if err != nil {
		return p, err
	}
	if err := send(n, true); err != nil {
		return p, err
	}
	m1, err := readRoomMemory(redisAddr, []int{room})
	if err != nil {
		return p, err
	}
	p.stream = float64(m1.streams-m0.streams) / float64(max(1, m1.entries-m0.entries))
	rc, err := redis.Dial("tcp", redisAddr, redis.DialConnectTimeout(5*time.Second), redis.DialReadTimeout(60*time.Second))
	if err != nil {
		return p, err
	}
	defer rc.Close()
	for i := range n {
		rc.Send("MEMORY", "USAGE", model.RoomDedupKey(userID, room, "probe-"+strconv.Itoa(i)), "SAMPLES", "0")
	}
	if err := rc.Flush(); err != nil {
		return p, err
	}
	var dedup int64
	for range n {
		u, err := redis.Int64(rc.Receive())
		if err != nil {
			return p, fmt.Errorf("dedup key: %w", err)
		}
		dedup += u
	}
	p.dedup = float64(dedup) / float64(n)
	return p, nil
}

func scenarioRooms(ctx context.Context, e *env, o *opts, ro roomOpts) ([]row, error) {
	l := roomLayout{Rooms: ro.rooms, Members: ro.members, Users: ro.users}
	perUser := (l.Rooms*l.Members + l.Users - 1) / l.Users
	switch {
	case l.Rooms < 1 || l.Members < 2 || l.Members > l.Users:
		return nil, fmt.Errorf("rooms: need rooms ≥ 1 and 2 ≤ members ≤ room-users")
	case perUser > message.DefaultUserRoom:
		return nil, fmt.Errorf("rooms: %d rooms per user is over the server's default of %d: raise -room-users", perUser, message.DefaultUserRoom)
	}
	// Presence is measured by idle and fan-out; here its notices would only add
	// work unrelated to rooms. Room members beyond the default need the server's leave.
	extra := []string{"-presence-limit", "-1"}
	if l.Members > message.DefaultRoomSize {
		extra = append(extra, "-room-members", strconv.Itoa(l.Members))
	}
	redisAddr, servers, redisPID, err := setup(e, o, o.nodes, "rooms-", extra...)
	if err != nil {
		return nil, err
	}
	if redisAddr == "" {
		return nil, fmt.Errorf("rooms: -redis is needed with -addr (users are added there, memory is read there)")
	}
	addrs := addrsOf(servers)
	base := runBase()
	probe := base + l.Users // a user of its own for the marginal memory probe
	if err := prefill(ctx, redisAddr, base, l.Users+1, benchPassword); err != nil {
		return nil, fmt.Errorf("prefill: %w", err)
	}
	e.logf("rooms: %d rooms × %d members, %d users on %d nodes (%d rooms each)", l.Rooms, l.Members, l.Users, len(servers), perUser)
	roomIDs, err := roomSetup(ctx, e, addrs, base, l, 32)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	memBefore, err := readRoomMemory(redisAddr, roomIDs)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	awayEvery := 0
	if ro.offline > 0 {
		awayEvery = max(1, int(1/ro.offline+0.5))
	}
	var tasks []roomTask
	first := 0
	for _, n := range splitUsers(l.Users, max(2, o.workers), 9000) {
		tasks = append(tasks, roomTask{Layout: l, Addrs: addrs, Base: base, First: first, N: n, RoomIDs: roomIDs,
			Rate: ro.rate * float64(n) / float64(l.Users), Size: o.size, AwayEvery: awayEvery, AwayMs: ro.away.Milliseconds(),
			LoginConc: 32, WarmupMs: o.warmup.Milliseconds(), MeasureMs: o.measure.Milliseconds(),
			DrainMs: o.drain.Milliseconds(), Deadline: deadline.UnixMilli()})
		first += n
	}
	ws, err := startLoggedIn(ctx, e, "rooms-worker", tasks, l.Users)
	if err != nil {
		return nil, err
	}
	defer ws.quit(e)
	e.logf("rooms: %.0f room messages/s from the users that stay, 1 in %d users away for %v once, warm-up %v, measure %v",
		ro.rate, awayEvery, ro.away, o.warmup, o.measure)
	var pids []int
	for _, s := range servers {
		pids = append(pids, serverPID(o, s))
	}
	ws.broadcast("run")
	var sCPU, rCPU time.Duration
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		select {
		case <-time.After(o.warmup):
		case <-ctx.Done():
			return
		}
		sm, rm := newCPUMeter(pids...), newCPUMeter(redisPID)
		select {
		case <-time.After(o.measure):
		case <-ctx.Done():
			return
		}
		sCPU, rCPU = sm.used(), rm.used()
	}()
	sentEvs, err := ws.collect(ctx, "sent", nil)
	if err != nil {
		return nil, err
	}
	var all []roomMsg
	for _, ev := range sentEvs {
		var re roomEvent
		if err := json.Unmarshal(ev.Raw, &re); err != nil || re.Room == nil {
			return nil, fmt.Errorf("worker %d: bad report: %v", ev.W, err)
		}
		all = append(all, re.Room.Accepted...)
	}
	<-cpuDone
	e.logf("rooms: %d messages answered 200; waiting for every member to have them (at most %v)", len(all), o.drain)
	for _, w := range ws.ws {
		w.sendValue(roomCmd{Cmd: "check", Accepted: all})
	}
	resEvs, err := ws.collect(ctx, "result", nil)
	if err != nil {
		return nil, err
	}
	var t roomReport
	t.Hist = NewHist()
	for _, ev := range resEvs {
		var re roomEvent
		if err := json.Unmarshal(ev.Raw, &re); err != nil || re.Room == nil {
			return nil, fmt.Errorf("worker %d: bad report: %v", ev.W, err)
		}
		r := re.Room
		t.Sent += r.Sent
		t.Rejected += r.Rejected
		t.Unanswered += r.Unanswered
		t.Expected += r.Expected
		t.Received += r.Received
		t.Delivered += r.Delivered
		t.Lost += r.Lost
		t.Dup += r.Dup
		t.Redelivered += r.Redelivered
		t.OutOfOrder += r.OutOfOrder
		t.Replayed += r.Replayed
		t.Missed += r.Missed
		t.MissedOK += r.MissedOK
		t.Away += r.Away
		t.Dropped += r.Dropped
		t.LostEx = append(t.LostEx, r.LostEx...)
		if t.Err == "" {
			t.Err = r.Err
		}
		t.Hist.Merge(r.Hist)
	}
	rate := float64(t.Delivered) / o.measure.Seconds()
	e.logf("rooms: sent %d, accepted %d, rejected %d, unanswered %d; receipts expected %d, first receipts %d (%d in the window: %.0f/s), lost %d %v, dup %d, redelivered %d, out of order %d, replayed offline %d, missed while away %d (offline in the next session %d) by %d users, dropped %d; live p50 %s p99 %s max %s; server CPU %v redis CPU %v %s",
		t.Sent, len(all), t.Rejected, t.Unanswered, t.Expected, t.Received, t.Delivered, rate, t.Lost, t.LostEx, t.Dup, t.Redelivered,
		t.OutOfOrder, t.Replayed, t.Missed, t.MissedOK, t.Away, t.Dropped, ms(t.Hist.Quantile(.5)), ms(t.Hist.Quantile(.99)),
		ms(time.Duration(t.Hist.Max)*time.Microsecond), sCPU, rCPU, t.Err)
	memAfter, err := readRoomMemory(redisAddr, roomIDs)
	if err != nil {
		return nil, err
	}
	marginal, err := marginalRoomMemory(ctx, addrs[0], redisAddr, probe, 1000, o.size)
	if err != nil {
		return nil, fmt.Errorf("memory probe: %w", err)
	}
	stored := memAfter.entries - memBefore.entries
	e.logf("rooms: Redis used_memory %d → %d B, room streams %d → %d B, %d → %d entries; one more message in one stream: %.0f B, its clientMsgId's dedup key %.0f B",
		memBefore.used, memAfter.used, memBefore.streams, memAfter.streams, memBefore.entries, memAfter.entries, marginal.stream, marginal.dedup)

	name := fmt.Sprintf("rooms %d×%d", l.Rooms, l.Members)
	okIf := func(b bool) string {
		if b {
			return "ok"
		}
		return "FAIL"
	}
	rows := []row{
		{name, "users / nodes / rooms per user", fmt.Sprintf("%d / %d / %d", l.Users, len(servers), perUser), "-", ""},
		{name, "room messages sent / answered 200 / rejected / unanswered", fmt.Sprintf("%d / %d / %d / %d", t.Sent, len(all), t.Rejected, t.Unanswered),
			fmt.Sprintf("%.0f/s offered", ro.rate), okIf(t.Rejected == 0 && t.Unanswered == 0)},
		{name, "delivered/s (first receipts in the window)", fmt.Sprintf("%.0f", rate), fmt.Sprintf("%d members per room", l.Members), ""},
		{name, "send → receipt p50 / p99 (live)", ms(t.Hist.Quantile(.5)) + " / " + ms(t.Hist.Quantile(.99)), "-", ""},
		{name, "lost / duplicated", fmt.Sprintf("%d / %d of %d receipts due", t.Lost, t.Dup, t.Expected), "0 / 0", okIf(t.Lost == 0 && t.Dup == 0 && t.Dropped == 0)},
		{name, "redelivered after a reconnect (at-least-once, not duplicates)", fmt.Sprintf("%d", t.Redelivered), "-", ""},
		{name, "missed while away → offline:true at re-login", fmt.Sprintf("%d of %d (%d users away %v)", t.MissedOK, t.Missed, t.Away, ro.away), "all", okIf(t.MissedOK == t.Missed && (t.Away > 0) == (awayEvery > 0))},
		{name, "out of room order", fmt.Sprintf("%d", t.OutOfOrder), "0", okIf(t.OutOfOrder == 0)},
	}
	if stored > 0 {
		rows = append(rows,
			row{name, "Redis per stored message: room streams (MEMORY USAGE)", fmt.Sprintf("%.0f B (%d messages, %d streams)",
				float64(memAfter.streams-memBefore.streams)/float64(stored), stored, len(roomIDs)), fmt.Sprintf("%d-byte contents", o.size), ""},
			row{name, "Redis used_memory growth during the run", fmt.Sprintf("%.1f MiB", float64(memAfter.used-memBefore.used)/(1<<20)),
				"logins, sessions, cursors, dedup keys too", ""})
	}
	rows = append(rows, row{name, "Redis per message, one stream from 1 to 1,001: stream / clientMsgId dedup key",
		fmt.Sprintf("%.0f / %.0f B", marginal.stream, marginal.dedup), "dedup key: for its TTL", ""})
	if t.Delivered > 0 && sCPU > 0 {
		rows = append(rows, row{name, "CPU per delivery: servers / redis", fmt.Sprintf("%.1f / %.1f µs",
			float64(sCPU.Microseconds())/float64(t.Delivered), float64(rCPU.Microseconds())/float64(t.Delivered)), "-", ""})
	}
	return rows, nil
}
