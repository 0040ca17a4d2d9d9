package model

import "strconv"

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

// dedupKey remembers the message id given to a sender's clientMsgId.
func dedupKey(from int, clientMsgID string) string {
	return "dedup:" + itoa(from) + ":" + clientMsgID
}

// loginFailKey counts failed logins of one user id or one remote address.
func loginFailKey(kind, who string) string { return "loginfail:" + kind + ":" + who }

// tokenKey marks a session token of a user as valid, under the token's hash (the
// token itself is never stored). The user id in the key binds the token to its
// user, and keeps it on the user's shard.
func tokenKey(userID int, hash string) string { return "token:" + itoa(userID) + ":" + hash }

// NodeChannel carries what is addressed to the connections of one node.
func NodeChannel(node string) string { return "chat:node:" + node }
