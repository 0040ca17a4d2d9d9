package model

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"

	"chat/common/message"
	"chat/internal/redistest"
)

// clusterEnv, set to 1, runs the store tests written for both layouts on a
// Redis Cluster too (make test-cluster); without it they run on one Redis only.
const clusterEnv = "CHAT_TEST_CLUSTER"

// testRedis is a Redis a store test runs on: one redis-server, or a cluster of
// 3 primaries and 3 replicas.
type testRedis struct {
	name    string
	pool    *redis.Pool
	cluster *redistest.Cluster // nil for one Redis
	server  *redistest.Server  // nil for a cluster
}

// addr is the address of the single Redis, or of a node of the cluster.
func (r testRedis) addr() string {
	if r.server != nil {
		return r.server.Addr
	}
	return r.cluster.Seeds()[0]
}

// do runs one command, routed by its first key on a cluster.
func (r testRedis) do(t *testing.T, cmd string, args ...any) any {
	t.Helper()
	conn := r.pool.Get()
	defer conn.Close()
	reply, err := conn.Do(cmd, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return reply
}

// register creates the accounts ids, each named "u<id>" with password "pw".
func (r testRedis) register(t *testing.T, ids ...int) {
	t.Helper()
	users := NewRedisUserStore(r.pool, bcrypt.MinCost)
	for _, id := range ids {
		if err := users.Register(context.Background(), message.User{UserID: id, UserPwd: "pw", UserName: "u" + itoa(id)}); err != nil {
			t.Fatalf("register %d: %v", id, err)
		}
	}
}

// forEachRedis runs test on a fresh Redis, then, with CHAT_TEST_CLUSTER=1, on
// the package's cluster emptied.
func forEachRedis(t *testing.T, test func(t *testing.T, r testRedis)) {
	t.Run("standalone", func(t *testing.T) {
		s := redistest.Start(t)
		pool := NewPool(PoolConfig{Addr: s.Addr})
		t.Cleanup(func() { pool.Close() })
		test(t, testRedis{name: "standalone", pool: pool, server: s})
	})
	t.Run("cluster", func(t *testing.T) {
		skipUnlessCluster(t)
		c := redistest.SharedCluster(t)
		pool, cl, err := NewClusterPool(ClusterConfig{Seeds: c.Seeds()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close(); cl.Close() })
		test(t, testRedis{name: "cluster", pool: pool, cluster: c})
	})
}

// skipUnlessCluster skips t unless CHAT_TEST_CLUSTER=1, and in -short.
func skipUnlessCluster(t *testing.T) {
	t.Helper()
	if testing.Short() || os.Getenv(clusterEnv) != "1" {
		t.Skip(clusterEnv + "=1 runs this on a Redis Cluster (not in -short)")
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := redistest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}
