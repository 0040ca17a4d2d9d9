package model_test

// The contract of the stores: one suite, run against the memory stores and the
// Redis stores (the Redis run needs redis-server and is skipped in -short), and
// with CHAT_TEST_CLUSTER=1 the Redis stores on a Redis Cluster, so that a test
// of the server on memory tells what it would on Redis.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
	"chat/internal/chattest"
	"chat/internal/redistest"
	"chat/server/chat"
	"chat/server/model"
)

// options are the settings of the stores a test opens.
type options struct {
	keep        model.Retention
	loginWindow time.Duration // zero: a minute
	dedupTTL    time.Duration // zero: an hour
}

// opener returns new, empty stores, all on one storage.
type opener func(t *testing.T, o options) chat.Stores

// TestStoreContract runs the contract of every store on each backend.
func TestStoreContract(t *testing.T) {
	contracts := []struct {
		name string
		run  func(t *testing.T, open opener)
	}{
		{"users", testUserStore},
		{"tokens", testTokens},
		{"logins", testLoginLimiter},
		{"token logins", testTokenLogins},
		{"rates", testRateLimiter},
		{"presence", testPresence},
		{"reap", testReap},
		{"inbox", testInbox},
		{"history", testPrivateHistory},
		{"rooms", testRooms},
		{"room messages", testRoomMessages},
		{"bus", testBus},
	}
	for _, backend := range []string{"memory", "redis", "cluster"} {
		t.Run(backend, func(t *testing.T) {
			open := openMemory
			switch backend {
			case "redis":
				if testing.Short() {
					t.Skip("the Redis stores need redis-server; skipped in -short")
				}
				open = redisOpener(redistest.Start(t))
			case "cluster": // with CHAT_TEST_CLUSTER=1
				open = clusterOpener(model.ClusterForTests(t))
			}
			for _, c := range contracts {
				t.Run(c.name, func(t *testing.T) { c.run(t, open) })
			}
		})
	}
}

func (o options) withDefaults() options {
	if o.loginWindow == 0 {
		o.loginWindow = time.Minute
	}
	if o.dedupTTL == 0 {
		o.dedupTTL = time.Hour
	}
	return o
}

func openMemory(t *testing.T, o options) chat.Stores {
	o = o.withDefaults()
	m := model.NewMemory()
	return chat.Stores{
		Users:    model.NewMemoryUserStore(m, 4),
		Logins:   model.NewMemoryLoginLimiter(m, o.loginWindow),
		Rates:    model.NewMemoryRateLimiter(m),
		Presence: model.NewMemoryPresence(m),
		Inbox:    model.NewMemoryInbox(m, o.dedupTTL, o.keep),
		Rooms:    model.NewMemoryRooms(m, o.dedupTTL, o.keep),
		Bus:      model.NewMemoryBus(m),
	}
}

// redisOpener opens stores on r, emptied first: one redis-server serves a whole run.
func redisOpener(r *redistest.Server) opener {
	return func(t *testing.T, o options) chat.Stores {
		o = o.withDefaults()
		r.Do(t, "FLUSHALL")
		cfg := model.PoolConfig{Addr: r.Addr}
		pool := model.NewPool(cfg)
		t.Cleanup(func() { pool.Close() })
		return redisStores(pool, cfg, o)
	}
}

// redisStores are the Redis stores on pool, one Redis or a cluster.
func redisStores(pool *redis.Pool, cfg model.PoolConfig, o options) chat.Stores {
	return chat.Stores{
		Users:    model.NewRedisUserStore(pool, 4),
		Logins:   model.NewRedisLoginLimiter(pool, o.loginWindow),
		Rates:    model.NewRedisRateLimiter(pool),
		Presence: model.NewRedisPresence(pool),
		Inbox:    model.NewRedisInbox(pool, o.dedupTTL, o.keep),
		Rooms:    model.NewRedisRooms(pool, o.dedupTTL, o.keep),
		Bus:      model.NewRedisBus(pool, cfg),
	}
}

// clusterOpener opens stores on the Redis Cluster c, emptied first: one
// cluster serves a whole run.
func clusterOpener(c *redistest.Cluster) opener {
	return func(t *testing.T, o options) chat.Stores {
		o = o.withDefaults()
		model.ClusterForTests(t) // empties it
		pool, cl, err := model.NewClusterPool(model.ClusterConfig{Seeds: c.Seeds()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close(); cl.Close() })
		return redisStores(pool, model.PoolConfig{}, o)
	}
}

// register makes the accounts 1..n, user i named u<i> with password p<i>.
func register(t *testing.T, st chat.Stores, n int) {
	t.Helper()
	for id := 1; id <= n; id++ {
		u := message.User{UserID: id, UserName: fmt.Sprint("u", id), UserPwd: fmt.Sprint("p", id)}
		if err := st.Users.Register(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

// sendOne keeps one private message: Send with a burst of one.
func sendOne(st chat.Stores, from, to int, content, clientMsgID string, lim model.SendLimits) (model.SendResult, error) {
	res, errs := st.Inbox.Send(context.Background(), from, fmt.Sprint("u", from), []model.SendRequest{{To: to, Content: content, ClientMsgID: clientMsgID}}, lim)
	return res[0], errs[0]
}

// waitUntil polls cond until it holds, or fails t after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	chattest.CheckFor(t, 10*time.Second, what, cond)
}

// contents lists the contents of messages, for got/want comparisons.
func contents(msgs []model.Stored) []string {
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Content)
	}
	return out
}
