package model

import (
	"embed"

	"github.com/gomodule/redigo/redis"
)

// The Lua scripts, one file each in lua/. A script names no key itself: every key
// it touches comes in KEYS[], built by the functions of keys.go, as Redis Cluster
// requires.
//
//go:embed lua/*.lua
var luaFiles embed.FS

// newScript returns the script of lua/<name>.lua taking keyCount keys (-1: the
// caller passes the count first, for a script with optional keys).
func newScript(keyCount int, name string) *redis.Script {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("model: no script " + name + ": " + err.Error())
	}
	return redis.NewScript(keyCount, string(src))
}

var (
	claimScript         = newScript(6, "claim")
	releaseScript       = newScript(3, "release")
	pageScript          = newScript(2, "page")
	reapScript          = newScript(5, "reap")
	restoreScript       = newScript(3, "restore")
	sendScript          = newScript(-1, "send") // a burst: inboxes and histories at once
	compareAndSetScript = newScript(1, "compare_and_set")
	roomCreateScript    = newScript(3, "room_create")
	roomJoinScript      = newScript(4, "room_join")
	roomRemoveScript    = newScript(5, "room_remove")
	roomSendScript      = newScript(6, "room_send")
	roomAckScript       = newScript(1, "room_ack")
	rateScript          = newScript(1, "rate")
	loginReserveScript  = newScript(3, "login_reserve")
	loginReleaseScript  = newScript(reservedCounters, "login_release")
	loginFailScript     = newScript(1, "login_fail")
	loginTokenScript    = newScript(-1, "login_token")
	ackScript           = newScript(-1, "ack") // inboxes at once

	// On a Redis Cluster, the steps of the scripts above that span several slots.
	rateTakeScript       = newScript(1, "rate_take")
	sendInboxScript      = newScript(-1, "send_inbox")
	sendHistoryScript    = newScript(1, "send_history")
	claimUserScript      = newScript(3, "claim_user")
	releaseUserScript    = newScript(1, "release_user")
	reapUserScript       = newScript(1, "reap_user")
	restoreUserScript    = newScript(1, "restore_user")
	roomEnterScript      = newScript(3, "room_enter")
	roomUserAddScript    = newScript(1, "room_user_add")
	roomLeaveScript      = newScript(3, "room_leave")
	roomUserRemoveScript = newScript(2, "room_user_remove")
	roomPostScript       = newScript(4, "room_post")
	roomCursorScript     = newScript(1, "room_cursor")
	// login_reserve on the user's counters only: the address's is on another slot.
	loginReserveUserScript = newScript(reservedCounters, "login_reserve")
)
