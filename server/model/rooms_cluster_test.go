package model

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// Rooms behave as on one Redis: create, join, messages, members, leave and
// kick, with their limits; and a join or a leave cut short between its steps
// is completed by its retry.
func TestRoomsBothLayouts(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		ctx := context.Background()
		r.register(t, 1, 2, 3, 4)
		rooms := NewRedisRooms(r.pool, time.Minute, Retention{})
		room, err := rooms.Create(ctx, 1, "hall", 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rooms.Create(ctx, 1, "second", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := rooms.Create(ctx, 1, "third", 2); !errors.Is(err, ErrTooManyRooms) {
			t.Errorf("a third room for a user of 2 at most: got %v, want ErrTooManyRooms", err)
		}
		joins := []struct {
			room, user int
			want       error
		}{
			{room, 2, nil},
			{room, 2, ErrAlreadyMember},
			{room + 100, 2, ErrNoSuchRoom},
			{room, 3, nil},
			{room, 4, ErrRoomFull}, // 3 members at most
		}
		for _, j := range joins {
			if _, err := rooms.Join(ctx, j.room, j.user, 3, 2); !errors.Is(err, j.want) {
				t.Errorf("join %d to %d: got %v, want %v", j.user, j.room, err, j.want)
			}
		}
		first, err := rooms.Send(ctx, room, 2, "u2", "hello", "m1", Limit{})
		if err != nil || first.RoomName != "hall" || first.Previous != "" {
			t.Fatalf("send: got %+v, %v", first, err)
		}
		if again, err := rooms.Send(ctx, room, 2, "u2", "hello", "m1", Limit{}); err != nil || !again.Duplicate || again.MsgID != first.MsgID {
			t.Errorf("resend: got %+v, %v, want a duplicate of %s", again, err, first.MsgID)
		}
		if _, err := rooms.Send(ctx, room, 4, "u4", "hi", "", Limit{}); !errors.Is(err, ErrNotMember) {
			t.Errorf("send by a stranger: got %v, want ErrNotMember", err)
		}
		rate := Limit{Rate: 0.01, Burst: 1}
		if _, err := rooms.Send(ctx, room, 3, "u3", "one", "", rate); err != nil {
			t.Errorf("first message at 1 a burst: %v", err)
		}
		if _, err := rooms.Send(ctx, room, 3, "u3", "two", "", rate); !errors.Is(err, ErrRateLimited) {
			t.Errorf("second message at 1 a burst: got %v, want ErrRateLimited", err)
		}
		ms, err := rooms.Memberships(ctx, 2)
		if err != nil || len(ms) != 1 || ms[0].Name != "hall" || ms[0].Cursor != first.MsgID {
			t.Errorf("2's rooms: got %+v, %v, want hall with its cursor at its own message %s", ms, err, first.MsgID)
		}
		total, members, err := rooms.Members(ctx, room, 1, 0, 10)
		if err != nil || total != 3 || len(members) != 3 || members[2].UserName != "u3" {
			t.Errorf("members: got %d %+v, %v, want u1 u2 u3", total, members, err)
		}
		msgs, err := rooms.Read(ctx, room, 1, "0-0", 10)
		if err != nil || !slices.Equal(contents(msgs), []string{"hello", "one"}) {
			t.Errorf("read: got %v, %v, want hello, one", contents(msgs), err)
		}
		if _, _, err := rooms.Remove(ctx, room, 2, 3); !errors.Is(err, ErrNotMember) {
			t.Errorf("a kick by a member who is not the owner: got %v, want ErrNotMember", err)
		}
		if name, who, err := rooms.Remove(ctx, room, 1, 3); err != nil || name != "hall" || who != "u3" {
			t.Errorf("kick: got %q %q, %v, want hall, u3", name, who, err)
		}
		if name, _, err := rooms.Remove(ctx, room, 1, 1); err != nil || name != "hall" {
			t.Errorf("the owner leaves: got %q, %v", name, err)
		}
		// 2 is the owner now: it can kick.
		if _, err := rooms.Join(ctx, room, 4, 3, 2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rooms.Remove(ctx, room, 2, 4); err != nil {
			t.Errorf("a kick by the new owner: %v", err)
		}
		if _, _, err := rooms.Remove(ctx, room, 2, 2); err != nil {
			t.Errorf("the last member leaves: %v", err)
		}
		if _, err := rooms.Join(ctx, room, 3, 3, 2); !errors.Is(err, ErrNoSuchRoom) {
			t.Errorf("join a room its last member left: got %v, want ErrNoSuchRoom", err)
		}
		if r.cluster == nil {
			return
		}
		// A join cut short after its first step: the retry lists the room.
		other, err := rooms.Create(ctx, 4, "other", 2)
		if err != nil {
			t.Fatal(err)
		}
		r.do(t, "ZADD", roomMembersKey(other), 3, 3)
		if _, err := rooms.Join(ctx, other, 3, 3, 2); !errors.Is(err, ErrAlreadyMember) {
			t.Errorf("retried join: got %v, want ErrAlreadyMember", err)
		}
		if ms, _ := rooms.Memberships(ctx, 3); len(ms) != 1 || ms[0].Room != other {
			t.Errorf("3's rooms after the retried join: got %+v, want the room", ms)
		}
		// A leave cut short after its first step: the retry unlists the room.
		r.do(t, "ZREM", roomMembersKey(other), 3)
		if _, _, err := rooms.Remove(ctx, other, 3, 3); !errors.Is(err, ErrNotMember) {
			t.Errorf("retried leave: got %v, want ErrNotMember", err)
		}
		if ms, _ := rooms.Memberships(ctx, 3); len(ms) != 0 {
			t.Errorf("3's rooms after the retried leave: got %+v, want none", ms)
		}
	})
}
