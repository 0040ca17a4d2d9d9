package chat

import (
	"context"
	"time"

	"chat/common/message"
	"chat/server/model"
)

// The server's view of its storage. The model package implements each on Redis;
// tests of dispatch may use fakes.

// UserStore keeps accounts.
type UserStore interface {
	Register(ctx context.Context, u message.User) error
	Authenticate(ctx context.Context, id int, password string) (message.User, error)
}

// LoginLimiter counts failed logins.
type LoginLimiter interface {
	Blocked(ctx context.Context, userID int, addr string) (bool, error)
	Failed(ctx context.Context, userID int, addr string) error
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
	Send(ctx context.Context, reqs []model.SendRequest) ([]model.SendResult, []error)
	Read(ctx context.Context, userID int, after string, count int) ([]model.Stored, error)
	Delete(ctx context.Context, ids map[int][]string) error
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
	Presence PresenceStore
	Inbox    InboxStore
	Bus      Bus
}

var (
	_ UserStore     = (*model.RedisUserStore)(nil)
	_ LoginLimiter  = (*model.RedisLoginLimiter)(nil)
	_ PresenceStore = (*model.RedisPresence)(nil)
	_ InboxStore    = (*model.RedisInbox)(nil)
	_ Bus           = (*model.RedisBus)(nil)
)
