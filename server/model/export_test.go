package model

import (
	"context"
	"testing"

	"chat/internal/redistest"
)

// SendOne keeps one private message: Send with a burst of one.
func (b *RedisInbox) SendOne(ctx context.Context, from int, fromName string, to int, content, clientMsgID string, lim SendLimits) (SendResult, error) {
	res, errs := b.Send(ctx, from, fromName, []SendRequest{{To: to, Content: content, ClientMsgID: clientMsgID}}, lim)
	return res[0], errs[0]
}

// ClusterForTests is the test binary's cluster, emptied (redistest.SharedCluster);
// it skips t unless CHAT_TEST_CLUSTER=1.
func ClusterForTests(t *testing.T) *redistest.Cluster {
	t.Helper()
	skipUnlessCluster(t)
	return redistest.SharedCluster(t)
}

// EvalshaStat is evalshaStat, for the benchmarks.
var EvalshaStat = evalshaStat
