package chat_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/redistest"
	"chat/server/chat"
)

// Shutdown during a Redis outage (Redis gone, its address answering connections
// but never a command, as a hung or partitioned Redis does) returns by its
// context's deadline, with requests, session ends and the cluster's loops all
// waiting on Redis, and leaves no goroutine of the server behind.
func TestShutdownDuringRedisOutage(t *testing.T) {
	before := serverGoroutines()
	r := needRedis(t)
	n := startNode(t, r, "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	user(t, n.Addr, 2, "bob", message.ProtoAck)
	carol := user(t, n.Addr, 3, "carol", message.ProtoClassic)

	r.Kill(t)
	redistest.Silent(t, r.Addr)
	// Requests that wait on Redis when Shutdown starts (or soon after).
	alice.send(message.PrivateMesType, message.PrivateMes{ToUserID: 2, Content: "lost in the outage"})
	carol.send(message.SmsMesType, message.SmsMes{Content: "to everyone"})

	const grace = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	err := n.srv.Shutdown(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want %v: the sessions could not end cleanly", err, context.DeadlineExceeded)
	}
	if took > grace+2*time.Second {
		t.Errorf("Shutdown took %v, want about its %v deadline", took, grace)
	}
	if err := <-n.done; !errors.Is(err, chat.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	n.closeStores()
	n.srv = nil // stopped: the harness's cleanup has nothing left to do

	// A goroutine that has just signalled its end may still be on its way out.
	var left []string
	checkFor(t, time.Second, "the server's goroutines to end", func() bool {
		left = serverGoroutines()
		return len(left) <= len(before)
	})
	if t.Failed() {
		t.Logf("goroutines left:\n%s", strings.Join(left, "\n\n"))
	}
}

// serverGoroutines returns the stacks of the goroutines running code of the
// server's packages (chat and model).
func serverGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "\nchat/server/chat.") || strings.Contains(g, "\nchat/server/model.") {
			out = append(out, g)
		}
	}
	return out
}
