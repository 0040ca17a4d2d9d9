package main

// The UI's event loop: waiting for a line or an answer while showing whatever
// the server sends meanwhile, and the connection's lifetime.

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"chat/common/message"
)

// handle shows an event that is not the answer being waited for.
// It returns errLost at the end of the connection, errOffline when the session
// reconnects by itself.
func (u *UI) handle(ev Event, ok bool) error {
	if !ok || ev.Err != nil {
		return u.closed(ev.Err)
	}
	switch b := ev.Body.(type) {
	case *message.SmsMes:
		if u.seen.add(b.MsgID) {
			u.show(u.View.Group(b))
		}
	case *message.PrivateMes:
		if b.MsgID != "" {
			// A failed ack surfaces as the end of the connection; the server resends.
			u.conn.Send(message.AckMesType, &message.AckMes{MsgIDs: []string{b.MsgID}})
		}
		if u.seen.add(b.MsgID) {
			u.names[b.FromUserID] = b.FromUserName
			u.show(u.View.Private(b))
		}
	case *message.RoomMes:
		if b.MsgID != "" {
			u.conn.Send(message.AckMesType, &message.AckMes{MsgIDs: []string{b.MsgID}})
		}
		if u.seen.add(b.MsgID) {
			u.names[b.FromUserID] = b.FromUserName
			u.rooms[b.RoomID] = b.RoomName
			u.show(u.View.Room(b))
		}
	case *message.RoomNoticeMes:
		if b.UserName != "" {
			u.names[b.UserID] = b.UserName
		}
		u.show(u.View.RoomNotice(b, u.rooms[b.RoomID]))
	case *message.NotifyUserStatusMes:
		u.names[b.UserID] = b.UserName
		u.say(u.View.Presence(b))
	case *message.NotifyUsersStatusMes:
		// Shown as the notices one at a time would be; the list may hold
		// this user's own login, which is news to no one here.
		for i := range b.Users {
			if m := &b.Users[i]; m.UserID != u.self {
				u.names[m.UserID] = m.UserName
				u.say(u.View.Presence(m))
			}
		}
	case *message.ErrorResMes:
		if b.Code == message.CodeReplaced {
			u.replaced = true
			u.say("This session was replaced by a newer login of the same user (409).")
		} else {
			u.say(fmt.Sprintf("Server answer to %s: %s", clean(b.RefType), failure(b.Code, b.Error)))
		}
	}
	// Anything else (a late answer to a request that timed out, a pong) is dropped.
	return nil
}

// closed handles the end of the connection. A session with a token stays logged
// in and gets its connection back by itself (reconnect.go): errOffline.
func (u *UI) closed(err error) error {
	switch {
	case u.leaving:
	case u.replaced:
		u.say("You are logged out. Choose 1 to log in again.")
	case u.self != 0 && u.token != "":
		why := "Connection lost again (" + cause(err) + ")."
		if u.attempt == 0 {
			u.say("Connection lost, reconnecting… (" + cause(err) + ")")
			why = ""
		}
		u.offline(why, 0)
		return errOffline
	case u.self != 0:
		u.say(lostText(err) + " Choose 1 to reconnect and log in again.")
	default:
		u.say(lostText(err))
	}
	u.dropConn()
	return errLost
}

// lostText explains why the connection ended.
func lostText(err error) string {
	if err == io.EOF {
		return "The server closed the connection."
	}
	return fmt.Sprintf("Connection to the server lost: %v.", err)
}

// cause is lostText as a clause.
func cause(err error) string {
	if err == io.EOF {
		return "the server closed the connection"
	}
	return fmt.Sprint(err)
}

// failed reports a request that got no answer; errEnd, errLost and errRelogin
// pass through.
func (u *UI) failed(err error) error {
	switch err {
	case errTimeout:
		u.say(fmt.Sprintf("No answer from the server within %v.", u.Timeout))
		return nil
	case errOffline:
		u.say("The connection was lost before the answer came: the request may or may not have been done.")
		return nil
	}
	return err
}

// connect dials the server unless connected, trying each node from the one in
// use on.
func (u *UI) connect() error {
	if u.conn != nil {
		return nil
	}
	var err error
	for range u.Addrs {
		addr := u.Addrs[u.addr]
		var c *Conn
		if c, err = u.Dial(addr); err == nil {
			u.conn, u.events = c, c.Events()
			return nil
		}
		u.say(fmt.Sprintf("cannot reach server at %s: %v", addr, err))
		u.addr = (u.addr + 1) % len(u.Addrs)
	}
	return err
}

// closeConn closes the connection; the session, if any, stays.
func (u *UI) closeConn() {
	if u.conn != nil {
		u.conn.Close()
	}
	u.conn, u.events = nil, nil
}

// dropConn closes the connection and forgets the session.
func (u *UI) dropConn() {
	u.closeConn()
	u.stopReconnecting()
	u.self, u.selfName, u.token = 0, "", ""
	u.leaving, u.replaced = false, false
}

// send writes a request; a failure ends the connection (errLost, or
// errOffline while the session reconnects). While reconnecting nothing is sent:
// the user is told, and tries again later.
func (u *UI) send(typ string, v any) error {
	if u.conn == nil && u.self != 0 && u.token != "" {
		u.say(notConnected)
		return errOffline
	}
	if u.conn == nil {
		return u.closed(errors.New("not connected"))
	}
	if err := u.conn.Send(typ, v); err != nil {
		return u.closed(err)
	}
	return nil
}

// ask reads one line, showing events while the prompt is open. A read left open
// by an earlier ask (the connection was lost meanwhile) is reused with the new prompt.
func (u *UI) ask(prompt string, secret bool) (string, error) {
	if u.line == nil {
		u.line = u.Term.ReadLine(prompt, secret)
	} else {
		u.Term.SetPrompt(prompt)
	}
	for {
		select {
		case l := <-u.line:
			u.line = nil
			if l.Err != nil {
				return "", errEnd
			}
			// Events that came before the answer are shown (and acked) before it is acted on.
			if err := u.drain(); err != nil {
				return "", err
			}
			return l.Text, nil
		case ev, ok := <-u.events:
			if err := u.handle(ev, ok); err != nil && err != errOffline {
				return "", err
			}
		case r := <-u.redial:
			if err := u.redialed(r); err != nil {
				return "", err
			}
		case <-u.Quit:
			return "", errEnd
		}
	}
}

// drain handles the events already queued, without waiting.
func (u *UI) drain() error {
	for {
		select {
		case ev, ok := <-u.events:
			if err := u.handle(ev, ok); err != nil && err != errOffline {
				return err
			}
		default:
			return nil
		}
	}
}

// askID reads a user id; 0 means the answer was not one (the user was told).
func (u *UI) askID(prompt string) (int, error) {
	s, err := u.ask(prompt, false)
	if err != nil {
		return 0, err
	}
	id, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || id < message.MinUserID || id > message.MaxUserID {
		u.say(fmt.Sprintf("A user id is a whole number from %d to %d.", message.MinUserID, message.MaxUserID))
		return 0, nil
	}
	return id, nil
}

// await waits for the answer to a request of type reqType: a message of type
// respType (accepted by match, when given) or an ErrorResMes about reqType.
// Other events are shown meanwhile.
func (u *UI) await(reqType, respType string, match func(Event) bool) (Event, error) {
	t := time.NewTimer(u.Timeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-u.events:
			if ok && ev.Err == nil && answers(ev, reqType, respType, match) {
				return ev, nil
			}
			if err := u.handle(ev, ok); err != nil {
				return Event{}, err
			}
		case <-t.C:
			return Event{}, errTimeout
		case <-u.Quit:
			return Event{}, errEnd
		}
	}
}

// answers reports whether ev is the answer to a request of type reqType.
func answers(ev Event, reqType, respType string, match func(Event) bool) bool {
	if e, ok := ev.Body.(*message.ErrorResMes); ok {
		return e.RefType == reqType && e.Code != message.CodeReplaced
	}
	return ev.Type == respType && ev.Body != nil && (match == nil || match(ev))
}

// say prints a line; show also keeps it in the session's conversation.
func (u *UI) say(s string) { u.Term.Println(s) }

func (u *UI) show(s string) {
	u.record(s)
	u.say(s)
}

// maxHistory bounds the session's conversation kept for "Messages".
const maxHistory = 1000

// record keeps s in the session's conversation, forgetting the oldest beyond maxHistory.
func (u *UI) record(s string) {
	if len(u.history) >= maxHistory {
		u.history = append(u.history[:0], u.history[len(u.history)-maxHistory+1:]...)
	}
	u.history = append(u.history, s)
}

// dedup remembers the last maxSeen message ids, to drop repeats.
type dedup struct {
	set   map[string]struct{}
	order []string
}

const maxSeen = 10000

// add records id and reports whether it is new. An empty id is always new.
func (d *dedup) add(id string) bool {
	if id == "" {
		return true
	}
	if d.set == nil {
		d.set = make(map[string]struct{})
	}
	if _, dup := d.set[id]; dup {
		return false
	}
	if len(d.order) >= maxSeen {
		delete(d.set, d.order[0])
		d.order = d.order[1:]
	}
	d.set[id] = struct{}{}
	d.order = append(d.order, id)
	return true
}
