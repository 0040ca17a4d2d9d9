package model

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Redis keys and channels. Every node of a cluster shares them, so they are the
// contract between nodes (docs/SCALING.md describes each). They are built here
// only; the Lua scripts get them in KEYS[].
const (
	usersKey    = "users"   // hash: user id -> user JSON (the classic course's layout)
	onlineKey   = "online"  // sorted set: online user ids, scored by id for ordered paging
	sessionsKey = "session" // hash: user id -> "<node> <session id> <user name>"
	nodesKey    = "nodes"   // set: ids of nodes that have announced themselves

	// BroadcastChannel carries group messages and presence to every node.
	BroadcastChannel = "chat:all"
)

func itoa(n int) string { return strconv.Itoa(n) }

// inboxKey is the stream of private messages kept for a user until delivered.
func inboxKey(userID int) string { return "inbox:" + itoa(userID) }

// nodeUsersKey is the set of users whose session is on a node, for cleaning up
// after the node dies.
func nodeUsersKey(node string) string { return "node:" + node + ":users" }

// nodeAliveKey is a node's heartbeat; it expires when the node stops beating.
func nodeAliveKey(node string) string { return "node:" + node + ":alive" }

// dedupKey remembers the message id given to a sender's clientMsgId. The
// clientMsgId is the client's bytes: the key holds 128 bits of its SHA-256, so
// that no client chooses what a key name holds.
func dedupKey(from int, clientMsgID string) string {
	sum := sha256.Sum256([]byte(clientMsgID))
	return "dedup:" + itoa(from) + ":" + hex.EncodeToString(sum[:16])
}

// Failed-login counters: per user id and remote address, per user id over all
// addresses, and per address over all user ids. The address is the connection's
// remote IP, as the kernel gives it.
func loginFailPairKey(userID int, addr string) string {
	return "loginfail:pair:" + itoa(userID) + ":" + addr
}
func loginFailUserKey(userID int) string  { return "loginfail:id:" + itoa(userID) }
func loginFailAddrKey(addr string) string { return "loginfail:addr:" + addr }

// rateKey holds one rate limit's state (the theoretical arrival time of GCRA)
// for one user id or address; kind is one of the Rate* kinds.
func rateKey(kind, who string) string { return "rate:" + kind + ":" + who }

// tokenKey marks a session token of a user as valid, under the token's hash (the
// token itself is never stored). The user id in the key binds the token to its
// user, and keeps it on the user's shard.
func tokenKey(userID int, hash string) string { return "token:" + itoa(userID) + ":" + hash }

// NodeChannel carries what is addressed to the connections of one node.
func NodeChannel(node string) string { return "chat:node:" + node }

// Rooms and history.

// roomSeqKey is the last room id given (INCR).
const roomSeqKey = "room:seq"

// roomKey is a room's hash: "n" its name, "o" its owner's id.
func roomKey(room int) string { return "room:" + itoa(room) }

// roomMembersKey is the sorted set of a room's member ids, scored by id for ordered paging.
func roomMembersKey(room int) string { return "room:" + itoa(room) + ":members" }

// RoomLogKey is the stream of a room's messages: its backlog and its history.
func RoomLogKey(room int) string { return "room:" + itoa(room) + ":log" }

// userRoomsKey is the hash of a user's rooms: room id -> id of the last room
// message the user acknowledged (its cursor in the room's stream).
func userRoomsKey(user int) string { return "rooms:" + itoa(user) }

// RoomDedupKey remembers the message id given to a sender's clientMsgId in a room.
func RoomDedupKey(from, room int, clientMsgID string) string {
	sum := sha256.Sum256([]byte(clientMsgID))
	return "dedup:room:" + itoa(room) + ":" + itoa(from) + ":" + hex.EncodeToString(sum[:16])
}

// historyKey is the stream of a private conversation, both directions, named by
// the two user ids in increasing order.
func historyKey(a, b int) string {
	if a > b {
		a, b = b, a
	}
	return "hist:" + itoa(a) + ":" + itoa(b)
}
