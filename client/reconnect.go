package main

// Reconnection. When the connection of a logged-in session drops (node killed,
// server restarted, network cut), the UI gets it back by itself: it waits a
// backoff with full jitter, dials the next node of -addr and logs in with the
// session token of its last login, so nobody types a password again. The server
// then sends the private messages that came meanwhile as offline messages.
// Until then the menu stays, and what needs the server is refused with a line
// saying so (nothing is queued: a message typed offline is not sent later).
//
// A goroutine only waits and dials, and hands the outcome to the UI, which does
// everything else (the login, what the user sees) on its own goroutine.

import (
	"fmt"
	"math/rand/v2"
	"time"

	"chat/common/message"
)

// notConnected is the answer to what the user asks for while reconnecting.
const notConnected = "Not connected (reconnecting…): nothing was sent. Try again once reconnected."

// Backoff is the wait before each reconnection attempt: uniformly random in
// [0, ceiling), "full jitter", so that the clients of a node that died do not all
// come back at the same instant. The ceiling stays at Base for the first Flat
// attempts, so that a client comes back within Base of a server that restarts
// after a short outage, then doubles up to Cap, so that a long one is not
// hammered.
type Backoff struct {
	Base time.Duration // ceiling of the first Flat waits; 0 means 1 s
	Cap  time.Duration // largest ceiling; 0 means 30 s
	Flat int           // attempts at ceiling Base; 0 means 20 (about 10 s of outage at 1 s)
}

// Delay returns the wait before attempt (0 for the first).
func (b Backoff) Delay(attempt int) time.Duration {
	return rand.N(b.ceiling(attempt))
}

func (b Backoff) ceiling(attempt int) time.Duration {
	base, limit, flat := b.Base, b.Cap, b.Flat
	if base <= 0 {
		base = time.Second
	}
	if limit <= 0 {
		limit = 30 * time.Second
	}
	if flat <= 0 {
		flat = 20
	}
	for attempt -= flat - 1; attempt > 0 && base < limit; attempt-- {
		base *= 2
	}
	return min(base, limit)
}

// dialResult is the outcome of one reconnection attempt's dial.
type dialResult struct {
	conn *Conn
	addr string
	err  error
}

// offline closes the connection of a session that reconnects and starts the
// next attempt: after delay (a backoff when 0), on the next node. why, when
// set, tells the user what went wrong with the last attempt.
func (u *UI) offline(why string, delay time.Duration) {
	u.closeConn()
	if delay <= 0 {
		delay = u.Backoff.Delay(u.attempt)
	}
	u.attempt++
	u.addr = (u.addr + 1) % len(u.Addrs)
	addr := u.Addrs[u.addr]
	if why != "" {
		u.say(fmt.Sprintf("%s Reconnecting to %s in %v…", why, addr, delay.Round(10*time.Millisecond)))
	}
	if u.stopRedial == nil {
		u.stopRedial = make(chan struct{})
	}
	ch, stop, dial := make(chan dialResult, 1), u.stopRedial, u.Dial
	u.redial = ch
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-stop:
			return
		}
		c, err := dial(addr)
		select {
		case <-stop:
			if c != nil {
				c.Close()
			}
		default:
			ch <- dialResult{conn: c, addr: addr, err: err}
		}
	}()
}

// stopReconnecting abandons the attempt under way, if any.
func (u *UI) stopReconnecting() {
	if u.stopRedial != nil {
		close(u.stopRedial)
		u.stopRedial = nil
	}
	u.redial, u.attempt = nil, 0
}

// redialed logs in again over the connection of an attempt, or starts the next
// one. It returns errRelogin when the server refused the token, errEnd at the
// end of input.
func (u *UI) redialed(r dialResult) error {
	u.redial = nil
	if r.err != nil {
		u.offline(fmt.Sprintf("Cannot reach %s: %v.", r.addr, r.err), 0)
		return nil
	}
	u.conn, u.events = r.conn, r.conn.Events()
	if err := u.conn.Send(message.LoginMesType, &message.LoginMes{UserID: u.self, Token: u.token, Proto: message.ProtoAck}); err != nil {
		u.offline(fmt.Sprintf("Lost %s at once: %v.", r.addr, err), 0)
		return nil
	}
	ev, err := u.await(message.LoginMesType, message.LoginResMesType, nil)
	switch err {
	case nil:
	case errOffline: // closed has started the next attempt
		return nil
	case errTimeout:
		u.offline(fmt.Sprintf("No answer from %s within %v.", r.addr, u.Timeout), 0)
		return nil
	default:
		return err
	}
	res, ok := ev.Body.(*message.LoginResMes)
	if !ok {
		code, text := errorAnswer(ev)
		res = &message.LoginResMes{Code: code, Error: text}
	}
	switch {
	case res.Code == message.CodeOK:
		if res.Token != "" {
			u.token = res.Token
		}
		u.selfName, u.attempt = res.UserName, 0
		u.stopReconnecting()
		u.say(fmt.Sprintf("Reconnected to %s as %s.", r.addr, who(u.selfName, u.self)))
	case res.Code == message.CodeWrongPassword, res.Code == message.CodeUserNotFound:
		u.closeConn()
		u.stopReconnecting()
		u.token = ""
		u.say(fmt.Sprintf("The server refused the session token (%d): log in again with your password.", res.Code))
		return errRelogin
	case res.Code == message.CodeServerError && res.RetryAfter > 0:
		// The server says when: wait that long, plus jitter of up to as much again.
		wait := time.Duration(res.RetryAfter) * time.Millisecond
		u.offline(fmt.Sprintf("%s is busy (505).", r.addr), wait+rand.N(wait))
	default:
		u.offline(LoginResult(res, u.self), 0)
	}
	return nil
}

// passwordRelogin logs the session's user in again with the password, after
// the server refused the token. A failure ends the session.
func (u *UI) passwordRelogin() error {
	id := u.self
	// The read open at the menu's prompt echoes: it takes the Enter, and the
	// password gets a read of its own, without echo.
	if _, err := u.ask(fmt.Sprintf("Press Enter to log in again as user %d: ", id), false); err != nil {
		return err
	}
	pwd, err := u.ask("Password: ", true)
	if err != nil {
		return err
	}
	u.self = 0
	return u.logIn(id, pwd)
}
