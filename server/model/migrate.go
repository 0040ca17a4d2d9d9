package model

import (
	"context"
	"log/slog"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// scanBatch is the COUNT hint of the migration's SCAN: the keys of one batch are
// renamed in one pipeline.
const scanBatch = 1000

// MigrateKeys moves the durable keys a single Redis holds under the previous
// layout's names (keys.go) to the tagged names, so that an upgraded node finds
// the inboxes, histories, rooms and tokens the old build kept. It runs once:
// the layoutKey it sets makes later calls return after one GET. It never
// overwrites: a key whose tagged name already exists stays where it is, and is
// counted in a warning. Several nodes may run it at once: RENAMENX is atomic,
// and a key another node moved first is skipped. It does nothing on a Redis
// Cluster, which no build of the previous layout ran on.
func MigrateKeys(ctx context.Context, pool *redis.Pool, log *slog.Logger) error {
	if onCluster(pool) != nil {
		return nil
	}
	conn, err := get(ctx, pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	layout, err := redis.Int(conn.Do("GET", layoutKey))
	if err == nil && layout >= layoutTagged {
		return nil
	}
	if err != nil && err != redis.ErrNil {
		return err
	}
	var moved, kept int
	for _, pattern := range previousLayoutPatterns {
		m, k, err := migratePattern(conn, pattern)
		moved, kept = moved+m, kept+k
		if err != nil {
			return err
		}
	}
	if kept > 0 {
		log.Warn("keys of the previous layout left in place: their new name already exists", "keys", kept)
	}
	log.Info("keys moved to the tagged layout", "moved", moved)
	_, err = conn.Do("SET", layoutKey, layoutTagged)
	return err
}

// migratePattern renames the previous layout's keys that match pattern, one
// pipeline per SCAN batch. It returns how many it moved and how many it left
// because their new name was taken.
func migratePattern(conn redis.Conn, pattern string) (moved, kept int, err error) {
	cursor := "0"
	for {
		reply, err := redis.Values(conn.Do("SCAN", cursor, "MATCH", pattern, "COUNT", scanBatch))
		if err != nil {
			return moved, kept, err
		}
		var keys []string
		if _, err := redis.Scan(reply, &cursor, &keys); err != nil {
			return moved, kept, err
		}
		n := 0
		for _, old := range keys {
			if name, ok := previousToTagged(old); ok {
				conn.Send("RENAMENX", old, name)
				n++
			}
		}
		if n > 0 {
			results, err := redis.Values(conn.Do(""))
			if err != nil {
				return moved, kept, err
			}
			for _, r := range results {
				switch r := r.(type) {
				case int64:
					moved += int(r)
					kept += 1 - int(r)
				case redis.Error:
					// The key is gone: another node moved it (or it expired)
					// since the SCAN saw it.
					if !strings.Contains(r.Error(), "no such key") {
						return moved, kept, r
					}
				}
			}
		}
		if cursor == "0" {
			return moved, kept, nil
		}
	}
}
