package model

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"strings"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"

	"chat/common/message"
)

// RedisUserStore keeps accounts in the hash "users", one JSON value per user id,
// as the classic course does.
type RedisUserStore struct {
	pool *redis.Pool
	cost int // bcrypt cost of new hashes
}

// NewRedisUserStore returns a store that hashes passwords with bcrypt at cost.
func NewRedisUserStore(pool *redis.Pool, cost int) *RedisUserStore {
	return &RedisUserStore{pool: pool, cost: cost}
}

// Register creates u, storing a hash of its password. It returns ErrUserExists
// when the id is taken; HSETNX makes two concurrent registrations of one id give
// exactly one winner.
func (s *RedisUserStore) Register(ctx context.Context, u message.User) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(u.UserPwd), s.cost)
	if err != nil {
		return err
	}
	u.UserPwd = string(hash)
	u.UserStatus = message.UserOffline
	data, err := json.Marshal(u)
	if err != nil {
		return err
	}
	conn, err := get(ctx, s.pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	created, err := redis.Bool(conn.Do("HSETNX", usersKey, u.UserID, data))
	if err != nil {
		return err
	}
	if !created {
		return ErrUserExists
	}
	return nil
}

// Exists reports whether an account has the id: a registration of a taken id is
// answered before any password work.
func (s *RedisUserStore) Exists(ctx context.Context, id int) (bool, error) {
	conn, err := get(ctx, s.pool)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	return redis.Bool(conn.Do("HEXISTS", usersKey, id))
}

// Authenticate returns the user whose id and password match. A password stored in
// plaintext (a test user added by hand, the course's way) is accepted and replaced
// by its hash, unless the record changed meanwhile.
func (s *RedisUserStore) Authenticate(ctx context.Context, id int, password string) (message.User, error) {
	conn, err := get(ctx, s.pool)
	if err != nil {
		return message.User{}, err
	}
	defer conn.Close()
	raw, err := redis.Bytes(conn.Do("HGET", usersKey, id))
	if err == redis.ErrNil {
		return message.User{}, ErrUserNotFound
	}
	if err != nil {
		return message.User{}, err
	}
	var u message.User
	if err := json.Unmarshal(raw, &u); err != nil {
		return message.User{}, err
	}
	u.UserID = id // hand-written records may leave the id out
	if !isHash(u.UserPwd) {
		if subtle.ConstantTimeCompare([]byte(u.UserPwd), []byte(password)) != 1 {
			return message.User{}, ErrWrongPassword
		}
		// bcrypt takes at most 72 bytes: a longer plaintext stays as it is.
		if len(u.UserPwd) <= message.MaxPasswordLen {
			if err := s.upgradePassword(conn, raw, u); err != nil {
				return message.User{}, err
			}
		}
	} else if bcrypt.CompareHashAndPassword([]byte(u.UserPwd), []byte(password)) != nil {
		return message.User{}, ErrWrongPassword
	}
	u.UserPwd = ""
	return u, nil
}

// isHash tells a bcrypt hash from a plaintext password.
func isHash(pwd string) bool {
	return strings.HasPrefix(pwd, "$2a$") || strings.HasPrefix(pwd, "$2b$") || strings.HasPrefix(pwd, "$2y$")
}

func (s *RedisUserStore) upgradePassword(conn redis.Conn, old []byte, u message.User) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(u.UserPwd), s.cost)
	if err != nil {
		return err
	}
	u.UserPwd = string(hash)
	data, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = compareAndSetScript.Do(conn, usersKey, u.UserID, old, data)
	return err
}
