package chat

import (
	"errors"
	"strconv"

	"chat/common/message"
	"chat/server/model"
)

// Limits kept in Redis, so that they hold for a user or an address across its
// connections, logins and the nodes it reaches (docs/PROTOCOL.md, Limits).

// perMinute is the limit of n events a minute, in bursts of up to n.
func perMinute(n int) model.Limit {
	return model.Limit{Rate: float64(n) / 60, Burst: n}
}

func (s *Server) loginLimits() model.LoginLimits {
	return model.LoginLimits{
		PerUserAddr: s.cfg.LoginFailures,
		PerUser:     s.cfg.LoginFailuresPerUser,
		PerAddr:     s.cfg.LoginFailuresPerAddr,
	}
}

// reserveLoginFailure counts a failed login of userID from this connection's
// address before its password is checked: model.ErrTooManyFailures if a count
// is at its limit.
func (c userProcess) reserveLoginFailure(userID int) error {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	ok, err := c.srv.st.Logins.Reserve(ctx, userID, c.addr, c.srv.loginLimits())
	if err == nil && !ok {
		err = model.ErrTooManyFailures
	}
	return err
}

// releaseLoginFailure gives back the reservation of a login that did not fail.
// Its context is its own: the password check may have used up the request's.
func (c userProcess) releaseLoginFailure(userID int) {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	if err := c.srv.st.Logins.Release(ctx, userID, c.addr, c.srv.loginLimits()); err != nil {
		// The count stays one too high until its window ends.
		c.srv.log.Warn("could not give back a login's reservation", "user", userID, "err", err)
	}
}

// countLoginFailure counts a failed login from this connection's address over
// all user ids (its user id's counts were reserved ahead).
func (c userProcess) countLoginFailure() {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	if err := c.srv.st.Logins.Failed(ctx, c.addr, c.srv.loginLimits()); err != nil {
		c.srv.log.Warn("could not count a failed login", "err", err)
	}
}

// loginAllowed limits the successful logins of a user: one who logs in and
// drops in a loop would otherwise make every online user a presence notice per
// login.
func (c userProcess) loginAllowed(userID int) (int, string) {
	return c.allow(model.RateLogin, strconv.Itoa(userID), perMinute(c.srv.cfg.LoginsPerUser),
		"too many logins of this user; try again in a minute")
}

// registrationAllowed turns a registration away before any password work: the
// address is over its registrations (429), or the id is taken (400; Register's
// HSETNX still decides between two registrations of a free id).
func (c userProcess) registrationAllowed(userID int) (int, string) {
	if code, text := c.allow(model.RateRegister, c.addr, perMinute(c.srv.cfg.RegistrationsPerAddr),
		"too many registrations from this address; try again in a minute"); code != 0 {
		return code, text
	}
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	taken, err := c.srv.st.Users.Exists(ctx, userID)
	switch {
	case err != nil:
		c.srv.log.Warn("register failed", "user", userID, "err", err)
		return message.CodeServerError, "server error; try again"
	case taken:
		return message.CodeUserExists, "this user id is already taken"
	}
	return 0, ""
}

// allow counts one event of kind for who against lim: 429 with text when over
// it, 505 when Redis cannot say.
func (c userProcess) allow(kind, who string, lim model.Limit, text string) (int, string) {
	ctx, cancel := c.srv.requestContext()
	defer cancel()
	ok, err := c.srv.st.Rates.Allow(ctx, kind, who, lim)
	switch {
	case err != nil:
		c.srv.log.Warn("could not check a rate", "kind", kind, "err", err)
		return message.CodeServerError, "server error; try again"
	case !ok:
		return message.CodeRateLimited, text
	}
	return 0, ""
}

// sendLimits are the limits of one private message.
func (s *Server) sendLimits() model.SendLimits {
	return model.SendLimits{
		Rate:     model.Limit{Rate: s.cfg.RatePrivate, Burst: s.cfg.BurstPrivate},
		InboxMax: s.cfg.InboxMax,
	}
}

// privateRefusal answers a private message the inbox store refused for a limit.
func privateRefusal(err error) (code int, text string, ok bool) {
	switch {
	case errors.Is(err, model.ErrRateLimited):
		return message.CodeRateLimited, "too many private messages; slow down", true
	case errors.Is(err, model.ErrInboxFull):
		return message.CodeRateLimited, "inbox full: the recipient has too many undelivered messages", true
	}
	return 0, "", false
}
