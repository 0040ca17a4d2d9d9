package model

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// RedisPresence keeps who is online and on which node: the sorted set "online"
// (ordered paging by id), the hash "session" (the node, session id and name of each
// online user) and, per node, the set of its users and a heartbeat with a TTL.
type RedisPresence struct {
	pool *redis.Pool
}

// NewRedisPresence returns the presence store on pool.
func NewRedisPresence(pool *redis.Pool) *RedisPresence { return &RedisPresence{pool: pool} }

// Session says where a user's live session is.
type Session struct {
	Node string
	ID   string
	Name string
}

// parseSession reads a "session" hash value; the name comes last as it may hold spaces.
func parseSession(v string) (Session, bool) {
	node, rest, ok1 := strings.Cut(v, " ")
	id, name, ok2 := strings.Cut(rest, " ")
	return Session{Node: node, ID: id, Name: name}, ok1 && ok2
}

func (s Session) String() string { return s.Node + " " + s.ID + " " + s.Name }

// Claim is what a login learns when it takes the user's session.
type Claim struct {
	Previous    Session // the replaced session, if Replaced
	Replaced    bool
	OnlineCount int
	FirstIDs    []int  // the first online ids in order, at most the number asked for
	LastInboxID string // the newest message waiting at login ("" if none): up to it, messages count as offline
}

// claimScript makes a session the user's only one, atomically with reading what the
// login answers with, so that two logins of one user cannot both win.
var claimScript = redis.NewScript(0, `
local uid, node, value = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', 'session', uid)
redis.call('HSET', 'session', uid, value)
redis.call('ZADD', 'online', uid, uid)
redis.call('SADD', 'node:' .. node .. ':users', uid)
if old then
  local oldNode = string.match(old, '^(%S+)')
  if oldNode ~= node then redis.call('SREM', 'node:' .. oldNode .. ':users', uid) end
end
local last = redis.call('XREVRANGE', 'inbox:' .. uid, '+', '-', 'COUNT', 1)
local lastId = ''
if #last > 0 then lastId = last[1][1] end
return {old or '', redis.call('ZCARD', 'online'), lastId}`)

// Claim records s as userID's session, replacing any other, and returns what the
// login response needs, with at most firstIDs online ids. The ids are read in the
// same round trip but outside the script: a Lua table of a thousand ids costs
// Redis several times what a plain ZRANGE does, on every login.
func (p *RedisPresence) Claim(ctx context.Context, userID int, s Session, firstIDs int) (Claim, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return Claim{}, err
	}
	defer conn.Close()
	r, err := pipelineScript(conn, claimScript, [][]any{{userID, s.Node, s.String()}},
		[]any{"ZRANGE", onlineKey, 0, firstIDs - 1})
	if err != nil {
		return Claim{}, err
	}
	claimed, err := redis.Values(r[0], nil)
	if err != nil {
		return Claim{}, err
	}
	var c Claim
	var old string
	if _, err := redis.Scan(claimed, &old, &c.OnlineCount, &c.LastInboxID); err != nil {
		return Claim{}, err
	}
	if c.FirstIDs, err = redis.Ints(r[1], nil); err != nil {
		return Claim{}, err
	}
	c.Previous, c.Replaced = parseSession(old)
	return c, nil
}

// releaseScript ends a session only if it is still the user's current one, so
// that a replaced session going away does not take its successor offline.
var releaseScript = redis.NewScript(0, `
local uid, node, sid = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', 'session', uid)
if not cur or string.match(cur, '^(%S+ %S+)') ~= node .. ' ' .. sid then return -1 end
redis.call('HDEL', 'session', uid)
redis.call('ZREM', 'online', uid)
redis.call('SREM', 'node:' .. node .. ':users', uid)
return redis.call('ZCARD', 'online')`)

// Release ends the session s of userID. It returns the online count after it and
// whether the session was still current (a replaced one is not).
func (p *RedisPresence) Release(ctx context.Context, userID int, s Session) (count int, released bool, err error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	n, err := redis.Int(releaseScript.Do(conn, userID, s.Node, s.ID))
	if err != nil || n < 0 {
		return 0, false, err
	}
	return n, true, nil
}

// Where returns the live session of userID, if any.
func (p *RedisPresence) Where(ctx context.Context, userID int) (Session, bool, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return Session{}, false, err
	}
	defer conn.Close()
	v, err := redis.String(conn.Do("HGET", sessionsKey, userID))
	if err == redis.ErrNil {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	s, ok := parseSession(v)
	return s, ok, nil
}

// pageScript reads one page of the online list with the names, in one round trip.
var pageScript = redis.NewScript(0, `
local ids = redis.call('ZRANGE', 'online', ARGV[1], ARGV[2])
local out = {tostring(redis.call('ZCARD', 'online'))}
if #ids > 0 then
  local vals = redis.call('HMGET', 'session', unpack(ids))
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = vals[i] or ''
  end
end
return out`)

// Page returns the total online count and the users at [offset, offset+limit) in
// id order.
func (p *RedisPresence) Page(ctx context.Context, offset, limit int) (int, []message.OnlineUser, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	r, err := redis.Strings(pageScript.Do(conn, offset, offset+limit-1))
	if err != nil {
		return 0, nil, err
	}
	total, _ := strconv.Atoi(r[0])
	users := make([]message.OnlineUser, 0, (len(r)-1)/2)
	for i := 1; i+1 < len(r); i += 2 {
		id, _ := strconv.Atoi(r[i])
		s, _ := parseSession(r[i+1])
		users = append(users, message.OnlineUser{UserID: id, UserName: s.Name})
	}
	return total, users, nil
}

// Beat renews node's heartbeat for ttl and announces it. It reports whether the
// heartbeat had lapsed, in which case other nodes may have reaped the node's users.
func (p *RedisPresence) Beat(ctx context.Context, node string, ttl time.Duration) (lapsed bool, err error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.Send("SET", nodeAliveKey(node), time.Now().UnixMilli(), "PX", ttl.Milliseconds(), "GET")
	conn.Send("SADD", nodesKey, node)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return false, err
	}
	return r[0] == nil, nil
}

// Nodes lists the nodes that have announced themselves and not been reaped.
func (p *RedisPresence) Nodes(ctx context.Context) ([]string, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return redis.Strings(conn.Do("SMEMBERS", nodesKey))
}

// reapScript takes offline every user whose session is on a node that stopped
// beating and forgets the node; or, given a run prefix, the sessions of the node
// (restarted under its old id) that an earlier run left. Atomic, so of several
// nodes reaping at once exactly one gets the users.
var reapScript = redis.NewScript(0, `
local node, run = ARGV[1], ARGV[2]
if run == '' and redis.call('EXISTS', 'node:' .. node .. ':alive') == 1 then return {'-1'} end
local gone = {'0'}
local key = 'node:' .. node .. ':users'
for _, uid in ipairs(redis.call('SMEMBERS', key)) do
  local cur = redis.call('HGET', 'session', uid)
  local curNode, sid = string.match(cur or '', '^(%S+) (%S+)')
  if curNode == node and (run == '' or string.sub(sid, 1, #run) ~= run) then
    redis.call('HDEL', 'session', uid)
    redis.call('ZREM', 'online', uid)
    redis.call('SREM', key, uid)
    gone[#gone + 1] = uid
    gone[#gone + 1] = cur
  elseif curNode ~= node then
    redis.call('SREM', key, uid)
  end
end
if run == '' then redis.call('SREM', 'nodes', node) end
gone[1] = tostring(redis.call('ZCARD', 'online'))
return gone`)

// Reaped is a user taken offline by Reap or Reset.
type Reaped struct {
	UserID int
	Name   string
}

// Reap takes offline the users of node if its heartbeat has expired. It returns
// them and the online count after.
func (p *RedisPresence) Reap(ctx context.Context, node string) ([]Reaped, int, error) {
	return p.reap(ctx, node, "")
}

// Reset takes offline the sessions of node whose id does not start with run: what
// an earlier run of a node restarted under the same id left behind, while sparing
// logins of the current run that came in meanwhile.
func (p *RedisPresence) Reset(ctx context.Context, node, run string) ([]Reaped, int, error) {
	return p.reap(ctx, node, run)
}

func (p *RedisPresence) reap(ctx context.Context, node, run string) ([]Reaped, int, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	r, err := redis.Strings(reapScript.Do(conn, node, run))
	if err != nil {
		return nil, 0, err
	}
	count, _ := strconv.Atoi(r[0])
	if count < 0 {
		return nil, 0, nil
	}
	var gone []Reaped
	for i := 1; i+1 < len(r); i += 2 {
		id, _ := strconv.Atoi(r[i])
		s, _ := parseSession(r[i+1])
		gone = append(gone, Reaped{UserID: id, Name: s.Name})
	}
	return gone, count, nil
}

// restoreScript puts back a session the node still holds after its heartbeat lapsed
// (others may have reaped it): 2 if it put it back, 1 if it was still there, 0 if
// a newer session of the user exists elsewhere and the local one must go.
var restoreScript = redis.NewScript(0, `
local uid, node, value = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', 'session', uid)
if cur and cur ~= value then return 0 end
redis.call('HSET', 'session', uid, value)
redis.call('ZADD', 'online', uid, uid)
redis.call('SADD', 'node:' .. node .. ':users', uid)
if cur then return 1 end
return 2`)

// Restored says what Restore found.
type Restored struct {
	Replaced    []int // users with a newer session elsewhere: the local one must go
	Back        []int // users that had been taken offline and are online again
	OnlineCount int
}

// Restore re-announces the sessions of node, pipelined.
func (p *RedisPresence) Restore(ctx context.Context, node string, sessions map[int]Session) (Restored, error) {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return Restored{}, err
	}
	defer conn.Close()
	// Pipelined EVALSHA fails on a Redis that has not seen the script yet (restarted).
	if err := restoreScript.Load(conn); err != nil {
		return Restored{}, err
	}
	ids := make([]int, 0, len(sessions))
	for id, s := range sessions {
		ids = append(ids, id)
		if err := restoreScript.SendHash(conn, id, node, s.String()); err != nil {
			return Restored{}, err
		}
	}
	conn.Send("ZCARD", onlineKey)
	if err := conn.Flush(); err != nil {
		return Restored{}, err
	}
	var res Restored
	for _, id := range ids {
		status, err := redis.Int(conn.Receive())
		if err != nil {
			return Restored{}, err
		}
		switch status {
		case 0:
			res.Replaced = append(res.Replaced, id)
		case 2:
			res.Back = append(res.Back, id)
		}
	}
	res.OnlineCount, err = redis.Int(conn.Receive())
	return res, err
}

// Leave forgets node on a clean shutdown, after its users were released.
func (p *RedisPresence) Leave(ctx context.Context, node string) error {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.Send("DEL", nodeAliveKey(node), nodeUsersKey(node))
	conn.Send("SREM", nodesKey, node)
	_, err = conn.Do("")
	return err
}

// Ping checks that Redis answers.
func (p *RedisPresence) Ping(ctx context.Context) error {
	conn, err := p.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Do("PING")
	return err
}
