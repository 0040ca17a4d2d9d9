package model

import (
	"context"
	"errors"
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
	pool    *redis.Pool
	cluster bool // on a Redis Cluster: the scripts split in steps (presence_cluster.go)
}

// NewRedisPresence returns the presence store on pool.
func NewRedisPresence(pool *redis.Pool) *RedisPresence {
	return &RedisPresence{pool: pool, cluster: onCluster(pool) != nil}
}

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
	InRooms     bool   // the user was a member of a room at login: its rooms are worth reading
}

// Claim records s as userID's session, replacing any other, and returns what the
// login response needs, with at most firstIDs online ids. The ids are read in the
// same round trip but outside the script: a Lua table of a thousand ids costs
// Redis several times what a plain ZRANGE does, on every login.
//
// The script must also take the user out of the users set of the node of the
// session it replaces, a key it can only name once it has read that session. It
// is given the set of the node Claim expects (this one at first: a user who logs
// in again mostly does so on the same node) and changes nothing if the session is on
// another; Claim then runs it again with that node's set. Each run is atomic and
// changes the data only when the set it holds is the right one, so the outcome is
// that of one atomic claim; a further run is needed only if the user's session
// moves to yet another node in between.
func (p *RedisPresence) Claim(ctx context.Context, userID int, s Session, firstIDs int) (Claim, error) {
	if p.cluster {
		return p.clusterClaim(ctx, userID, s, firstIDs)
	}
	conn, err := get(ctx, p.pool)
	if err != nil {
		return Claim{}, err
	}
	defer conn.Close()
	expected := s.Node
	for attempt := 0; ; attempt++ {
		c, moved, err := p.claim(conn, userID, s, expected, firstIDs)
		if err != nil || moved == "" {
			return c, err
		}
		if attempt == maxClaimAttempts {
			return Claim{}, errors.New("claim: the user's session keeps moving between nodes")
		}
		expected = moved
	}
}

// maxClaimAttempts bounds the reruns of the claim script: each needs a session of
// the user to appear on yet another node between two round trips.
const maxClaimAttempts = 5

// claim runs the claim script once, expecting the replaced session, if any, on
// node expected. If it is elsewhere, nothing changed and moved is its node.
func (p *RedisPresence) claim(conn redis.Conn, userID int, s Session, expected string, firstIDs int) (c Claim, moved string, err error) {
	keys := []any{sessionsKey, onlineKey, nodeUsersKey(s.Node), nodeUsersKey(expected), inboxKey(userID), userRoomsKey(userID)}
	r, err := pipelineScript(conn, claimScript, [][]any{append(keys, userID, s.Node, s.String(), expected)},
		[]any{"ZRANGE", onlineKey, 0, firstIDs - 1})
	if err != nil {
		return Claim{}, "", err
	}
	claimed, err := redis.Values(r[0], nil)
	if err != nil {
		return Claim{}, "", err
	}
	var old string
	if _, err := redis.Scan(claimed, &old, &c.OnlineCount, &c.LastInboxID, &c.InRooms); err != nil {
		return Claim{}, "", err
	}
	c.Previous, c.Replaced = parseSession(old)
	if c.OnlineCount < 0 {
		return Claim{}, c.Previous.Node, nil
	}
	if c.FirstIDs, err = redis.Ints(r[1], nil); err != nil {
		return Claim{}, "", err
	}
	return c, "", nil
}

// Release ends the session s of userID. It returns the online count after it and
// whether the session was still current (a replaced one is not).
func (p *RedisPresence) Release(ctx context.Context, userID int, s Session) (count int, released bool, err error) {
	if p.cluster {
		return p.clusterRelease(ctx, userID, s)
	}
	conn, err := get(ctx, p.pool)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	n, err := redis.Int(releaseScript.Do(conn, sessionsKey, onlineKey, nodeUsersKey(s.Node), userID, s.Node, s.ID))
	if err != nil || n < 0 {
		return 0, false, err
	}
	return n, true, nil
}

// Page returns the total online count and the users at [offset, offset+limit) in
// id order.
func (p *RedisPresence) Page(ctx context.Context, offset, limit int) (int, []message.OnlineUser, error) {
	if p.cluster {
		return p.clusterPage(ctx, offset, limit)
	}
	conn, err := get(ctx, p.pool)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	r, err := redis.Strings(pageScript.Do(conn, onlineKey, sessionsKey, offset, offset+limit-1))
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
	conn, err := get(ctx, p.pool)
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
	conn, err := get(ctx, p.pool)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return redis.Strings(conn.Do("SMEMBERS", nodesKey))
}

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
	if p.cluster {
		return p.clusterReap(ctx, node, run)
	}
	conn, err := get(ctx, p.pool)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	r, err := redis.Strings(reapScript.Do(conn, nodeAliveKey(node), nodeUsersKey(node), sessionsKey, onlineKey, nodesKey, node, run))
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

// Restored says what Restore found.
type Restored struct {
	Replaced    []int // users with a newer session elsewhere: the local one must go
	Back        []int // users that had been taken offline and are online again
	OnlineCount int
}

// Restore re-announces the sessions of node, pipelined.
func (p *RedisPresence) Restore(ctx context.Context, node string, sessions map[int]Session) (Restored, error) {
	if p.cluster {
		return p.clusterRestore(ctx, node, sessions)
	}
	conn, err := get(ctx, p.pool)
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
		if err := restoreScript.SendHash(conn, sessionsKey, onlineKey, nodeUsersKey(node), id, s.String()); err != nil {
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
	conn, err := get(ctx, p.pool)
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
	conn, err := get(ctx, p.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Do("PING")
	return err
}
