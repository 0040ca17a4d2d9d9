package main

import "testing"

func TestRoomLayoutGivesEveryRoomItsMembers(t *testing.T) {
	tests := []struct {
		name string
		l    roomLayout
		per  int // rooms of every user
	}{
		{"1000 rooms of 100 over 10,000 users", roomLayout{Rooms: 1000, Members: 100, Users: 10000}, 10},
		{"one room of 5,000", roomLayout{Rooms: 1, Members: 5000, Users: 5000}, 1},
		{"20 rooms of 10 over 100 users", roomLayout{Rooms: 20, Members: 10, Users: 100}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members := make([]map[int]bool, tt.l.Rooms)
			for r := range members {
				members[r] = map[int]bool{}
			}
			for g := range tt.l.Users {
				rs := tt.l.roomsOf(g)
				if len(rs) != tt.per {
					t.Fatalf("user %d is in %d rooms, want %d", g, len(rs), tt.per)
				}
				for _, r := range rs {
					members[r][g] = true
				}
			}
			for r, m := range members {
				if len(m) != tt.l.Members {
					t.Fatalf("room %d has %d members, want %d", r, len(m), tt.l.Members)
				}
				if !m[tt.l.creator(r)] {
					t.Fatalf("room %d: its creator %d is not a member", r, tt.l.creator(r))
				}
			}
		})
	}
}

func TestMsgIDBefore(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"7:1700000000000-0", "7:1700000000000-1", true},
		{"7:1700000000000-9", "7:1700000000000-10", true},
		{"7:1699999999999-5", "7:1700000000000-0", true},
		{"7:1700000000000-1", "7:1700000000000-1", false},
		{"7:1700000000001-0", "7:1700000000000-3", false},
	}
	for _, tt := range tests {
		if got := msgIDBefore(tt.a, tt.b); got != tt.want {
			t.Errorf("msgIDBefore(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
