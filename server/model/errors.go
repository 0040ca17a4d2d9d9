// Package model is the storage layer of the server: users, presence, inboxes and the
// message bus, all in one Redis reached through one redigo pool, or in a Redis
// Cluster (NewClusterPool).
package model

import "errors"

// Errors the stores return for expected outcomes. Any other error means the store
// could not be reached or answered nonsense; the server reports it as 505.
var (
	// ErrUserExists: register found the user id taken.
	ErrUserExists = errors.New("user already exists")
	// ErrUserNotFound: no account has that user id.
	ErrUserNotFound = errors.New("user not found")
	// ErrWrongPassword: the account exists but the password does not match.
	ErrWrongPassword = errors.New("wrong password")
	// ErrBadToken: the session token is unknown, expired, revoked or another user's.
	ErrBadToken = errors.New("invalid session token")
	// ErrTooManyFailures: a count of failed logins is at its limit; the login's
	// credentials were not checked.
	ErrTooManyFailures = errors.New("too many failed logins")
	// ErrNoSuchRoom: no room has that id.
	ErrNoSuchRoom = errors.New("no such room")
	// ErrNotMember: the user is not a member of the room (or, for a kick, the actor is not its owner).
	ErrNotMember = errors.New("not a member")
	// ErrAlreadyMember: join found the user in the room already.
	ErrAlreadyMember = errors.New("already a member")
	// ErrRoomFull: the room has as many members as allowed.
	ErrRoomFull = errors.New("room full")
	// ErrTooManyRooms: the user is in as many rooms as allowed.
	ErrTooManyRooms = errors.New("too many rooms")
	// ErrRateLimited: the sender is over its rate of private messages.
	ErrRateLimited = errors.New("rate limited")
	// ErrInboxFull: the recipient's inbox holds as many messages as it may.
	ErrInboxFull = errors.New("inbox full")
)
