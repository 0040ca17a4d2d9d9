package message

// Rooms and history (proto 2): named group chats with members, and the history of
// a private conversation or a room.

// Type names of rooms and history.
const (
	RoomCreateMesType     = "RoomCreateMes"
	RoomJoinMesType       = "RoomJoinMes"
	RoomLeaveMesType      = "RoomLeaveMes"
	RoomKickMesType       = "RoomKickMes"
	RoomResMesType        = "RoomResMes"
	RoomListMesType       = "RoomListMes"
	RoomListResMesType    = "RoomListResMes"
	RoomMembersMesType    = "RoomMembersMes"
	RoomMembersResMesType = "RoomMembersResMes"
	RoomMesType           = "RoomMes"
	RoomNoticeMesType     = "RoomNoticeMes"
	HistoryMesType        = "HistoryMes"
	HistoryResMesType     = "HistoryResMes"
)

// Status codes of the room requests, besides 200, 422 and 505.
const (
	CodeNoSuchRoom    = 404 // no room has that id
	CodeNotMember     = 403 // not a member of the room, or not its owner
	CodeAlreadyMember = 409 // join: already a member
	CodeRoomLimit     = 429 // members per room or rooms per user reached
)

// Limits of rooms and history.
const (
	MaxRoomNameLen  = 64 // characters
	MaxMembersPage  = 500
	MaxHistoryPage  = 100
	DefaultRoomSize = 10000 // members per room
	DefaultUserRoom = 500   // rooms per user
)

// RoomNoticeMes events.
const (
	RoomJoined  = "joined"
	RoomLeft    = "left"
	RoomRemoved = "removed"
)

// RoomCreateMes creates a room; the creator is its owner and first member.
type RoomCreateMes struct {
	Name string `json:"name"`
}

// RoomJoinMes joins a room by id.
type RoomJoinMes struct {
	RoomID int `json:"roomId"`
}

// RoomLeaveMes leaves a room.
type RoomLeaveMes struct {
	RoomID int `json:"roomId"`
}

// RoomKickMes removes a member; the room's owner only.
type RoomKickMes struct {
	RoomID int `json:"roomId"`
	UserID int `json:"userId"`
}

// RoomResMes answers RoomCreateMes, RoomJoinMes, RoomLeaveMes, RoomKickMes and
// RoomMes; MsgID and ClientMsgID are set for RoomMes only.
type RoomResMes struct {
	Code        int    `json:"code"`
	Error       string `json:"error"`
	RoomID      int    `json:"roomId"`
	Name        string `json:"name"`
	MsgID       string `json:"msgId,omitempty"`
	ClientMsgID string `json:"clientMsgId,omitempty"`
	// RetryAfter is as in PrivateResMes.
	RetryAfter int `json:"retryAfter,omitempty"`
}

// RoomListMes asks for the rooms the caller is a member of.
type RoomListMes struct{}

// RoomInfo is one entry of RoomListResMes.
type RoomInfo struct {
	RoomID  int    `json:"roomId"`
	Name    string `json:"name"`
	Members int    `json:"members"`
}

// RoomListResMes answers RoomListMes, ordered by room id.
type RoomListResMes struct {
	Code  int        `json:"code"`
	Error string     `json:"error"`
	Rooms []RoomInfo `json:"rooms"`
}

// RoomMembersMes asks for one page of a room's members (members only).
type RoomMembersMes struct {
	RoomID int `json:"roomId"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// RoomMembersResMes answers RoomMembersMes, ordered by user id.
type RoomMembersResMes struct {
	Code  int          `json:"code"`
	Error string       `json:"error"`
	Total int          `json:"total"`
	Users []OnlineUser `json:"users"`
}

// RoomMes is a room message. From a client it carries RoomID, Content and an
// optional ClientMsgID; from the server everything but ClientMsgID.
type RoomMes struct {
	RoomID       int    `json:"roomId"`
	RoomName     string `json:"roomName,omitempty"`
	MsgID        string `json:"msgId,omitempty"`
	FromUserID   int    `json:"fromUserId,omitempty"`
	FromUserName string `json:"fromUserName,omitempty"`
	Content      string `json:"content"`
	ClientMsgID  string `json:"clientMsgId,omitempty"`
	SentAt       int64  `json:"sentAt,omitempty"`
	Offline      bool   `json:"offline"`
}

// RoomNoticeMes tells a room's online members that someone joined, left or was removed.
type RoomNoticeMes struct {
	RoomID   int    `json:"roomId"`
	UserID   int    `json:"userId"`
	UserName string `json:"userName"`
	Event    string `json:"event"`
}

// HistoryMes asks for the newest messages before Before ("" for the newest) of a
// private conversation with UserID or of the room RoomID (exactly one of them).
type HistoryMes struct {
	UserID int    `json:"userId,omitempty"`
	RoomID int    `json:"roomId,omitempty"`
	Before string `json:"before"`
	Limit  int    `json:"limit"`
}

// HistoryItem is one message of HistoryResMes: the fields of the server's
// PrivateMes (ToUserID set) or RoomMes (RoomID set), without offline.
type HistoryItem struct {
	MsgID        string `json:"msgId"`
	FromUserID   int    `json:"fromUserId"`
	FromUserName string `json:"fromUserName"`
	ToUserID     int    `json:"toUserId,omitempty"`
	RoomID       int    `json:"roomId,omitempty"`
	RoomName     string `json:"roomName,omitempty"`
	Content      string `json:"content"`
	SentAt       int64  `json:"sentAt"`
}

// HistoryResMes answers HistoryMes, oldest first; More says older messages exist.
type HistoryResMes struct {
	Code     int           `json:"code"`
	Error    string        `json:"error"`
	Messages []HistoryItem `json:"messages"`
	More     bool          `json:"more"`
	// RetryAfter is as in PrivateResMes.
	RetryAfter int `json:"retryAfter,omitempty"`
}
