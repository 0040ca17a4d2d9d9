package model

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// On a Redis Cluster a room's keys (hash, members, stream, dedup) share the
// room's slot and a user's rooms are on the user's slot: the scripts of a
// single Redis that change both are split in two steps, each atomic on its slot
// (docs/SCALING.md). A create lists the room among the user's rooms first,
// where the cap of rooms per user is checked, then makes the room; a join adds
// the member first, where the room's cap is checked, then lists the room; a
// leave takes the member out first. A crash between two steps leaves a member
// not listed, or a room listed that the user is not in: the retry of the join
// (409) or of the leave (404, 403) completes it.

// clusterRooms are the batchers of a room message's steps on a cluster.
type clusterRooms struct {
	rate   *batcher // rateTakeScript, on the sender's slot
	post   *batcher // roomPostScript, on the room's slot
	cursor *batcher // roomCursorScript, on the sender's slot
}

func newClusterRooms(pool *redis.Pool) *clusterRooms {
	if onCluster(pool) == nil {
		return nil
	}
	return &clusterRooms{
		rate:   newBatcher(pool, rateTakeScript, sendLeaders),
		post:   newBatcher(pool, roomPostScript, sendLeaders),
		cursor: newBatcher(pool, roomCursorScript, sendLeaders),
	}
}

func (r *RedisRooms) clusterCreate(ctx context.Context, owner int, name string, userRooms int) (int, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	room, err := redis.Int(conn.Do("INCR", roomSeqKey))
	if err != nil {
		return 0, err
	}
	code, err := redis.Int(roomUserAddScript.Do(conn, userRoomsKey(owner), room, "0-0", userRooms))
	if err != nil {
		return 0, err
	}
	if code == 429 {
		return 0, ErrTooManyRooms
	}
	if _, err := roomEnterScript.Do(conn, roomKey(room), roomMembersKey(room), RoomLogKey(room), room, owner, 0, name, "1"); err != nil {
		return 0, err
	}
	return room, nil
}

func (r *RedisRooms) clusterJoin(ctx context.Context, room, user, roomMembers, userRooms int) (Membership, error) {
	m := Membership{Room: room}
	conn, err := get(ctx, r.pool)
	if err != nil {
		return m, err
	}
	defer conn.Close()
	var code int
	reply, err := redis.Values(roomEnterScript.Do(conn, roomKey(room), roomMembersKey(room), RoomLogKey(room), room, user, roomMembers, "", "0"))
	if err == nil {
		_, err = redis.Scan(reply, &code, &m.Name, &m.Cursor)
	}
	switch {
	case err != nil:
		return m, err
	case code == 404:
		return m, ErrNoSuchRoom
	case code == 429:
		return m, ErrRoomFull
	}
	// Listed, or listed again if a join was cut short after its first step.
	added, err := redis.Int(roomUserAddScript.Do(conn, userRoomsKey(user), room, m.Cursor, userRooms))
	switch {
	case err != nil:
		return m, err
	case code == 409:
		return m, ErrAlreadyMember
	case added == 429:
		if _, err := roomLeaveScript.Do(conn, roomKey(room), roomMembersKey(room), RoomLogKey(room), room, user, user); err != nil {
			return m, err
		}
		return m, ErrTooManyRooms
	}
	return m, nil
}

func (r *RedisRooms) clusterRemove(ctx context.Context, room, actor, target int) (string, string, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	var code int
	var name string
	reply, err := redis.Values(roomLeaveScript.Do(conn, roomKey(room), roomMembersKey(room), RoomLogKey(room), room, actor, target))
	if err == nil {
		_, err = redis.Scan(reply, &code, &name)
	}
	if err != nil {
		return "", "", err
	}
	if code != 200 && (code == 403 || actor != target) {
		if code == 404 {
			return "", "", ErrNoSuchRoom
		}
		return name, "", ErrNotMember
	}
	// Taken out of the room, or not in it (a leave cut short after its first
	// step, or a room gone meanwhile): unlisted either way.
	who, err := redis.String(roomUserRemoveScript.Do(conn, userRoomsKey(target), userKey(target), room))
	switch {
	case err != nil:
		return "", "", err
	case code == 404:
		return "", "", ErrNoSuchRoom
	case code == 410:
		return name, "", ErrNotMember
	}
	return name, who, nil
}

func (r *RedisRooms) clusterSend(ctx context.Context, room, from int, fromName, content, clientMsgID string, rate Limit) (RoomSendResult, error) {
	rated := rate.interval() > 0
	take := func(n, back int) (int, error) {
		return redis.Int(r.cluster.rate.do(ctx, rateKey(RatePrivate, itoa(from)),
			strconv.FormatFloat(rate.interval(), 'f', 3, 64), max(rate.Burst, 1), n, back))
	}
	allowed := "1"
	if rated {
		k, err := take(1, 0)
		if err != nil {
			return RoomSendResult{}, err
		}
		if k == 0 {
			allowed = "0"
		}
	}
	args := append([]any{roomKey(room), roomMembersKey(room), RoomLogKey(room), RoomDedupKey(from, room, clientMsgID),
		room, from, fromName, content, dedupFlag(clientMsgID), r.dedupTTL.Milliseconds()}, r.keep.args()...)
	reply, err := redis.Values(r.cluster.post.do(ctx, append(args, allowed)...))
	if err != nil {
		return RoomSendResult{}, err
	}
	var status int
	var res RoomSendResult
	if _, err := redis.Scan(reply, &status, &res.MsgID, &res.Previous, &res.RoomName); err != nil {
		return RoomSendResult{}, err
	}
	if rated && allowed == "1" && status != 1 {
		_, _ = take(0, 1) // best effort: a give-back lost only makes the limit stricter
	}
	switch status {
	case 404:
		return res, ErrNoSuchRoom
	case 403:
		return res, ErrNotMember
	case 429:
		return res, ErrRateLimited
	case 1:
		// Best effort too: a cursor left behind only sends the sender its own message.
		_, _ = r.cluster.cursor.do(ctx, userRoomsKey(from), room, res.Previous, res.MsgID)
	}
	res.Duplicate = status == 2
	return res, nil
}

// clusterNames returns the names of the accounts ids, from their keys.
func clusterNames(conn redis.Conn, ids []int) ([]message.OnlineUser, error) {
	for _, id := range ids {
		conn.Send("GET", userKey(id))
	}
	accounts, err := redis.ByteSlices(conn.Do(""))
	if err != nil {
		return nil, err
	}
	users := make([]message.OnlineUser, len(ids))
	for i, id := range ids {
		users[i].UserID = id
		var u struct {
			UserName string `json:"userName"`
		}
		if json.Unmarshal(accounts[i], &u) == nil {
			users[i].UserName = u.UserName
		}
	}
	return users, nil
}
