// Package message defines every message of the wire protocol (docs/PROTOCOL.md):
// the envelope, the payload of each type, the status codes and the limits.
//
// A frame body is the envelope {"type": "...", "data": "..."} whose data is a JSON
// string holding the JSON of the payload, as in the classic course protocol.
package message

// Type names, exactly as they travel in the envelope's "type" field.
const (
	// Classic types (wire-compatible with the course code).
	LoginMesType            = "LoginMes"
	LoginResMesType         = "LoginResMes"
	RegisterMesType         = "RegisterMes"
	RegisterResMesType      = "RegisterResMes"
	NotifyUserStatusMesType = "NotifyUserStatusMes"
	SmsMesType              = "SmsMes"

	// Extensions.
	SmsResMesType = "SmsResMes"
	// NotifyUsersStatusMesType is the presence changes of a moment, for proto-2 sessions.
	NotifyUsersStatusMesType = "NotifyUsersStatusMes"
	PrivateMesType           = "PrivateMes"
	PrivateResMesType        = "PrivateResMes"
	AckMesType               = "AckMes"
	OnlineUsersMesType       = "OnlineUsersMes"
	OnlineUsersResMesType    = "OnlineUsersResMes"
	LogoutMesType            = "LogoutMes"
	PingMesType              = "PingMes"
	PongMesType              = "PongMes"
	ErrorResMesType          = "ErrorResMes"
)

// Status codes carried in the "code" field of responses.
const (
	CodeOK            = 200
	CodeUserExists    = 400 // register: the user id is already taken
	CodeBadEnvelope   = 400 // protocol violation: the body is not an envelope
	CodeUnauthorized  = 401 // not logged in
	CodeWrongPassword = 403 // login: wrong password
	CodeNoSuchUser    = 404 // private message: no such recipient
	CodeReplaced      = 409 // session replaced by a newer login of the same user
	CodeTooLarge      = 413 // frame or field too large
	CodeInvalid       = 422 // a field is invalid
	CodeRateLimited   = 429 // too many attempts, messages or broadcasts
	CodeUserNotFound  = 500 // login: the user does not exist
	CodeServerError   = 505 // store unreachable or other server fault; may be retried
)

// User status values of NotifyUserStatusMes.
const (
	UserOnline  = 0
	UserOffline = 1
	UserBusy    = 2
)

// Protocol versions a client announces in LoginMes.Proto.
const (
	ProtoClassic = 1 // no AckMes: a private message counts as delivered once written
	ProtoAck     = 2 // acknowledges every PrivateMes with AckMes
)

// Limits of docs/PROTOCOL.md (defaults; the frame limit is a server setting).
const (
	MaxFrame        = 65536
	MinUserID       = 1
	MaxUserID       = 2147483647
	MinPasswordLen  = 6
	MaxPasswordLen  = 72
	MaxUserNameLen  = 32 // characters
	MaxContentLen   = 4096
	MaxClientMsgID  = 64
	MaxLoginUserIDs = 100
	MaxTokenLen     = 256 // longer tokens are invalid input (ours are 26 characters)
	MaxOnlinePage   = 500
)

// Message is the envelope of every frame.
type Message struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// User is the account record of RegisterMes and of the Redis hash "users".
type User struct {
	UserID     int    `json:"userId"`
	UserPwd    string `json:"userPwd"`
	UserName   string `json:"userName"`
	UserStatus int    `json:"userStatus"`
	Sex        string `json:"sex"`
}

// LoginMes asks to log in. Proto is absent or 1 for classic clients, 2 for clients
// that ack. A proto-2 client gives exactly one of UserPwd and Token (a session
// token from an earlier LoginResMes).
type LoginMes struct {
	UserID   int    `json:"userId"`
	UserPwd  string `json:"userPwd"`
	UserName string `json:"userName"`
	Proto    int    `json:"proto,omitempty"`
	Token    string `json:"token,omitempty"`
}

// LoginResMes answers LoginMes. UsersId has no tag, as in the course code.
type LoginResMes struct {
	Code        int    `json:"code"`
	UsersId     []int  //nolint:revive // wire name of the classic protocol
	Error       string `json:"error"`
	UserName    string `json:"userName"`
	OnlineCount int    `json:"onlineCount"`
	// Token is the session token of a proto-2 login answered 200.
	Token string `json:"token,omitempty"`
	// RetryAfter (milliseconds) comes with 505 when the server is too busy to
	// check a password now.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// RegisterMes asks to create an account.
type RegisterMes struct {
	User User `json:"user"`
}

// RegisterResMes answers RegisterMes. RetryAfter is as in LoginResMes.
type RegisterResMes struct {
	Code       int    `json:"code"`
	Error      string `json:"error"`
	RetryAfter int    `json:"retryAfter,omitempty"`
}

// NotifyUserStatusMes tells that a user came online or went offline.
type NotifyUserStatusMes struct {
	UserID   int    `json:"userId"`
	Status   int    `json:"status"`
	UserName string `json:"userName,omitempty"`
}

// NotifyUsersStatusMes is what a proto-2 session gets instead of
// NotifyUserStatusMes: the presence changes of one short moment on one node, a
// user's last status only, so that a wave of logins costs each online user a few
// frames, not one per login.
type NotifyUsersStatusMes struct {
	Users []NotifyUserStatusMes `json:"users"`
}

// SmsMes is a group message. A client sends only Content (the classic client also
// sends its identity fields, which the server ignores); the server fills the rest.
type SmsMes struct {
	Content  string `json:"content"`
	UserID   int    `json:"userId"`
	UserName string `json:"userName"`
	MsgID    string `json:"msgId,omitempty"`
	SentAt   int64  `json:"sentAt,omitempty"`
}

// SmsResMes answers a group SmsMes of a proto-2 client.
type SmsResMes struct {
	Code  int    `json:"code"`
	Error string `json:"error"`
	MsgID string `json:"msgId"`
}

// PrivateMes is a private message. From a client it carries ToUserID, Content and
// an optional ClientMsgID; from the server it carries everything but ClientMsgID.
type PrivateMes struct {
	MsgID        string `json:"msgId,omitempty"`
	FromUserID   int    `json:"fromUserId,omitempty"`
	FromUserName string `json:"fromUserName,omitempty"`
	ToUserID     int    `json:"toUserId"`
	Content      string `json:"content"`
	ClientMsgID  string `json:"clientMsgId,omitempty"`
	SentAt       int64  `json:"sentAt,omitempty"`
	Offline      bool   `json:"offline"`
}

// PrivateResMes answers PrivateMes. Code 200 means the message is durably accepted.
type PrivateResMes struct {
	Code        int    `json:"code"`
	Error       string `json:"error"`
	ClientMsgID string `json:"clientMsgId"`
	MsgID       string `json:"msgId"`
	Stored      bool   `json:"stored"`
	// RetryAfter (milliseconds) comes with 505 when the store did not answer in
	// time: resend with the same clientMsgId after it, plus a random jitter.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// AckMes acknowledges received private messages (proto 2).
type AckMes struct {
	MsgIDs []string `json:"msgIds"`
}

// OnlineUsersMes asks for one page of the online list.
type OnlineUsersMes struct {
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// OnlineUser is one entry of OnlineUsersResMes.
type OnlineUser struct {
	UserID   int    `json:"userId"`
	UserName string `json:"userName"`
}

// OnlineUsersResMes answers OnlineUsersMes, ordered by user id.
type OnlineUsersResMes struct {
	Code  int          `json:"code"`
	Error string       `json:"error"`
	Total int          `json:"total"`
	Users []OnlineUser `json:"users"`
}

// LogoutMes asks the server to log out and close the connection.
type LogoutMes struct{}

// PingMes asks for a PongMes.
type PingMes struct{}

// PongMes answers PingMes.
type PongMes struct{}

// ErrorResMes answers a request that has no response type of its own.
type ErrorResMes struct {
	Code    int    `json:"code"`
	Error   string `json:"error"`
	RefType string `json:"refType"`
}
