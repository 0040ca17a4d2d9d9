package redistest

import (
	"os"
	"sync"
	"testing"
)

// The process's shared cluster: starting a cluster takes seconds, so the tests
// of a package that only store and read data share one, emptied for each.
var shared struct {
	once sync.Once
	c    *Cluster
	dir  string
	err  error
}

// SharedCluster returns the test binary's cluster of 3 primaries and 3
// replicas, started at the first call, emptied (FLUSHALL on every primary) at
// every call; CloseShared stops it, from TestMain. A test that kills, adds or
// moves nodes starts a cluster of its own (StartCluster). It skips tb in
// -short runs.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("redistest: a Redis Cluster is not started in -short")
	}
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "redistest-cluster-"); shared.err != nil {
			return
		}
		shared.c, shared.err = LaunchCluster(ClusterConfig{Dir: shared.dir})
	})
	if shared.err != nil {
		tb.Fatalf("redistest: %v", shared.err)
	}
	for _, p := range shared.c.Primaries(tb) {
		p.Do(tb, "FLUSHALL")
	}
	return shared.c
}

// CloseShared stops the shared cluster, if one was started, and removes its
// files.
func CloseShared() error {
	if shared.c == nil {
		return nil
	}
	err := shared.c.Close()
	os.RemoveAll(shared.dir)
	shared.c = nil
	return err
}
