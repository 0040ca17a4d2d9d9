package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"chat/common/message"
)

// UI is the menu. It runs on one goroutine and owns all UI state: the connection,
// who is logged in, the names seen, the session's messages. The connection's reader
// goroutine and the terminal's input goroutine only hand it Events and Lines, which
// it waits for together, so incoming messages show while a prompt is open.
type UI struct {
	Term    Terminal
	Dial    func(addr string) (*Conn, error) // connects to one server node
	Addrs   []string                         // server nodes; the client moves to the next when one fails
	Timeout time.Duration                    // how long to wait for an answer
	Backoff Backoff                          // waits between reconnection attempts
	View    View
	Quit    <-chan struct{} // closed on a signal: finish as at the end of input

	conn     *Conn
	events   <-chan Event // conn's events; nil when not connected
	addr     int          // index in Addrs of the node in use
	self     int          // logged-in user id; 0 when logged out
	selfName string
	token    string // the session token; "" when the server gave none
	leaving  bool   // LogoutMes sent: the end of the connection is expected
	replaced bool   // got ErrorResMes 409
	names    map[int]string
	rooms    map[int]string
	history  []string    // this session's conversation, formatted
	seen     dedup       // msgIds already shown
	line     <-chan Line // read in progress; nil when none

	// Reconnection (reconnect.go): attempts since the connection was lost, and
	// the attempt under way.
	attempt    int
	redial     <-chan dialResult // nil when no attempt is under way
	stopRedial chan struct{}     // closed to abandon the attempt under way
}

var (
	errEnd     = errors.New("end of input")
	errLost    = errors.New("connection lost")
	errTimeout = errors.New("no answer")
	// errOffline: the connection was lost and the session is reconnecting.
	errOffline = errors.New("reconnecting")
	// errRelogin: the server refused the session token; the password is needed.
	errRelogin = errors.New("session token refused")
)

const firstMenu = `
---- Chat ----
1 Log in
2 Register
3 Exit`

// sessionMenu is the first line of the logged-in menu, the course's items.
const sessionMenu = "1 Online users  2 Group message  3 Private message  4 Messages  5 Log out"

// Run runs the menu until Exit or the end of input.
func (u *UI) Run() {
	if u.names == nil {
		u.names = make(map[int]string)
	}
	if u.rooms == nil {
		u.rooms = make(map[int]string)
	}
	defer u.finish()
	for {
		u.say(firstMenu)
		choice, err := u.ask("Choice: ", false)
		if err == errEnd {
			return
		}
		if err != nil {
			continue
		}
		switch strings.TrimSpace(choice) {
		case "1":
			err = u.login()
			if err == nil && u.self != 0 {
				err = u.session()
			}
		case "2":
			err = u.register()
		case "3":
			u.say("Bye.")
			return
		case "":
		default:
			u.say("Please choose 1, 2 or 3.")
		}
		if err == errEnd {
			return
		}
	}
}

// finish logs out (waiting for the server, so nothing is lost) and disconnects.
func (u *UI) finish() {
	if u.self != 0 {
		u.logout()
	}
	u.dropConn()
}

// login asks for the credentials and logs in; on success u.self is set.
func (u *UI) login() error {
	id, err := u.askID("User id: ")
	if err != nil || id == 0 {
		return err
	}
	pwd, err := u.ask("Password: ", true)
	if err != nil {
		return err
	}
	u.history = nil
	return u.logIn(id, pwd)
}

// logIn logs in as id with a password; on success u.self and u.token are set.
func (u *UI) logIn(id int, pwd string) error {
	if err := u.connect(); err != nil {
		return nil
	}
	if err := u.send(message.LoginMesType, &message.LoginMes{UserID: id, UserPwd: pwd, Proto: message.ProtoAck}); err != nil {
		return nil
	}
	ev, err := u.await(message.LoginMesType, message.LoginResMesType, nil)
	if err != nil {
		u.dropConn()
		return u.failed(err)
	}
	r, ok := ev.Body.(*message.LoginResMes)
	if !ok {
		code, text := errorAnswer(ev)
		r = &message.LoginResMes{Code: code, Error: text}
	}
	u.say(LoginResult(r, id))
	if r.Code != message.CodeOK {
		u.dropConn()
		return nil
	}
	u.self, u.selfName, u.token = id, r.UserName, r.Token
	u.names[id] = r.UserName
	return nil
}

// register asks for a new account's fields and registers it, then the first menu comes back.
func (u *UI) register() error {
	id, err := u.askID("New user id: ")
	if err != nil || id == 0 {
		return err
	}
	pwd, err := u.newPassword()
	if err != nil || pwd == "" {
		return err
	}
	name, err := u.ask("Nickname: ", false)
	if err != nil {
		return err
	}
	if err := u.connect(); err != nil {
		return nil
	}
	defer u.dropConn()
	user := message.User{UserID: id, UserPwd: pwd, UserName: strings.TrimSpace(name)}
	if err := u.send(message.RegisterMesType, &message.RegisterMes{User: user}); err != nil {
		return nil
	}
	ev, err := u.await(message.RegisterMesType, message.RegisterResMesType, nil)
	if err != nil {
		return u.failed(err)
	}
	r, ok := ev.Body.(*message.RegisterResMes)
	if !ok {
		code, text := errorAnswer(ev)
		r = &message.RegisterResMes{Code: code, Error: text}
	}
	u.say(RegisterResult(r, id))
	return nil
}

// passwordTries is how many times registration asks for a password before it
// gives up and the first menu comes back.
const passwordTries = 3

// newPassword asks for a new account's password twice, and again while the two
// differ or the length is refused, passwordTries times at most; "" means the
// user was told why nothing is registered.
func (u *UI) newPassword() (string, error) {
	for try := 1; ; try++ {
		pwd, err := u.ask("Password: ", true)
		if err != nil {
			return "", err
		}
		var problem string
		if n := len(pwd); n < message.MinPasswordLen || n > message.MaxPasswordLen {
			problem = fmt.Sprintf("A password has %d to %d bytes.", message.MinPasswordLen, message.MaxPasswordLen)
		} else {
			again, err := u.ask("Password again: ", true)
			if err != nil {
				return "", err
			}
			if pwd == again {
				return pwd, nil
			}
			problem = "The passwords do not match."
		}
		if try == passwordTries {
			u.say(problem + " Nothing registered.")
			return "", nil
		}
		u.say(problem + " Please type it again.")
	}
}

// session runs the logged-in menu until logout, the end of the connection or of
// input. While the session reconnects, the menu stays: what needs the server is
// refused with a line saying so, the conversation (4) and logout (5) work.
func (u *UI) session() error {
	for u.self != 0 {
		u.say(fmt.Sprintf("[%s] %s\n%s", who(u.selfName, u.self), sessionMenu, roomsMenu))
		choice, err := u.ask("Choice: ", false)
		if err == nil {
			err = u.choose(strings.TrimSpace(choice))
		}
		switch err {
		case nil, errOffline:
		case errRelogin:
			if err := u.passwordRelogin(); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// choose runs one choice of the logged-in menu.
func (u *UI) choose(choice string) error {
	switch choice {
	case "1", "2", "3", "6", "7", "8", "9", "10", "11", "12":
		if u.conn == nil {
			u.say(notConnected)
			return nil
		}
	}
	switch choice {
	case "1":
		return u.onlineUsers()
	case "2":
		return u.group()
	case "3":
		return u.private()
	case "4":
		u.showHistory()
	case "5":
		u.logout()
	case "":
	default:
		if known, err := u.roomItem(choice); known {
			return err
		}
		u.say("Please choose 1 to 12.")
	}
	return nil
}

// Online users are fetched in pages; at most maxListed are listed.
const (
	onlinePage = 100
	maxListed  = 1000
)

// onlineUsers lists who is online, page by page.
func (u *UI) onlineUsers() error {
	return u.listUsers("Online users", "Cannot list online users.", message.OnlineUsersMesType, message.OnlineUsersResMesType,
		func(offset int) any { return &message.OnlineUsersMes{Offset: offset, Limit: onlinePage} }, failure)
}

// listUsers fetches a list of users page by page (at most maxListed) with the
// requests request makes, and shows it under title; a failure is explained by
// explain after cannot.
func (u *UI) listUsers(title, cannot, reqType, respType string, request func(offset int) any, explain func(int, string) string) error {
	var users []message.OnlineUser
	total := 0
	for len(users) < maxListed {
		if err := u.send(reqType, request(len(users))); err != nil {
			return err
		}
		ev, err := u.await(reqType, respType, nil)
		if err != nil {
			return u.failed(err)
		}
		code, text, pageTotal, page, ok := userPage(ev.Body)
		if !ok {
			code, text = errorAnswer(ev)
		}
		if code != message.CodeOK {
			u.say(cannot + " " + explain(code, text))
			return nil
		}
		total = pageTotal
		users = append(users, page...)
		if len(page) < onlinePage || len(users) >= total {
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d", title, total)
	for _, x := range users {
		u.names[x.UserID] = x.UserName
		b.WriteString("\n  " + who(x.UserName, x.UserID))
		if x.UserID == u.self {
			b.WriteString(" (you)")
		}
	}
	if more := total - len(users); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	u.say(b.String())
	return nil
}

// userPage reads one page of a paged list of users.
func userPage(body any) (code int, text string, total int, users []message.OnlineUser, ok bool) {
	switch r := body.(type) {
	case *message.OnlineUsersResMes:
		return r.Code, r.Error, r.Total, r.Users, true
	case *message.RoomMembersResMes:
		return r.Code, r.Error, r.Total, r.Users, true
	}
	return 0, "", 0, nil, false
}

// group sends one line to everyone online.
func (u *UI) group() error {
	text, err := u.ask("Message to the group: ", false)
	if err != nil || !u.validContent(text) {
		return err
	}
	if err := u.send(message.SmsMesType, &message.SmsMes{Content: text}); err != nil {
		return err
	}
	ev, err := u.await(message.SmsMesType, message.SmsResMesType, nil)
	if err != nil {
		return u.failed(err)
	}
	code, errText := errorAnswer(ev)
	if r, ok := ev.Body.(*message.SmsResMes); ok {
		code, errText = r.Code, r.Error
	}
	u.say(GroupResult(code, errText, text))
	if code == message.CodeOK {
		u.record(u.View.SentGroup(text))
	}
	return nil
}

// private sends one line to one user.
func (u *UI) private() error {
	to, err := u.askID("To user id: ")
	if err != nil || to == 0 {
		return err
	}
	text, err := u.ask("Message: ", false)
	if err != nil || !u.validContent(text) {
		return err
	}
	cid := rand.Text()
	if err := u.send(message.PrivateMesType, &message.PrivateMes{ToUserID: to, Content: text, ClientMsgID: cid}); err != nil {
		return err
	}
	ev, err := u.await(message.PrivateMesType, message.PrivateResMesType, func(ev Event) bool {
		id := ev.Body.(*message.PrivateResMes).ClientMsgID
		return id == "" || id == cid // not a late answer to an earlier request
	})
	if err != nil {
		return u.failed(err)
	}
	r, ok := ev.Body.(*message.PrivateResMes)
	if !ok {
		code, text := errorAnswer(ev)
		r = &message.PrivateResMes{Code: code, Error: text}
	}
	u.say(PrivateResult(r, u.names[to], to))
	if r.Code == message.CodeOK {
		u.record(u.View.SentPrivate(who(u.names[to], to), text))
	}
	return nil
}

// showHistory prints this session's conversation.
func (u *UI) showHistory() {
	if len(u.history) == 0 {
		u.say("No messages in this session yet.")
		return
	}
	u.say("Messages of this session:\n" + strings.Join(u.history, "\n"))
}

// logout sends LogoutMes and waits until the server closes the connection.
// While reconnecting, the session ends here only.
func (u *UI) logout() {
	if u.conn == nil {
		tokenLeft := u.token != ""
		u.dropConn()
		if tokenLeft {
			u.say("Logged out here (not connected: the server was not told, and the session token stays valid until it expires).")
		} else {
			u.say("Logged out.")
		}
		return
	}
	u.leaving = true
	if u.send(message.LogoutMesType, &message.LogoutMes{}) == nil {
		u.await(message.LogoutMesType, "", nil) // ends with errLost when the server closes
	}
	u.dropConn()
	u.say("Logged out.")
}

// errorAnswer returns the code and text of an ErrorResMes answer.
func errorAnswer(ev Event) (int, string) {
	if e, ok := ev.Body.(*message.ErrorResMes); ok {
		return e.Code, e.Error
	}
	return 0, "unexpected answer " + ev.Type
}

// validContent checks a message text against the protocol's limits, telling the user.
func (u *UI) validContent(s string) bool {
	switch {
	case s == "":
		u.say("Empty message; nothing sent.")
	case len(s) > message.MaxContentLen:
		u.say(fmt.Sprintf("Message too long (%d bytes, at most %d); nothing sent.", len(s), message.MaxContentLen))
	case !utf8.ValidString(s):
		u.say("Message is not valid UTF-8; nothing sent.")
	default:
		return true
	}
	return false
}
