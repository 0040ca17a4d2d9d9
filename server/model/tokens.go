package model

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/gomodule/redigo/redis"

	"chat/common/message"
)

// Session tokens let a proto-2 client log in again without its password: a
// reconnect costs a hash and one Redis round trip instead of a bcrypt check.
// Redis holds only the SHA-256 of a token, so a copy of the database does not
// let anyone in; the token's 130 random bits make a slow hash unnecessary.

// IssueToken creates a session token for userID that expires after ttl.
func (s *RedisUserStore) IssueToken(ctx context.Context, userID int, ttl time.Duration) (string, error) {
	token := rand.Text() // 26 base32 characters: 130 bits from crypto/rand
	conn, err := get(ctx, s.pool)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.Do("SET", tokenKey(userID, hashToken(token)), 1, "PX", ttl.Milliseconds()); err != nil {
		return "", err
	}
	return token, nil
}

// AuthenticateToken returns user userID if token is one of its valid tokens,
// with one pipelined round trip. It returns ErrBadToken for a token that is
// unknown, expired, revoked or another user's.
func (s *RedisUserStore) AuthenticateToken(ctx context.Context, userID int, token string) (message.User, error) {
	conn, err := get(ctx, s.pool)
	if err != nil {
		return message.User{}, err
	}
	defer conn.Close()
	conn.Send("EXISTS", tokenKey(userID, hashToken(token)))
	conn.Send("HGET", usersKey, userID)
	r, err := redis.Values(conn.Do(""))
	if err != nil {
		return message.User{}, err
	}
	valid, err := redis.Bool(r[0], nil)
	if err != nil {
		return message.User{}, err
	}
	if !valid {
		return message.User{}, ErrBadToken
	}
	raw, err := redis.Bytes(r[1], nil)
	if err == redis.ErrNil {
		return message.User{}, ErrBadToken // the account is gone
	}
	if err != nil {
		return message.User{}, err
	}
	var u message.User
	if err := json.Unmarshal(raw, &u); err != nil {
		return message.User{}, err
	}
	u.UserID, u.UserPwd = userID, ""
	return u, nil
}

// RevokeToken forgets userID's token; revoking a token that is already gone is
// not an error.
func (s *RedisUserStore) RevokeToken(ctx context.Context, userID int, token string) error {
	conn, err := get(ctx, s.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Do("DEL", tokenKey(userID, hashToken(token)))
	return err
}

// hashToken is the name under which a token is kept.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
