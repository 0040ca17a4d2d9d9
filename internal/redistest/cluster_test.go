package redistest

import (
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

func TestStartCluster(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("a 3×1 cluster took %v to start", time.Since(start))
	if got := len(c.Nodes); got != 6 {
		t.Fatalf("got %d nodes, want 6", got)
	}
	if got := len(c.Primaries(t)); got != 3 {
		t.Fatalf("got %d primaries, want 3", got)
	}
	for _, s := range c.Nodes {
		if got := s.Do(t, "CONFIG", "GET", "cluster-node-timeout"); !equalStrings(got, "cluster-node-timeout", "1000") {
			t.Errorf("%s: got %v, want cluster-node-timeout 1000", s.Addr, got)
		}
	}
	// A key written on its primary is read there, and redirected elsewhere.
	p := c.PrimaryOf(t, "k")
	p.Do(t, "SET", "k", "v")
	if got, _ := redis.String(p.Do(t, "GET", "k"), nil); got != "v" {
		t.Errorf("GET k on its primary: got %q, want v", got)
	}
	for _, s := range c.Primaries(t) {
		if s == p {
			continue
		}
		conn, err := s.dial()
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Do("GET", "k")
		conn.Close()
		if err == nil || err.Error()[:5] != "MOVED" {
			t.Errorf("GET k on %s, not its primary: got %v, want MOVED", s.Addr, err)
		}
	}
}

// A primary killed is replaced by its replica: WaitHealthy returns once the
// cluster serves every slot again, and the key's new primary is the replica.
func TestClusterFailover(t *testing.T) {
	c := StartCluster(t)
	p := c.PrimaryOf(t, "k")
	p.Do(t, "SET", "k", "v")
	p.Do(t, "WAIT", 1, 5000)
	start := time.Now()
	p.Kill(t)
	if err := c.WaitHealthy(clusterReadyTimeout); err != nil {
		t.Fatal(err)
	}
	t.Logf("the cluster was healthy again %v after the kill", time.Since(start))
	q := c.PrimaryOf(t, "k")
	if q == p {
		t.Fatalf("the killed node still serves the key")
	}
	if got, _ := redis.String(q.Do(t, "GET", "k"), nil); got != "v" {
		t.Errorf("GET k on the new primary: got %q, want v", got)
	}
}

func equalStrings(reply any, want ...string) bool {
	got, err := redis.Strings(reply, nil)
	if err != nil || len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
