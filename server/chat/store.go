package chat

import (
	"context"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// The server's view of its storage. The model package implements each on Redis,
// and on memory (model.Memory) for tests that need no Redis.

// UserStore keeps accounts and their session tokens.
type UserStore interface {
	Register(ctx context.Context, u message.User) error
	Exists(ctx context.Context, id int) (bool, error)
	Authenticate(ctx context.Context, id int, password string) (message.User, error)
	IssueToken(ctx context.Context, userID int, ttl time.Duration) (string, error)
	RevokeToken(ctx context.Context, userID int, token string) error
}

// LoginLimiter counts failed logins: a login reserves a failure before its
// credentials are checked and releases it if they are right. A token login does
// the three in one step (CheckToken): a token needs no password pool, so
// nothing runs between them.
type LoginLimiter interface {
	Reserve(ctx context.Context, userID int, addr string, lim model.LoginLimits) (bool, error)
	Release(ctx context.Context, userID int, addr string, lim model.LoginLimits) error
	Failed(ctx context.Context, addr string, lim model.LoginLimits) error
	CheckToken(ctx context.Context, userID int, token, addr string, lim model.LoginLimits) (message.User, error)
}

// RateLimiter keeps rate limits shared by every node.
type RateLimiter interface {
	Allow(ctx context.Context, kind, who string, lim model.Limit) (bool, error)
}

// PresenceStore keeps who is online on which node.
type PresenceStore interface {
	Claim(ctx context.Context, userID int, s model.Session, firstIDs int) (model.Claim, error)
	Release(ctx context.Context, userID int, s model.Session) (count int, released bool, err error)
	Page(ctx context.Context, offset, limit int) (int, []message.OnlineUser, error)
	Beat(ctx context.Context, node string, ttl time.Duration) (lapsed bool, err error)
	Nodes(ctx context.Context) ([]string, error)
	Reap(ctx context.Context, node string) ([]model.Reaped, int, error)
	Reset(ctx context.Context, node, run string) ([]model.Reaped, int, error)
	Restore(ctx context.Context, node string, sessions map[int]model.Session) (model.Restored, error)
	Leave(ctx context.Context, node string) error
	Ping(ctx context.Context) error
}

// InboxStore keeps private messages until they are delivered.
type InboxStore interface {
	// Send keeps the private messages of one sender's burst, in order: one
	// result and one error per message.
	Send(ctx context.Context, from int, fromName string, reqs []model.SendRequest, lim model.SendLimits) ([]model.SendResult, []error)
	Read(ctx context.Context, userID int, after string, count int) ([]model.Stored, error)
	Delete(ctx context.Context, ids map[int][]string) (failed int, err error)
	History(ctx context.Context, user, other int, before string, limit int) ([]model.Stored, bool, error)
}

// RoomStore keeps rooms, their members and messages, and each member's cursor.
type RoomStore interface {
	Create(ctx context.Context, owner int, name string, userRooms int) (int, error)
	Join(ctx context.Context, room, user, roomMembers, userRooms int) (model.Membership, error)
	Remove(ctx context.Context, room, actor, target int) (string, string, error)
	List(ctx context.Context, user int) ([]message.RoomInfo, error)
	Members(ctx context.Context, room, user, offset, limit int) (int, []message.OnlineUser, error)
	Memberships(ctx context.Context, user int) ([]model.Membership, error)
	Newest(ctx context.Context, rooms []int) ([]string, error)
	Send(ctx context.Context, room, from int, fromName, content, clientMsgID string, rate model.Limit) (model.RoomSendResult, error)
	Read(ctx context.Context, room, user int, after string, count int) ([]model.Stored, error)
	History(ctx context.Context, room, user int, before string, limit int) (string, []model.Stored, bool, error)
	Advance(ctx context.Context, acks map[int]map[int]string) error
}

// Bus carries notices between nodes.
type Bus interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	Subscribe(ctx context.Context, channels []string, subscribed func(), handle func(channel string, payload []byte), onError func(error))
}

// Stores bundles what a Server needs from storage.
type Stores struct {
	Users    UserStore
	Logins   LoginLimiter
	Rates    RateLimiter
	Presence PresenceStore
	Inbox    InboxStore
	Rooms    RoomStore
	Bus      Bus
}

var (
	_ UserStore     = (*model.RedisUserStore)(nil)
	_ LoginLimiter  = (*model.RedisLoginLimiter)(nil)
	_ RateLimiter   = (*model.RedisRateLimiter)(nil)
	_ PresenceStore = (*model.RedisPresence)(nil)
	_ InboxStore    = (*model.RedisInbox)(nil)
	_ RoomStore     = (*model.RedisRooms)(nil)
	_ Bus           = (*model.RedisBus)(nil)
)

var (
	_ UserStore     = (*model.MemoryUserStore)(nil)
	_ LoginLimiter  = (*model.MemoryLoginLimiter)(nil)
	_ RateLimiter   = (*model.MemoryRateLimiter)(nil)
	_ PresenceStore = (*model.MemoryPresence)(nil)
	_ InboxStore    = (*model.MemoryInbox)(nil)
	_ RoomStore     = (*model.MemoryRooms)(nil)
	_ Bus           = (*model.MemoryBus)(nil)
)
