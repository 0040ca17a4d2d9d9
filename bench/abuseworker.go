package main

// The abuse scenario's helper process ("abuse-worker"): it holds the misbehaving
// connections of one part of the scenario and reports to the parent (abuse.go).

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"chat/common/message"
)

// runAbuseWorker is the "abuse-worker" command: it opens the task's connections
// (logging in if asked), reports "connected", and then follows its stdin: "stall"
// sends every connection's stalled frame, "stats" reports refusals and closes; the
// end of stdin ends it.
func runAbuseWorker() {
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	emit := func(e abuseEvent) {
		outMu.Lock()
		defer outMu.Unlock()
		out.Encode(e)
	}
	line, err := in.ReadBytes('\n')
	var t abuseTask
	if err == nil {
		err = json.Unmarshal(line, &t)
	}
	if err != nil {
		emit(abuseEvent{Ev: "fatal", Err: "no task: " + err.Error()})
		os.Exit(2)
	}
	ctx, cancel := taskContext("abuse-worker", t.Deadline)
	defer cancel()

	conns := make([]*client, t.N)
	var fails atomic.Int64
	var firstErr atomic.Value
	forEach(t.N, 64, func(j int) {
		c, err := dialAbuser(ctx, t.Addr, t.Mode == "nonread")
		if err == nil && (t.Login || t.Mode == "nonread") {
			if _, err = c.login(t.First + j); err != nil {
				c.Close()
			}
		}
		if err != nil {
			fails.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		conns[j] = c
	})
	e := abuseEvent{Ev: "connected", OK: t.N - int(fails.Load()), Fail: int(fails.Load())}
	if v, ok := firstErr.Load().(string); ok {
		e.Err = v
	}
	emit(e)

	var refused, closed atomic.Int64
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return // the parent is done: exiting closes every connection
		}
		switch strings.TrimSpace(string(line)) {
		case "stall":
			stall := binary.BigEndian.AppendUint32(nil, t.Announce)
			stall = append(stall, strings.Repeat("x", t.Sent)...)
			sent := 0
			for _, c := range conns {
				if c == nil || c.writeRaw(stall) != nil {
					continue
				}
				sent++
				// Watch for the server's answer (413 and a close, or nothing).
				go func(c *client) {
					for {
						typ, body, err := c.readFrame()
						if err != nil {
							closed.Add(1)
							return
						}
						if typ == message.ErrorResMesType {
							var er message.ErrorResMes
							if unpack(body, &er) == nil && er.Code == message.CodeTooLarge {
								refused.Add(1)
							}
						}
					}
				}(c)
			}
			emit(abuseEvent{Ev: "stalled", OK: sent, Fail: t.N - sent})
		case "stats":
			emit(abuseEvent{Ev: "stats", Refused: int(refused.Load()), Closed: int(closed.Load())})
		}
	}
}

// dialAbuser connects; a non-reader gets a small receive buffer (set before the
// connection, so that its window stays small), so that the backlog it causes is
// held by the server, not by the kernel's buffers.
func dialAbuser(ctx context.Context, addr string, smallWindow bool) (*client, error) {
	d := dialer("")
	if smallWindow {
		d.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
			return serr
		}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{nc: nc, br: bufio.NewReaderSize(nc, 512)}, nil
}

// forEach runs fn(i) for i in [0, n) on conc goroutines.
func forEach(n, conc int, fn func(i int)) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
