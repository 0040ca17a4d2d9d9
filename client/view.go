package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"chat/common/message"
)

// View formats what the user sees: messages, presence changes and answers.
// It holds no state besides the clock and time zone, so tests can fix both.
type View struct {
	Loc *time.Location   // time zone of displayed times
	Now func() time.Time // the clock, for receipt times and "today"
}

// who names a user as "alice (101)", or "user 101" when the name is unknown.
func who(name string, id int) string {
	if name == "" {
		return "user " + strconv.Itoa(id)
	}
	return clean(name) + " (" + strconv.Itoa(id) + ")"
}

// clean makes text from the network safe to print: every character that does
// not show by itself (control characters, which could move the cursor, recolour
// or retitle the terminal; bidi controls, which reorder what follows; zero-width
// and other format characters; spaces other than the plain one) is written as a
// visible escape, \x1b, \n or \u202e, so that what arrives is what is seen.
func clean(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return !printable(r) })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if printable(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func printable(r rune) bool { return r == utf8.RuneError || strconv.IsPrint(r) }

// stamp formats a time in milliseconds since the epoch (0: now) as [15:04:05],
// with the date when it is not today.
func (v View) stamp(ms int64) string {
	now := v.Now().In(v.Loc)
	t := now
	if ms > 0 {
		t = time.UnixMilli(ms).In(v.Loc)
	}
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		return t.Format("[2006-01-02 15:04:05]")
	}
	return t.Format("[15:04:05]")
}

// Group formats a received group message.
func (v View) Group(m *message.SmsMes) string {
	return fmt.Sprintf("%s [group] %s: %s", v.stamp(m.SentAt), who(m.UserName, m.UserID), clean(m.Content))
}

// SentGroup formats a group message this user sent.
func (v View) SentGroup(content string) string {
	return fmt.Sprintf("%s [group] you: %s", v.stamp(0), clean(content))
}

// Private formats a received private message; offline ones waited in the store.
func (v View) Private(m *message.PrivateMes) string {
	kind := "[private]"
	if m.Offline {
		kind = "[private, offline]"
	}
	return fmt.Sprintf("%s %s %s: %s", v.stamp(m.SentAt), kind, who(m.FromUserName, m.FromUserID), clean(m.Content))
}

// SentPrivate formats a private message this user sent to someone.
func (v View) SentPrivate(to string, content string) string {
	return fmt.Sprintf("%s [private] you -> %s: %s", v.stamp(0), to, clean(content))
}

// presenceWords words the statuses of a NotifyUserStatusMes.
var presenceWords = map[int]string{
	message.UserOnline:  "is online",
	message.UserOffline: "went offline",
	message.UserBusy:    "is busy",
}

// Presence formats a NotifyUserStatusMes.
func (v View) Presence(m *message.NotifyUserStatusMes) string {
	return v.notice(m.UserName, m.UserID, wordFor(presenceWords, m.Status, "changed status"))
}

// notice formats a notice that user name (id) did what.
func (v View) notice(name string, id int, what string) string {
	return fmt.Sprintf("%s * %s %s", v.stamp(0), who(name, id), what)
}

// wordFor is words[k], or otherwise for a k it has no word for.
func wordFor[K comparable](words map[K]string, k K, otherwise string) string {
	if w, ok := words[k]; ok {
		return w
	}
	return otherwise
}

// failure explains a non-200 code that means the same for every request.
func failure(code int, serverErr string) string {
	detail := ""
	if serverErr != "" {
		detail = ": " + strings.TrimRight(clean(serverErr), ".")
	}
	switch code {
	case message.CodeUnauthorized:
		return "Not logged in (401)" + detail + "."
	case message.CodeTooLarge:
		return "Too large (413)" + detail + "."
	case message.CodeInvalid:
		return "Invalid input (422)" + detail + "."
	case message.CodeRateLimited:
		return "Too many requests (429)" + detail + "; wait a moment and try again."
	case message.CodeServerError:
		return "Server error (505)" + detail + "; try again later."
	}
	return fmt.Sprintf("Failed (code %d)%s.", code, detail)
}

// LoginResult explains the answer to a login of user id.
func LoginResult(r *message.LoginResMes, id int) string {
	switch r.Code {
	case message.CodeOK:
		return fmt.Sprintf("Logged in as %s. %d user(s) online.", who(r.UserName, id), onlineCount(r))
	case message.CodeUserNotFound:
		return fmt.Sprintf("No such user %d (500). Choose 2 to register first.", id)
	case message.CodeWrongPassword:
		return fmt.Sprintf("Wrong password for user %d (403).", id)
	case message.CodeRateLimited:
		return "Too many login attempts (429): wait a moment and try again."
	}
	return refused("Login failed.", r.Code, r.RetryAfter, r.Error)
}

// onlineCount is the true online total, or the listed ids for a classic server.
func onlineCount(r *message.LoginResMes) int {
	if r.OnlineCount > 0 {
		return r.OnlineCount
	}
	return len(r.UsersId)
}

// RegisterResult explains the answer to a registration of user id.
func RegisterResult(r *message.RegisterResMes, id int) string {
	switch r.Code {
	case message.CodeOK:
		return fmt.Sprintf("Registered user %d. You can log in now.", id)
	case message.CodeUserExists:
		return fmt.Sprintf("User id %d is already taken (400); choose another one.", id)
	case message.CodeRateLimited:
		return "Too many attempts (429): wait a moment and try again."
	}
	return refused("Registration failed.", r.Code, r.RetryAfter, r.Error)
}

// refused explains a code a request has no words of its own for: when to try a
// busy server again, or what failed and why.
func refused(what string, code, retryAfter int, serverErr string) string {
	if code == message.CodeServerError && retryAfter > 0 {
		return busy(retryAfter)
	}
	return what + " " + failure(code, serverErr)
}

// busy explains a 505 that says when to try again (milliseconds).
func busy(retryAfter int) string {
	d := (time.Duration(retryAfter) * time.Millisecond).Round(100 * time.Millisecond)
	return fmt.Sprintf("The server is busy (505): try again in %v.", max(d, 100*time.Millisecond))
}

// PrivateResult explains the answer to a private message sent to user id (name if known).
func PrivateResult(r *message.PrivateResMes, name string, id int) string {
	to := who(name, id)
	switch {
	case r.Code == message.CodeOK && r.Stored:
		return fmt.Sprintf("%s is offline: the message is stored and will be delivered at the next login.", to)
	case r.Code == message.CodeOK:
		return fmt.Sprintf("Delivered to %s.", to)
	case r.Code == message.CodeNoSuchUser:
		return fmt.Sprintf("Not sent: no such user %d (404).", id)
	}
	return "Not sent. " + failure(r.Code, r.Error)
}

// GroupResult explains the answer to a group message.
func GroupResult(code int, serverErr, content string) string {
	if code == message.CodeOK {
		return "Sent to the group: " + clean(content)
	}
	return "Not sent. " + failure(code, serverErr)
}
