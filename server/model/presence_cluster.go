package model

import (
	"context"
	"fmt"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// On a Redis Cluster a user's session is a key on the user's slot (sessionKey),
// the node's set of users is on the node's slot, and the online set is global:
// the scripts of a single Redis that change the three at once are split into
// steps, each atomic on one slot, ordered so that what a crash between two
// leaves is repaired by the reaper or the next login (docs/SCALING.md):
//
//   - a claim adds the user to its node's set first, so that the node's death
//     is always followed by a reap of the user; then takes the session; then
//     takes the user out of the set of the node it replaced, and lists it online;
//   - a release ends the session, then takes the user off the online list, and
//     lists it again if a login took the session meanwhile;
//   - a reap ends each session the dead node still holds (one reaper wins each
//     user), then takes those users off the online list and the node's set.

func (p *RedisPresence) clusterClaim(ctx context.Context, userID int, s Session, firstIDs int) (Claim, error) {
	conn, err := get(ctx, p.pool)
	if err != nil {
		return Claim{}, err
	}
	defer conn.Close()
	if _, err := conn.Do("SADD", nodeUsersKey(s.Node), userID); err != nil {
		return Claim{}, err
	}
	r, err := redis.Strings(claimUserScript.Do(conn, sessionKey(userID), inboxKey(userID), userRoomsKey(userID), s.String()))
	if err != nil {
		return Claim{}, err
	}
	if len(r) != 3 {
		return Claim{}, fmt.Errorf("claim: unexpected reply %q", r)
	}
	var c Claim
	c.Previous, c.Replaced = parseSession(r[0])
	c.LastInboxID, c.InRooms = r[1], r[2] == "1"
	if c.Replaced && c.Previous.Node != s.Node {
		conn.Send("SREM", nodeUsersKey(c.Previous.Node), userID)
	}
	conn.Send("ZADD", onlineKey, userID, userID)
	conn.Send("ZCARD", onlineKey)
	conn.Send("ZRANGE", onlineKey, 0, firstIDs-1)
	replies, err := redis.Values(conn.Do(""))
	if err != nil {
		return Claim{}, err
	}
	n := len(replies)
	if c.OnlineCount, err = redis.Int(replies[n-2], nil); err != nil {
		return Claim{}, err
	}
	if c.FirstIDs, err = redis.Ints(replies[n-1], nil); err != nil {
		return Claim{}, err
	}
	return c, nil
}

func (p *RedisPresence) clusterRelease(ctx context.Context, userID int, s Session) (int, bool, error) {
	conn, err := get(ctx, p.pool)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	ended, err := redis.Int(releaseUserScript.Do(conn, sessionKey(userID), s.Node, s.ID))
	if err != nil || ended == 0 {
		return 0, false, err
	}
	conn.Send("ZREM", onlineKey, userID)
	conn.Send("SREM", nodeUsersKey(s.Node), userID)
	if _, err := conn.Do(""); err != nil {
		return 0, false, err
	}
	// Only once the ZREM is done (a pipeline runs its primaries side by side).
	conn.Send("EXISTS", sessionKey(userID))
	conn.Send("ZCARD", onlineKey)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return 0, false, err
	}
	if again, _ := redis.Bool(r[0], nil); again {
		// A login took the session between the two steps, and may have listed
		// the user before the ZREM: list it again.
		conn.Send("ZADD", onlineKey, userID, userID)
		conn.Send("ZCARD", onlineKey)
		if r, err = redis.Values(conn.Do("")); err != nil {
			return 0, false, err
		}
	}
	n, err := redis.Int(r[len(r)-1], nil)
	return n, true, err
}

func (p *RedisPresence) clusterPage(ctx context.Context, offset, limit int) (int, []message.OnlineUser, error) {
	conn, err := get(ctx, p.pool)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	conn.Send("ZCARD", onlineKey)
	conn.Send("ZRANGE", onlineKey, offset, offset+limit-1)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return 0, nil, err
	}
	total, err := redis.Int(r[0], nil)
	if err != nil {
		return 0, nil, err
	}
	ids, err := redis.Ints(r[1], nil)
	if err != nil || len(ids) == 0 {
		return total, []message.OnlineUser{}, err
	}
	for _, id := range ids {
		conn.Send("GET", sessionKey(id))
	}
	vals, err := redis.Values(conn.Do(""))
	if err != nil {
		return 0, nil, err
	}
	users := make([]message.OnlineUser, 0, len(ids))
	for i, id := range ids {
		v, _ := redis.String(vals[i], nil)
		s, _ := parseSession(v)
		users = append(users, message.OnlineUser{UserID: id, UserName: s.Name})
	}
	return total, users, nil
}

func (p *RedisPresence) clusterReap(ctx context.Context, node, run string) ([]Reaped, int, error) {
	conn, err := get(ctx, p.pool)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	if run == "" {
		alive, err := redis.Bool(conn.Do("EXISTS", nodeAliveKey(node)))
		if err != nil || alive {
			return nil, 0, err
		}
	}
	members, err := redis.Ints(conn.Do("SMEMBERS", nodeUsersKey(node)))
	if err != nil {
		return nil, 0, err
	}
	calls := make([][]any, len(members))
	for i, id := range members {
		calls[i] = []any{sessionKey(id), node, run}
	}
	var gone []Reaped
	var drop, offline []any
	if len(members) > 0 {
		r, err := pipelineScript(conn, reapUserScript, calls)
		if err != nil {
			return nil, 0, err
		}
		for i, id := range members {
			v, err := redis.Strings(r[i], nil)
			if e, ok := r[i].(redis.Error); ok {
				err = e
			}
			if err != nil || len(v) != 2 {
				return nil, 0, fmt.Errorf("reap: user %d: %v %v", id, v, err)
			}
			switch v[0] {
			case "gone":
				s, _ := parseSession(v[1])
				gone = append(gone, Reaped{UserID: id, Name: s.Name})
				drop = append(drop, id)
				offline = append(offline, id)
			case "none": // a reap cut short after it ended the session
				drop = append(drop, id)
				offline = append(offline, id)
			case "stale":
				drop = append(drop, id)
			}
		}
	}
	if len(offline) > 0 {
		conn.Send("ZREM", append([]any{onlineKey}, offline...)...)
	}
	if len(drop) > 0 {
		conn.Send("SREM", append([]any{nodeUsersKey(node)}, drop...)...)
	}
	if run == "" {
		conn.Send("SREM", nodesKey, node)
	}
	conn.Send("ZCARD", onlineKey)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, 0, err
	}
	count, err := redis.Int(r[len(r)-1], nil)
	if err != nil || len(offline) == 0 {
		return gone, count, err
	}
	// A login elsewhere may have taken the session and listed the user between
	// the steps, before the ZREM: listed again. Read once the ZREM is done.
	for _, id := range offline {
		conn.Send("EXISTS", sessionKey(id.(int)))
	}
	if r, err = redis.Values(conn.Do("")); err != nil {
		return nil, 0, err
	}
	back := []any{onlineKey}
	for i, id := range offline {
		if again, _ := redis.Bool(r[i], nil); again {
			back = append(back, id, id)
		}
	}
	if len(back) > 1 {
		conn.Send("ZADD", back...)
		conn.Send("ZCARD", onlineKey)
		if r, err = redis.Values(conn.Do("")); err != nil {
			return nil, 0, err
		}
		count, err = redis.Int(r[1], nil)
	}
	return gone, count, err
}

func (p *RedisPresence) clusterRestore(ctx context.Context, node string, sessions map[int]Session) (Restored, error) {
	conn, err := get(ctx, p.pool)
	if err != nil {
		return Restored{}, err
	}
	defer conn.Close()
	var res Restored
	ids := make([]int, 0, len(sessions))
	add := []any{nodeUsersKey(node)}
	for id := range sessions {
		ids = append(ids, id)
		add = append(add, id)
	}
	if len(ids) > 0 {
		if _, err := conn.Do("SADD", add...); err != nil {
			return Restored{}, err
		}
	}
	online := []any{onlineKey}
	var stale []any
	calls := make([][]any, len(ids))
	for i, id := range ids {
		calls[i] = []any{sessionKey(id), sessions[id].String()}
	}
	var statuses []any
	if len(ids) > 0 {
		if statuses, err = pipelineScript(conn, restoreUserScript, calls); err != nil {
			return Restored{}, err
		}
	}
	for i, id := range ids {
		if e, ok := statuses[i].(redis.Error); ok {
			return Restored{}, e
		}
		status, err := redis.Int(statuses[i], nil)
		if err != nil {
			return Restored{}, err
		}
		switch status {
		case 0:
			res.Replaced = append(res.Replaced, id)
			stale = append(stale, id)
		case 2:
			res.Back = append(res.Back, id)
			online = append(online, id, id)
		default:
			online = append(online, id, id)
		}
	}
	if len(online) > 1 {
		conn.Send("ZADD", online...)
	}
	if len(stale) > 0 {
		conn.Send("SREM", append([]any{nodeUsersKey(node)}, stale...)...)
	}
	conn.Send("ZCARD", onlineKey)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return Restored{}, err
	}
	res.OnlineCount, err = redis.Int(r[len(r)-1], nil)
	return res, err
}
