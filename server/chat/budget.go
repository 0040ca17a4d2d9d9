package chat

// fileReserve is how many of the process's files a node keeps for what is not a
// client connection: the Redis pool (at most 128 connections, model.NewPool's
// default; on a Redis Cluster 32 per primary, as many for 4 primaries) and the
// bus's subscriptions, the listeners, the metrics endpoint's
// connections (scrapes, health checks, profiles), the logs and the runtime's own
// (standard streams, epoll and its wake-up pipe). 192 leaves room to spare, so
// that a node full of clients still reaches Redis and answers /metrics.
const fileReserve = 192

// DefaultMaxConns is a node's connection budget when none is set: the process's
// open-file limit (RLIMIT_NOFILE) less fileReserve.
func DefaultMaxConns() int {
	n, ok := openFileLimit()
	if !ok || n > 1<<30 {
		return 1 << 20 // unknown or unlimited: files are not what bounds the node
	}
	return max(1, int(n)-fileReserve)
}
