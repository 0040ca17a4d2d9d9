package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"chat/internal/chattest"
	"chat/internal/redistest"
)

// startClusterNode runs the server binary as node name on the cluster rc. The
// binary is built without the race detector even under -race: these tests time
// a failover (5 s at most), which the detector's slowdown would measure instead.
func startClusterNode(t *testing.T, rc *redistest.Cluster, name string, args ...string) *chattest.Process {
	t.Helper()
	addr := chattest.FreeAddr(t)
	p, err := chattest.Launch(chattest.Spec{
		Bin: chattest.Build(t, "chat/server"),
		Args: append([]string{"-addr", addr, "-node", name, "-redis-cluster", strings.Join(rc.Seeds(), ","),
			"-bcrypt-cost", "4", "-rate-private", "0", "-rate-group", "0", "-registrations-per-address", "0",
			"-logins-per-user", "0", "-log-level", "warn"}, args...),
		Addr:    addr,
		LogPath: filepath.Join(t.TempDir(), name+".log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// p2pOutcome is what the load tool's p2p scenario reports.
type p2pOutcome struct {
	sent, lost, dup, reordered, unanswered, rejected int
	max                                              time.Duration // the slowest delivery
	output                                           string
}

var (
	outcomeLine = regexp.MustCompile(`\| (\d+) / (\d+) / (\d+) / (\d+) / (\d+) of (\d+) sent`)
	maxLatency  = regexp.MustCompile(`max ([0-9.]+) (ms|s)\b`)
)

// flowWhile runs private messages between 20 pairs, each pair across the two
// nodes, with a clientMsgId each, for 8 s, and calls fault 2 s into the measured
// window; it returns the load tool's figures.
func flowWhile(t *testing.T, a, b *chattest.Process, fault func()) p2pOutcome {
	t.Helper()
	load := chattest.Build(t, "chat/bench")
	cmd := exec.Command(load, "p2p", "-addr", a.Addr+","+b.Addr, "-no-baseline", "-pairs", "20",
		"-warmup", "1s", "-duration", "8s", "-client-msg-id", "-timeout", "3m")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	measuring := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(io.TeeReader(out, &all))
		started := false
		for sc.Scan() {
			if !started && strings.Contains(sc.Text(), "warm-up") {
				started = true
				close(measuring)
			}
		}
	}()
	select {
	case <-measuring:
		time.Sleep(3 * time.Second) // the warm-up, then 2 s of messages before the fault
		fault()
	case <-read:
	}
	<-read
	if err := cmd.Wait(); err != nil {
		t.Logf("chat-load: %v", err)
	}
	o := p2pOutcome{output: all.String()}
	m := outcomeLine.FindStringSubmatch(o.output)
	if m == nil {
		t.Fatalf("no outcome in the load tool's output:\n%s", o.output)
	}
	for i, p := range []*int{&o.lost, &o.dup, &o.reordered, &o.unanswered, &o.rejected, &o.sent} {
		*p, _ = strconv.Atoi(m[i+1])
	}
	if l := maxLatency.FindStringSubmatch(o.output); l != nil {
		v, _ := strconv.ParseFloat(l[1], 64)
		unit := time.Millisecond
		if l[2] == "s" {
			unit = time.Second
		}
		o.max = time.Duration(v * float64(unit))
	}
	return o
}

// slowestDelivery bounds a message's delay through a fault. A send caught by a
// primary's death waits for its replica to take over (the test cluster's node
// timeout, 1 s, then an election), and is answered as soon as the new primary
// serves its slots, kept or refused (-redis-wait-replicas 1: the new primary
// has no replica); a message kept meanwhile arrives with the sender's next
// ones. The bound is below the node's store timeout (5 s), so that it catches
// a send that waits that out instead, besides a message left waiting for a
// later login or a lost wake: tens of seconds.
const slowestDelivery = 4 * time.Second

func checkOutcome(t *testing.T, what string, o p2pOutcome) {
	t.Helper()
	t.Logf("%s: sent %d, lost %d, duplicated %d, out of order %d, unanswered %d, rejected %d, slowest delivery %v",
		what, o.sent, o.lost, o.dup, o.reordered, o.unanswered, o.rejected, o.max)
	if o.sent == 0 || o.lost != 0 || o.reordered != 0 || o.unanswered != 0 || o.max > slowestDelivery {
		t.Errorf("%s: want messages sent, none answered 200 lost or out of order, every send answered, none delayed past %v; the load tool said:\n%s", what, slowestDelivery, o.output)
	}
}

func clusterTest(t *testing.T) {
	if testing.Short() || os.Getenv("CHAT_TEST_CLUSTER") != "1" {
		t.Skip("CHAT_TEST_CLUSTER=1 runs the tests on a Redis Cluster (not in -short)")
	}
}

// A primary killed while private messages flow across two nodes: sends are
// answered again once its replica took over, and with -redis-wait-replicas 1
// none answered 200 is lost or reordered.
func TestClusterPrimaryKilledWhileMessagesFlow(t *testing.T) {
	clusterTest(t)
	rc := redistest.StartCluster(t)
	a := startClusterNode(t, rc, "n1", "-redis-wait-replicas", "1")
	b := startClusterNode(t, rc, "n2", "-redis-wait-replicas", "1")
	var killed time.Time
	o := flowWhile(t, a, b, func() {
		p := rc.Primaries(t)[0]
		killed = time.Now()
		p.Kill(t)
	})
	checkOutcome(t, fmt.Sprintf("primary killed at %s", killed.Format("15:04:05.000")), o)
}

// A fourth primary added and given a share of the slots while private messages
// flow: none answered 200 is lost, and sends are answered within 5 s.
func TestClusterGrowsWhileMessagesFlow(t *testing.T) {
	clusterTest(t)
	rc := redistest.StartCluster(t)
	a := startClusterNode(t, rc, "n1")
	b := startClusterNode(t, rc, "n2")
	o := flowWhile(t, a, b, func() {
		rc.AddPrimary(t)
		if err := rc.RebalanceErr(); err != nil {
			t.Error(err)
		}
	})
	checkOutcome(t, "slots moved to a new primary", o)
}
