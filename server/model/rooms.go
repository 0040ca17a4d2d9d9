package model

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// RedisRooms keeps rooms: each room's hash (name, owner), its members (a sorted
// set) and its messages, stored once in the room's stream. Each member has a cursor
// in that stream, in the hash of its rooms: the last room message it acknowledged.
// What lies after the cursor is what the member has still to get.
type RedisRooms struct {
	pool     *redis.Pool
	dedupTTL time.Duration
	keep     Retention
	sends    *batcher
}

// NewRedisRooms returns the room store on pool: a clientMsgId is remembered for
// dedupTTL, and each room keeps its messages as keep says (zero fields take
// DefaultRetention's); the cap is also the backlog a member who was away can get.
func NewRedisRooms(pool *redis.Pool, dedupTTL time.Duration, keep Retention) *RedisRooms {
	return &RedisRooms{pool: pool, dedupTTL: dedupTTL, keep: keep.orDefault(), sends: newBatcher(pool, roomSendScript, sendLeaders)}
}

// Membership is one of a user's rooms and its cursor there.
type Membership struct {
	Room   int
	Name   string
	Cursor string // the last message acknowledged ("0-0": none)
}

// Create makes a room named name owned by owner and returns its id;
// ErrTooManyRooms if owner is in userRooms rooms already.
func (r *RedisRooms) Create(ctx context.Context, owner int, name string, userRooms int) (int, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	room, err := redis.Int(conn.Do("INCR", roomSeqKey))
	if err != nil {
		return 0, err
	}
	code, err := redis.Int(roomCreateScript.Do(conn, roomKey(room), roomMembersKey(room), userRoomsKey(owner),
		room, owner, name, userRooms))
	if err != nil {
		return 0, err
	}
	if code == 429 {
		return 0, ErrTooManyRooms
	}
	return room, nil
}

// Join adds user to room, unless the room has roomMembers members or the user is
// in userRooms rooms already.
func (r *RedisRooms) Join(ctx context.Context, room, user, roomMembers, userRooms int) (Membership, error) {
	var code int
	var which string
	m := Membership{Room: room}
	err := r.script(ctx, roomJoinScript, []any{roomKey(room), roomMembersKey(room), userRoomsKey(user), RoomLogKey(room),
		room, user, roomMembers, userRooms}, &code, &m.Name, &which)
	switch {
	case err != nil:
		return m, err
	case code == 404:
		return m, ErrNoSuchRoom
	case code == 409:
		return m, ErrAlreadyMember
	case code == 429 && which == "room":
		return m, ErrRoomFull
	case code == 429:
		return m, ErrTooManyRooms
	}
	m.Cursor = which
	return m, nil
}

// Remove takes target out of room, by its own will (actor == target) or the
// owner's, and returns the room's name and the target's. ErrNotMember if target is
// not a member or actor is neither target nor the owner.
func (r *RedisRooms) Remove(ctx context.Context, room, actor, target int) (string, string, error) {
	var code int
	var name, targetName string
	err := r.script(ctx, roomRemoveScript, []any{roomKey(room), roomMembersKey(room), userRoomsKey(target), RoomLogKey(room), usersKey,
		room, actor, target}, &code, &name, &targetName)
	switch {
	case err != nil:
		return "", "", err
	case code == 404:
		return "", "", ErrNoSuchRoom
	case code == 403:
		return name, "", ErrNotMember
	}
	return name, targetName, nil
}

// script runs s with args and scans its array reply into dest.
func (r *RedisRooms) script(ctx context.Context, s *redis.Script, args []any, dest ...any) error {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	reply, err := redis.Values(s.Do(conn, args...))
	if err != nil {
		return err
	}
	_, err = redis.Scan(reply, dest...)
	return err
}

// Memberships returns user's rooms, ordered by id, with their names and cursors,
// in two round trips whatever their number.
func (r *RedisRooms) Memberships(ctx context.Context, user int) ([]Membership, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cursors, err := redis.StringMap(conn.Do("HGETALL", userRoomsKey(user)))
	if err != nil || len(cursors) == 0 {
		return nil, err
	}
	out := make([]Membership, 0, len(cursors))
	for room, cursor := range cursors {
		id, _ := strconv.Atoi(room)
		out = append(out, Membership{Room: id, Cursor: cursor})
	}
	slices.SortFunc(out, func(a, b Membership) int { return a.Room - b.Room })
	for _, m := range out {
		conn.Send("HGET", roomKey(m.Room), "n")
	}
	names, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Name, _ = redis.String(names[i], nil)
	}
	return out, nil
}

// Newest returns the id of the newest message of each room ("" for none), in one
// round trip.
func (r *RedisRooms) Newest(ctx context.Context, rooms []int) ([]string, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for _, room := range rooms {
		conn.Send("XREVRANGE", RoomLogKey(room), "+", "-", "COUNT", 1)
	}
	replies, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rooms))
	for i := range rooms {
		if last, _ := redis.Values(replies[i], nil); len(last) == 1 {
			if entry, _ := redis.Values(last[0], nil); len(entry) > 0 {
				out[i], _ = redis.String(entry[0], nil)
			}
		}
	}
	return out, nil
}

// List returns user's rooms with their member counts, ordered by id.
func (r *RedisRooms) List(ctx context.Context, user int) ([]message.RoomInfo, error) {
	rooms, err := r.Memberships(ctx, user)
	if err != nil || len(rooms) == 0 {
		return []message.RoomInfo{}, err
	}
	conn, err := get(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for _, m := range rooms {
		conn.Send("ZCARD", roomMembersKey(m.Room))
	}
	counts, err := redis.Ints(conn.Do(""))
	if err != nil {
		return nil, err
	}
	out := make([]message.RoomInfo, len(rooms))
	for i, m := range rooms {
		out[i] = message.RoomInfo{RoomID: m.Room, Name: m.Name, Members: counts[i]}
	}
	return out, nil
}

// Members returns the number of room's members and the page [offset, offset+limit)
// of them ordered by id, if user is a member (ErrNotMember otherwise).
func (r *RedisRooms) Members(ctx context.Context, room, user, offset, limit int) (int, []message.OnlineUser, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	conn.Send("EXISTS", roomKey(room))
	conn.Send("ZSCORE", roomMembersKey(room), user)
	conn.Send("ZCARD", roomMembersKey(room))
	conn.Send("ZRANGE", roomMembersKey(room), offset, offset+limit-1)
	reply, err := redis.Values(conn.Do(""))
	if err != nil {
		return 0, nil, err
	}
	if exists, _ := redis.Int(reply[0], nil); exists == 0 {
		return 0, nil, ErrNoSuchRoom
	}
	if reply[1] == nil {
		return 0, nil, ErrNotMember
	}
	total, _ := redis.Int(reply[2], nil)
	ids, err := redis.Ints(reply[3], nil)
	if err != nil || len(ids) == 0 {
		return total, []message.OnlineUser{}, err
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, usersKey)
	for _, id := range ids {
		args = append(args, id)
	}
	accounts, err := redis.ByteSlices(conn.Do("HMGET", args...))
	if err != nil {
		return 0, nil, err
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
	return total, users, nil
}

// RoomSendResult is the outcome of a room message.
type RoomSendResult struct {
	MsgID     string // the stream id (RoomMsgID makes the wire id)
	RoomName  string
	Duplicate bool // the clientMsgId was seen before: MsgID is the first send's
	// Previous is the id of the room's newest message before this one ("" if none):
	// a session that delivered up to it can take this message as it is.
	Previous string
}

// Send keeps a message of from in room, once. ErrNoSuchRoom, ErrNotMember, or
// ErrRateLimited if from is over rate (shared with its private messages).
// Concurrent sends share pipelines (batcher).
func (r *RedisRooms) Send(ctx context.Context, room, from int, fromName, content, clientMsgID string, rate Limit) (RoomSendResult, error) {
	args := append([]any{roomKey(room), roomMembersKey(room), RoomLogKey(room), RoomDedupKey(from, room, clientMsgID), userRoomsKey(from),
		rateKey(RatePrivate, itoa(from)), room, from, fromName, content, dedupFlag(clientMsgID), r.dedupTTL.Milliseconds()},
		r.keep.args()...)
	args = append(args, strconv.FormatFloat(rate.interval(), 'f', 3, 64), max(rate.Burst, 1))
	reply, err := redis.Values(r.sends.do(ctx, args...))
	if err != nil {
		return RoomSendResult{}, err
	}
	var status int
	var res RoomSendResult
	if _, err := redis.Scan(reply, &status, &res.MsgID, &res.Previous, &res.RoomName); err != nil {
		return RoomSendResult{}, err
	}
	switch status {
	case 404:
		return res, ErrNoSuchRoom
	case 403:
		return res, ErrNotMember
	case 429:
		return res, ErrRateLimited
	}
	res.Duplicate = status == 2
	return res, nil
}

// Read returns up to count messages of room after the id after, oldest first, if
// user is a member (ErrNotMember otherwise; ErrNoSuchRoom if the room is gone).
func (r *RedisRooms) Read(ctx context.Context, room, user int, after string, count int) ([]Stored, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.Send("EXISTS", roomKey(room))
	conn.Send("ZSCORE", roomMembersKey(room), user)
	conn.Send("XRANGE", RoomLogKey(room), "("+after, "+", "COUNT", count)
	reply, err := redis.Values(conn.Do(""))
	if err != nil {
		return nil, err
	}
	if exists, _ := redis.Int(reply[0], nil); exists == 0 {
		return nil, ErrNoSuchRoom
	}
	if reply[1] == nil {
		return nil, ErrNotMember
	}
	entries, err := redis.Values(reply[2], nil)
	if err != nil {
		return nil, err
	}
	return parseEntries(entries)
}

// History returns up to limit messages of room older than before ("" for the
// newest), oldest first, and whether older ones exist, if user is a member.
func (r *RedisRooms) History(ctx context.Context, room, user int, before string, limit int) (string, []Stored, bool, error) {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return "", nil, false, err
	}
	conn.Send("HGET", roomKey(room), "n")
	conn.Send("ZSCORE", roomMembersKey(room), user)
	reply, err := redis.Values(conn.Do(""))
	conn.Close()
	if err != nil {
		return "", nil, false, err
	}
	name, err := redis.String(reply[0], nil)
	if errors.Is(err, redis.ErrNil) {
		return "", nil, false, ErrNoSuchRoom
	}
	if reply[1] == nil {
		return name, nil, false, ErrNotMember
	}
	msgs, more, err := readBefore(ctx, r.pool, RoomLogKey(room), before, limit, r.keep.oldest(time.Now()))
	return name, msgs, more, err
}

// Advance moves cursors forward to acknowledged room messages, for many users in
// one pipeline: acks[user][room] is the newest message user acknowledged in room.
func (r *RedisRooms) Advance(ctx context.Context, acks map[int]map[int]string) error {
	conn, err := get(ctx, r.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	calls := make([][]any, 0, len(acks))
	for user, rooms := range acks {
		args := make([]any, 0, 1+2*len(rooms))
		args = append(args, userRoomsKey(user))
		for room, id := range rooms {
			args = append(args, room, id)
		}
		calls = append(calls, args)
	}
	replies, err := pipelineScript(conn, roomAckScript, calls)
	if err != nil {
		return err
	}
	for _, reply := range replies {
		if e, ok := reply.(redis.Error); ok {
			return e
		}
	}
	return nil
}
