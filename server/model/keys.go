package model

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Redis keys and channels. Every node of a cluster shares them, so they are the
// contract between nodes (docs/SCALING.md describes each). They are built here
// only; the Lua scripts get them in KEYS[].
//
// On a Redis Cluster the keys one script touches must share a hash slot: a key
// names its owner in a {hash tag}, and only the tag is hashed. A user's keys
// carry "{<user id>}", a room's "{r<room id>}", a private conversation's
// "{<lower id>:<higher id>}", a node's "{<node>}". The keys without a tag are
// the few global ones (online, session, users, nodes, room:seq).
const (
	usersKey    = "users"   // hash: user id -> user JSON (the classic course's layout)
	onlineKey   = "online"  // sorted set: online user ids, scored by id for ordered paging
	sessionsKey = "session" // hash: user id -> "<node> <session id> <user name>"
	nodesKey    = "nodes"   // set: ids of nodes that have announced themselves

	// BroadcastChannel carries group messages and presence to every node.
	BroadcastChannel = "chat:all"
)

func itoa(n int) string { return strconv.Itoa(n) }

// userTag is the hash tag of a user's keys: they all live on one slot.
func userTag(userID int) string { return "{" + itoa(userID) + "}" }

// userKey is a user's account (its JSON) on a Redis Cluster, where the one
// "users" hash of a single Redis would put every account on one slot.
func userKey(userID int) string { return "user:" + userTag(userID) }

// sessionKey is where a user's session is ("<node> <session id> <user name>")
// on a Redis Cluster, next to the user's inbox; a single Redis keeps them all in
// the "session" hash.
func sessionKey(userID int) string { return "session:" + userTag(userID) }

// inboxKey is the stream of private messages kept for a user until delivered.
func inboxKey(userID int) string { return "inbox:" + userTag(userID) }

// nodeUsersKey is the set of users whose session is on a node, for cleaning up
// after the node dies.
func nodeUsersKey(node string) string { return "node:{" + node + "}:users" }

// nodeAliveKey is a node's heartbeat; it expires when the node stops beating.
func nodeAliveKey(node string) string { return "node:{" + node + "}:alive" }

// dedupKey remembers the message id given to a sender's clientMsgId. The
// clientMsgId is the client's bytes: the key holds 128 bits of its SHA-256, so
// that no client chooses what a key name holds.
func dedupKey(from int, clientMsgID string) string {
	sum := sha256.Sum256([]byte(clientMsgID))
	return "dedup:" + userTag(from) + ":" + hex.EncodeToString(sum[:16])
}

// recipientDedupKey is dedupKey on a Redis Cluster: kept with the recipient, so
// that the step that appends to the inbox checks and records it atomically.
func recipientDedupKey(to, from int, clientMsgID string) string {
	sum := sha256.Sum256([]byte(clientMsgID))
	return "dedup:" + userTag(to) + ":" + itoa(from) + ":" + hex.EncodeToString(sum[:16])
}

// Failed-login counters: per user id and remote address, per user id over all
// addresses, and per address over all user ids. The address is the connection's
// remote IP, as the kernel gives it.
func loginFailPairKey(userID int, addr string) string {
	return "loginfail:pair:" + userTag(userID) + ":" + addr
}
func loginFailUserKey(userID int) string  { return "loginfail:id:" + userTag(userID) }
func loginFailAddrKey(addr string) string { return "loginfail:addr:{" + addr + "}" }

// rateKey holds one rate limit's state (the theoretical arrival time of GCRA)
// for one user id or address; kind is one of the Rate* kinds. who is the tag: a
// user's limits live with the user's keys.
func rateKey(kind, who string) string { return "rate:" + kind + ":{" + who + "}" }

// tokenKey marks a session token of a user as valid, under the token's hash (the
// token itself is never stored). The user id in the key binds the token to its
// user, and keeps it on the user's shard.
func tokenKey(userID int, hash string) string { return "token:" + userTag(userID) + ":" + hash }

// NodeChannel carries what is addressed to the connections of one node; on a
// Redis Cluster it is a shard channel (SPUBLISH), served by the primary of its
// tag's slot.
func NodeChannel(node string) string { return "chat:node:{" + node + "}" }

// Rooms and history.

// roomSeqKey is the last room id given (INCR).
const roomSeqKey = "room:seq"

// roomTag is the hash tag of a room's keys.
func roomTag(room int) string { return "{r" + itoa(room) + "}" }

// roomKey is a room's hash: "n" its name, "o" its owner's id.
func roomKey(room int) string { return "room:" + roomTag(room) }

// roomMembersKey is the sorted set of a room's member ids, scored by id for ordered paging.
func roomMembersKey(room int) string { return "room:" + roomTag(room) + ":members" }

// RoomLogKey is the stream of a room's messages: its backlog and its history.
func RoomLogKey(room int) string { return "room:" + roomTag(room) + ":log" }

// userRoomsKey is the hash of a user's rooms: room id -> id of the last room
// message the user acknowledged (its cursor in the room's stream).
func userRoomsKey(user int) string { return "rooms:" + userTag(user) }

// RoomDedupKey remembers the message id given to a sender's clientMsgId in a room.
func RoomDedupKey(from, room int, clientMsgID string) string {
	sum := sha256.Sum256([]byte(clientMsgID))
	return "dedup:room:" + roomTag(room) + ":" + itoa(from) + ":" + hex.EncodeToString(sum[:16])
}

// historyKey is the stream of a private conversation, both directions, named by
// the two user ids in increasing order.
func historyKey(a, b int) string {
	if a > b {
		a, b = b, a
	}
	return "hist:{" + itoa(a) + ":" + itoa(b) + "}"
}

// The previous layout: the same keys without hash tags ("inbox:7", "hist:1:2",
// "room:5:log", "token:7:<hash>"...), as builds before the cluster layout wrote
// them on a single Redis. Only migrate.go reads these names, to move the durable
// keys to the names above.

// layoutKey holds the layout the keys of a single Redis are in; layoutTagged is
// the one above.
const (
	layoutKey    = "keys:layout"
	layoutTagged = 2
)

// previousLayoutPatterns match the durable keys of the previous layout (and also
// names that are not theirs, such as room:seq or tagged names: previousToTagged
// tells them apart). Transient keys are not moved: session, online and a node's
// heartbeat are rebuilt by logins and heartbeats, and rate, loginfail and dedup
// keys expire within minutes. A node's users set is moved so that a node of the
// old build that died uncleanly is still reaped.
var previousLayoutPatterns = []string{"inbox:*", "hist:*", "room:*", "rooms:*", "token:*", "node:*"}

// previousToTagged returns the name that old, a key of the previous layout, has
// in the tagged layout, and false for a name that is no durable key of the
// previous layout.
func previousToTagged(old string) (string, bool) {
	if strings.ContainsAny(old, "{}") {
		return "", false
	}
	if node, ok := strings.CutPrefix(old, "node:"); ok {
		node, ok = strings.CutSuffix(node, ":users")
		return nodeUsersKey(node), ok && node != ""
	}
	f := strings.Split(old, ":")
	ids := make([]int, 0, 2)
	for _, s := range f[1:min(len(f), 3)] {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || itoa(n) != s {
			break
		}
		ids = append(ids, n)
	}
	switch {
	case f[0] == "inbox" && len(f) == 2 && len(ids) == 1:
		return inboxKey(ids[0]), true
	case f[0] == "rooms" && len(f) == 2 && len(ids) == 1:
		return userRoomsKey(ids[0]), true
	case f[0] == "hist" && len(f) == 3 && len(ids) == 2:
		return historyKey(ids[0], ids[1]), true
	case f[0] == "token" && len(f) == 3 && len(ids) >= 1 && f[2] != "":
		return tokenKey(ids[0], f[2]), true
	case f[0] == "room" && len(f) == 2 && len(ids) == 1:
		return roomKey(ids[0]), true
	case f[0] == "room" && len(f) == 3 && len(ids) >= 1 && f[2] == "members":
		return roomMembersKey(ids[0]), true
	case f[0] == "room" && len(f) == 3 && len(ids) >= 1 && f[2] == "log":
		return RoomLogKey(ids[0]), true
	}
	return "", false
}
