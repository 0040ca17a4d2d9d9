package model

import (
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/internal/rediscluster"
)

// ClusterConfig says how to reach a Redis Cluster.
type ClusterConfig struct {
	// Seeds are host:port of some of its nodes.
	Seeds    []string
	Password string
	// MaxActive bounds the connections to each primary (see PoolConfig); zero
	// means 32, so that a node's connections to a cluster of up to 4 primaries
	// stay within what one Redis's pool may open (128).
	MaxActive int
	// Observe, if set, is told the duration and error of every round trip to a node.
	Observe func(time.Duration, error)
	// WaitReplicas, if above 0, answers a write only once that many replicas of
	// its primary have it (WAIT, once per pipeline to a primary): a failover
	// then loses no message answered 200. WaitTimeout bounds the wait (0: 1 s);
	// a write not replicated within it fails, and its sender resends.
	WaitReplicas int
	WaitTimeout  time.Duration
}

// clusters maps each pool NewClusterPool made to its cluster: the stores keep
// their constructors' *redis.Pool, and look here to learn that their keys are
// spread over slots (onCluster).
var clusters sync.Map // *redis.Pool -> *rediscluster.Cluster

// NewClusterPool returns a pool whose connections route every command to the
// primary of its first key's slot, and split pipelines per primary: the stores
// given it keep their data on the cluster, with the scripts that would span
// several slots split into steps of one slot each (docs/SCALING.md). Each
// primary is reached through a pool as NewPool makes it.
func NewClusterPool(cfg ClusterConfig) (*redis.Pool, *rediscluster.Cluster, error) {
	if cfg.MaxActive <= 0 {
		cfg.MaxActive = 32
	}
	c, err := rediscluster.New(rediscluster.Config{
		Seeds:        cfg.Seeds,
		WaitReplicas: cfg.WaitReplicas,
		WaitTimeout:  cfg.WaitTimeout,
		NewPool: func(addr string) *redis.Pool {
			return NewPool(PoolConfig{Addr: addr, Password: cfg.Password, MaxActive: cfg.MaxActive, Observe: cfg.Observe})
		},
	})
	if err != nil {
		return nil, nil, err
	}
	p := c.Pool()
	clusters.Store(p, c)
	return p, c, nil
}

// onCluster returns the cluster behind pool, or nil for a single Redis.
func onCluster(pool *redis.Pool) *rediscluster.Cluster {
	if c, ok := clusters.Load(pool); ok {
		return c.(*rediscluster.Cluster)
	}
	return nil
}
