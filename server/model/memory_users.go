package model

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"time"

	"golang.org/x/crypto/bcrypt"

	"chat/common/message"
)

// MemoryUserStore is RedisUserStore on a Memory: accounts with bcrypt hashes and
// session tokens kept under their hash, with their TTL.
type MemoryUserStore struct {
	m    *Memory
	cost int // bcrypt cost of new hashes
}

// NewMemoryUserStore returns a store on m that hashes passwords with bcrypt at cost.
func NewMemoryUserStore(m *Memory, cost int) *MemoryUserStore {
	return &MemoryUserStore{m: m, cost: cost}
}

// Put stores u as it is, its password in plaintext if so given: an account added
// by hand, as the course adds its test user to Redis.
func (s *MemoryUserStore) Put(u message.User) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.users[u.UserID] = u
}

// Register creates u with a hash of its password; ErrUserExists if the id is taken.
func (s *MemoryUserStore) Register(ctx context.Context, u message.User) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(u.UserPwd), s.cost)
	if err != nil {
		return err
	}
	u.UserPwd = string(hash)
	u.UserStatus = message.UserOffline
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, taken := s.m.users[u.UserID]; taken {
		return ErrUserExists
	}
	s.m.users[u.UserID] = u
	return nil
}

// Exists reports whether an account has the id.
func (s *MemoryUserStore) Exists(ctx context.Context, id int) (bool, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	_, ok := s.m.users[id]
	return ok, nil
}

// Authenticate returns the user whose id and password match; a plaintext password
// is accepted and replaced by its hash unless the account changed meanwhile.
func (s *MemoryUserStore) Authenticate(ctx context.Context, id int, password string) (message.User, error) {
	s.m.mu.Lock()
	old, ok := s.m.users[id]
	s.m.mu.Unlock()
	if !ok {
		return message.User{}, ErrUserNotFound
	}
	u := old
	u.UserID = id
	if !isHash(u.UserPwd) {
		if subtle.ConstantTimeCompare([]byte(u.UserPwd), []byte(password)) != 1 {
			return message.User{}, ErrWrongPassword
		}
		// bcrypt takes at most 72 bytes: a longer plaintext stays as it is.
		if len(u.UserPwd) <= message.MaxPasswordLen {
			hash, err := bcrypt.GenerateFromPassword([]byte(u.UserPwd), s.cost)
			if err != nil {
				return message.User{}, err
			}
			s.m.mu.Lock()
			if s.m.users[id] == old {
				old.UserPwd = string(hash)
				s.m.users[id] = old
			}
			s.m.mu.Unlock()
		}
	} else if bcrypt.CompareHashAndPassword([]byte(u.UserPwd), []byte(password)) != nil {
		return message.User{}, ErrWrongPassword
	}
	u.UserPwd = ""
	return u, nil
}

// IssueToken creates a session token for userID that expires after ttl.
func (s *MemoryUserStore) IssueToken(ctx context.Context, userID int, ttl time.Duration) (string, error) {
	token := rand.Text()
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	s.m.tokens[tokenKey(userID, hashToken(token))] = s.m.now().Add(ttl)
	return token, nil
}

// tokenUser returns user userID if token is one of its valid tokens and the
// account exists; the caller holds m.mu.
func (m *Memory) tokenUser(userID int, token string) (message.User, bool) {
	key := tokenKey(userID, hashToken(token))
	expires, ok := m.tokens[key]
	if ok && !m.now().Before(expires) {
		delete(m.tokens, key)
		ok = false
	}
	u, exists := m.users[userID]
	if !ok || !exists {
		return message.User{}, false
	}
	u.UserID, u.UserPwd = userID, ""
	return u, true
}

// RevokeToken forgets userID's token.
func (s *MemoryUserStore) RevokeToken(ctx context.Context, userID int, token string) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	delete(s.m.tokens, tokenKey(userID, hashToken(token)))
	return nil
}
