package main

import (
	"testing"
	"time"
)

// stormWorkers builds the storm side of the workers of a run with users users
// on nodes nodes, as scenarioStorm splits them.
func stormWorkers(nodes, users int) []*worker {
	var ws []*worker
	first, pairBase := 0, 0
	for _, n := range splitUsers(users, 1, 9000) {
		t := Task{Kind: "pairs", Addrs: make([]string, nodes), First: first, N: n,
			Storm: &StormTask{Victim: 0, PairBase: pairBase, IntervalMs: 1000}}
		ws = append(ws, &worker{t: t, storm: newStormWorker(t)})
		first += n
		pairBase += n / 2
	}
	return ws
}

func TestStormPlacement(t *testing.T) {
	for _, tc := range []struct{ nodes, users int }{{4, 40000}, {4, 2000}, {4, 10004}} {
		perNode := make([]int, tc.nodes)
		sameNode, crossNode, victims := 0, 0, 0
		for _, w := range stormWorkers(tc.nodes, tc.users) {
			victims += w.storm.victims
			for j := 0; j < w.t.N; j++ {
				node := w.nodeOf(j)
				perNode[node]++
				if j%2 == 0 && node == w.storm.t.Victim {
					t.Fatalf("%d×%d: sender %d of a worker on the node that is killed", tc.nodes, tc.users, j)
				}
				if j%2 == 1 && node != w.storm.t.Victim {
					if node == w.nodeOf(j-1) {
						sameNode++
					} else {
						crossNode++
					}
				}
				if got, want := node == w.storm.t.Victim, w.storm.toVictim(j/2) && j%2 == 1; got != want {
					t.Fatalf("%d×%d: user %d on the killed node: got %v, want %v", tc.nodes, tc.users, j, got, want)
				}
			}
		}
		for i, n := range perNode {
			if want := tc.users / tc.nodes; n < want-2 || n > want+2 {
				t.Errorf("%d×%d: node %d holds %d users, want about %d (all: %v)", tc.nodes, tc.users, i, n, want, perNode)
			}
		}
		if victims != perNode[0] {
			t.Errorf("%d×%d: workers count %d users on the killed node, placement puts %d", tc.nodes, tc.users, victims, perNode[0])
		}
		if sameNode == 0 || crossNode < sameNode {
			t.Errorf("%d×%d: surviving pairs on one node %d, across nodes %d: want both, most across", tc.nodes, tc.users, sameNode, crossNode)
		}
	}
}

func TestStormNodeLists(t *testing.T) {
	w := stormWorkers(4, 2000)[0]
	firstTry := make([]int, 4)
	for j := 1; j < w.t.N; j += 2 {
		seen := map[int]bool{}
		for pos := 0; pos < 4; pos++ {
			seen[w.storm.listNode(w, j, pos)] = true
		}
		if len(seen) != 4 || w.storm.listNode(w, j, 0) != w.nodeOf(j) || w.storm.listNode(w, j, 4) != w.nodeOf(j) {
			t.Fatalf("user %d: list %v is not its node then every other node once", j, seen)
		}
		if w.nodeOf(j) == 0 {
			firstTry[w.storm.listNode(w, j, 1)]++
		}
	}
	if firstTry[0] != 0 || firstTry[1] == 0 || firstTry[2] == 0 || firstTry[3] == 0 {
		t.Errorf("first reconnection of the killed node's users by node: %v, want the three others", firstTry)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		ceil    time.Duration
	}{{0, time.Second}, {1, 2 * time.Second}, {4, 16 * time.Second}, {5, 30 * time.Second}, {40, 30 * time.Second}} {
		var longest time.Duration
		for range 2000 {
			d := backoff(tc.attempt)
			if d < 0 || d >= tc.ceil {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", tc.attempt, d, tc.ceil)
			}
			longest = max(longest, d)
		}
		if longest < tc.ceil*9/10 {
			t.Errorf("backoff(%d): longest of 2000 waits %v, want close to %v (full jitter)", tc.attempt, longest, tc.ceil)
		}
	}
}
