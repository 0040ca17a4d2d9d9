package model

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Session tokens let a proto-2 client log in again without its password: a
// reconnect costs a hash and one Redis round trip instead of a bcrypt check
// (RedisLoginLimiter.CheckToken checks them).
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
