package model

import "github.com/gomodule/redigo/redis"

// accounts says where the accounts live: in the course's one "users" hash on a
// single Redis, under a key per user (userKey) on a Redis Cluster, where one
// hash would put every account on one slot and one primary.
type accounts struct {
	perUser bool
}

func accountsOn(pool *redis.Pool) accounts { return accounts{perUser: onCluster(pool) != nil} }

// create is the command that stores data as id's account unless it exists: it
// answers 1 (or OK) if it did, 0 (or nil) if the id was taken.
func (a accounts) create(id int, data []byte) (string, []any) {
	if a.perUser {
		return "SET", []any{userKey(id), data, "NX"}
	}
	return "HSETNX", []any{usersKey, id, data}
}

// created reads create's reply.
func (a accounts) created(reply any, err error) (bool, error) {
	if a.perUser {
		if err != nil {
			return false, err
		}
		return reply != nil, nil
	}
	return redis.Bool(reply, err)
}

// exists is the command that answers 1 if id has an account.
func (a accounts) exists(id int) (string, []any) {
	if a.perUser {
		return "EXISTS", []any{userKey(id)}
	}
	return "HEXISTS", []any{usersKey, id}
}

// get is the command that answers id's account, or nil.
func (a accounts) get(id int) (string, []any) {
	if a.perUser {
		return "GET", []any{userKey(id)}
	}
	return "HGET", []any{usersKey, id}
}

// location is where id's account is, as the scripts take it: its key, and its
// field in that hash ("" for a key of its own).
func (a accounts) location(id int) (key string, field any) {
	if a.perUser {
		return userKey(id), ""
	}
	return usersKey, id
}

// replace runs compareAndSetScript's arguments: the key and the field, if any.
func (a accounts) replace(id int, old, data []byte) []any {
	key, field := a.location(id)
	return []any{key, field, old, data}
}
