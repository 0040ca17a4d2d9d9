package chat

import (
	"errors"
	"time"

	"chat/common/message"
	"chat/server/model"
	"chat/server/transport"
)

// The user process: register, login, logout, online list and presence.
type userProcess struct{ *session }

func (c userProcess) register(m message.Message) {
	var req message.RegisterMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(code int, text string) {
		c.reply(message.RegisterResMesType, message.RegisterResMes{Code: code, Error: text})
	}
	u := req.User
	for _, check := range []func() (int, string){
		func() (int, string) { return checkUserID(u.UserID) },
		func() (int, string) { return checkPassword(u.UserPwd) },
		func() (int, string) { return checkUserName(u.UserName, c.bodyUTF8) },
	} {
		if code, text := check(); code != 0 {
			answer(code, text)
			return
		}
	}
	// Before any password work: a taken id or a busy address costs no bcrypt.
	if code, text := c.registrationAllowed(u.UserID); code != 0 {
		answer(code, text)
		return
	}
	var err error
	if ok, retry := c.srv.passwords.run(c.srv.ctx, func() {
		ctx, cancel := c.srv.requestContext() // the store's time starts once a slot is free
		defer cancel()
		err = c.srv.st.Users.Register(ctx, u)
	}); !ok {
		c.srv.metrics.passwordsBusy.Inc()
		c.reply(message.RegisterResMesType, busyRegister(retry))
		return
	}
	switch {
	case errors.Is(err, model.ErrUserExists):
		answer(message.CodeUserExists, "this user id is already taken")
	case err != nil:
		c.srv.log.Warn("register failed", "user", u.UserID, "err", err)
		answer(message.CodeServerError, "server error; try again")
	default:
		answer(message.CodeOK, "")
	}
}

func (c userProcess) login(m message.Message) {
	var req message.LoginMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(code int, text string) {
		c.srv.metrics.logins.WithLabelValues(loginResult(code)).Inc()
		c.reply(message.LoginResMesType, message.LoginResMes{Code: code, Error: text})
	}
	if c.user != 0 {
		answer(message.CodeInvalid, "already logged in on this connection")
		return
	}
	if code, text := checkUserID(req.UserID); code != 0 {
		answer(code, text)
		return
	}
	if code, text := checkCredentials(req); code != 0 {
		answer(code, text)
		return
	}
	u, ok, err := c.authenticate(req)
	if !ok {
		return // turned away: answered
	}
	switch {
	case errors.Is(err, model.ErrTooManyFailures):
		answer(message.CodeRateLimited, "too many failed logins; try again in a minute")
		return
	case errors.Is(err, model.ErrUserNotFound):
		answer(message.CodeUserNotFound, "no such user; register first")
		return
	case errors.Is(err, model.ErrBadToken):
		answer(message.CodeWrongPassword, "invalid or expired session token; log in with the password")
		return
	case errors.Is(err, model.ErrWrongPassword):
		answer(message.CodeWrongPassword, "wrong password")
		return
	case err != nil:
		c.srv.log.Warn("login failed", "user", req.UserID, "err", err)
		answer(message.CodeServerError, "server error; try again")
		return
	}
	if code, text := c.loginAllowed(u.UserID); code != 0 {
		answer(code, text)
		return
	}
	// The store's time for the rest starts now: the password may have waited.
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	token := req.Token
	if token == "" && req.Proto == message.ProtoAck {
		// A token login keeps its token: a reconnect costs no write.
		if token, err = c.srv.st.Users.IssueToken(ctx, u.UserID, c.srv.cfg.TokenTTL); err != nil {
			c.srv.log.Warn("could not issue a session token", "user", req.UserID, "err", err)
			answer(message.CodeServerError, "server error; try again")
			return
		}
	}
	c.startSession(u, req.Proto, token)
}

// authenticate checks the token or the password of req, counting a failure as
// docs/PROTOCOL.md (Limits) says: against the user id before the check, given
// back if it turns out right, so that parallel guesses cannot outrun the count;
// against the address once it is known. A password waits for a slot of the
// password pool; if it waits too long, the login is answered 505 with
// retryAfter and ok is false.
func (c userProcess) authenticate(req message.LoginMes) (u message.User, ok bool, err error) {
	if req.Token != "" {
		ctx, cancel := c.srv.requestContext()
		defer cancel()
		// Reserved, checked and given back in one round trip.
		u, err = c.srv.st.Logins.CheckToken(ctx, req.UserID, req.Token, c.addr, c.srv.loginLimits())
		if errors.Is(err, model.ErrBadToken) {
			c.countLoginFailure()
		}
		return u, true, err
	}
	if err := c.reserveLoginFailure(req.UserID); err != nil {
		return u, true, err
	}
	ok, retry := c.srv.passwords.run(c.srv.ctx, func() {
		ctx, cancel := c.srv.requestContext() // the store's time starts once a slot is free
		defer cancel()
		u, err = c.srv.st.Users.Authenticate(ctx, req.UserID, req.UserPwd)
	})
	if ok && (errors.Is(err, model.ErrUserNotFound) || errors.Is(err, model.ErrWrongPassword)) {
		c.countLoginFailure()
	} else {
		c.releaseLoginFailure(req.UserID) // right, turned away busy, or a server error: no failure
	}
	if !ok {
		c.srv.metrics.passwordsBusy.Inc()
		c.srv.metrics.logins.WithLabelValues("busy").Inc()
		c.reply(message.LoginResMesType, busyLogin(retry))
	}
	return u, ok, err
}

// checkCredentials checks that a login carries exactly what it may: a classic
// login a password, a proto-2 login a password or a session token. A password of
// any length but none is checked against what is stored (only registration
// bounds it): a user added by hand may hold any plaintext password.
func checkCredentials(req message.LoginMes) (int, string) {
	switch {
	case req.Token == "" && req.UserPwd == "":
		return message.CodeInvalid, "userPwd is empty"
	case req.Token == "":
		return 0, ""
	case req.Proto != message.ProtoAck:
		return message.CodeInvalid, "a token login needs proto 2"
	case req.UserPwd != "":
		return message.CodeInvalid, "give exactly one of userPwd and token"
	case len(req.Token) > message.MaxTokenLen:
		return message.CodeInvalid, "token too long"
	}
	return 0, ""
}

// busyLogin and busyRegister turn a request away while password work is
// saturated, telling the client when to try again.
func busyLogin(retry time.Duration) message.LoginResMes {
	return message.LoginResMes{Code: message.CodeServerError, Error: busyText, RetryAfter: int(retry.Milliseconds())}
}

func busyRegister(retry time.Duration) message.RegisterResMes {
	return message.RegisterResMes{Code: message.CodeServerError, Error: busyText, RetryAfter: int(retry.Milliseconds())}
}

const busyText = "server busy; try again after retryAfter milliseconds"

func loginResult(code int) string {
	switch code {
	case message.CodeOK:
		return "ok"
	case message.CodeUserNotFound:
		return "no_such_user"
	case message.CodeWrongPassword:
		return "wrong_password"
	case message.CodeRateLimited:
		return "rate_limited"
	case message.CodeServerError:
		return "server_error"
	}
	return "invalid"
}

// startSession makes this connection u's only session, in this node and in the
// cluster, answers the login, tells the others and starts the offline messages.
// token is the session token of a proto-2 login ("" for a classic one).
func (c userProcess) startSession(u message.User, proto int, token string) {
	// Logins of one user on this node go one at a time, so that the order of
	// their claims in Redis is the order in the hub.
	lock := c.srv.loginLock(u.UserID)
	lock.Lock()
	defer lock.Unlock()
	c.user, c.name, c.proto, c.sid, c.token = u.UserID, u.UserName, proto, c.srv.newID(), token
	c.privateRate = newBucket(c.srv.cfg.RatePrivate, c.srv.cfg.BurstPrivate)
	c.groupRate = newBucket(c.srv.cfg.RateGroup, c.srv.cfg.BurstGroup)
	// In the hub before the claim, so that a wake sent as soon as the claim is
	// visible finds this connection.
	prev := c.srv.hub.add(c.session)
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	c.srv.acks.waitFor(ctx, c.user) // before the claim reads what is waiting
	claim, err := c.srv.st.Presence.Claim(ctx, c.user, c.presence(), message.MaxLoginUserIDs)
	if err != nil {
		c.srv.log.Warn("login failed", "user", c.user, "err", err)
		c.srv.hub.restore(c.session, prev)
		c.user, c.token = 0, ""
		c.srv.metrics.logins.WithLabelValues("server_error").Inc()
		c.reply(message.LoginResMesType, message.LoginResMes{Code: message.CodeServerError, Error: "server error; try again"})
		return
	}
	// The older session goes only now that this one is current in Redis: when
	// it ends, its release then finds it replaced and leaves the user online.
	if prev != nil {
		prev.replace()
	}
	if claim.Replaced && claim.Previous.Node != c.srv.cfg.Node {
		c.srv.publishToNode(claim.Previous.Node, kickNotice{user: c.user, sid: claim.Previous.ID}.append(nil))
	}
	c.t.SetReadDeadline(time.Time{}) // logged in: no more login deadline
	c.feeds.claimed(claim)           // before the feeds start
	c.srv.metrics.logins.WithLabelValues("ok").Inc()
	c.reply(message.LoginResMesType, message.LoginResMes{
		Code:        message.CodeOK,
		UsersId:     claim.FirstIDs,
		UserName:    c.name,
		OnlineCount: claim.OnlineCount,
		Token:       token,
	})
	if replaced := c.setReady(); replaced {
		// A newer login elsewhere took over while this one was being answered.
		c.replace()
		return
	}
	c.srv.notifyPresence(c.user, c.name, message.UserOnline, claim.OnlineCount)
	c.feeds.start()
}

// endSession runs once the read loop is over: the user goes offline (unless a newer
// session took over), the others are told, and the connection closes.
func (c userProcess) endSession(reason transport.Reason) {
	if reason == transport.ServerShutdown {
		c.noticeShutdown()
	}
	if c.user != 0 {
		c.srv.hub.remove(c.session)
		if reason == transport.LoggedOut && c.token != "" {
			c.revokeToken()
		}
		c.feeds.drop()
		ctx, cancel := c.srv.requestContext()
		count, released, err := c.srv.st.Presence.Release(ctx, c.user, c.presence())
		cancel()
		if err != nil {
			// The heartbeat lapses if Redis stays away; other nodes then reap.
			c.srv.log.Warn("could not mark a user offline", "user", c.user, "err", err)
		} else if released {
			c.srv.notifyPresence(c.user, c.name, message.UserOffline, count)
		}
	}
	switch reason {
	case transport.ClientClosed, transport.WriteError, transport.SlowConsumer:
		c.t.Close(reason)
	default:
		c.t.CloseAfterFlush(reason)
	}
}

// revokeToken ends the session token of a user who logged out: it is never
// accepted again, on any node.
func (c userProcess) revokeToken() {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	if err := c.srv.st.Users.RevokeToken(ctx, c.user, c.token); err != nil {
		// The token stays valid until it expires; the user is told nothing.
		c.srv.log.Warn("could not revoke a session token", "user", c.user, "err", err)
	}
}

func (c userProcess) onlineUsers(m message.Message) {
	var req message.OnlineUsersMes
	if !c.unpack(m, &req) {
		return
	}
	answer := func(res message.OnlineUsersResMes) { c.reply(message.OnlineUsersResMesType, res) }
	if req.Limit < 1 || req.Limit > message.MaxOnlinePage || req.Offset < 0 {
		answer(message.OnlineUsersResMes{Code: message.CodeInvalid, Error: "limit must be 1 to 500 and offset at least 0"})
		return
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	total, users, err := c.srv.st.Presence.Page(ctx, req.Offset, req.Limit)
	if err != nil {
		answer(message.OnlineUsersResMes{Code: message.CodeServerError, Error: "server error; try again"})
		return
	}
	f, err := c.srv.encodeFitting(len(users), func(k int) ([]byte, error) {
		return message.EncodeFrame(message.OnlineUsersResMesType,
			message.OnlineUsersResMes{Code: message.CodeOK, Total: total, Users: users[:k]})
	})
	if err != nil {
		answer(message.OnlineUsersResMes{Code: message.CodeServerError, Error: "server error; try again"})
		return
	}
	c.replyFrame(message.OnlineUsersResMesType, f)
}
