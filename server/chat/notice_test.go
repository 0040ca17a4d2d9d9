package chat

import (
	"testing"

	"chat/server/model"
)

func TestMessageNoticeRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		previous string
		m        model.Stored
	}{
		{"first in inbox", "", model.Stored{ID: "1700000000000-0", From: 7, FromName: "alice", Content: "hi", SentAt: 1700000000000}},
		{"after another", "1700000000000-0", model.Stored{ID: "1700000000001-3", From: 2147483647, FromName: "a b c", Content: "spaces and\nnewlines 你好", SentAt: 1700000000001}},
		{"name with digits and spaces", "5-5", model.Stored{ID: "6-0", From: 1, FromName: "12 34", Content: " leading space", SentAt: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := messageNotice(42, tt.previous, tt.m)
			user, previous, got, ok := parseMessageNotice(n[2:])
			if !ok || user != 42 || previous != tt.previous || got != tt.m {
				t.Fatalf("got %d %q %+v %v, want 42 %q %+v true", user, previous, got, ok, tt.previous, tt.m)
			}
		})
	}
	for _, bad := range []string{"", "1 2", "x - 1-0 7 5 alice", "1 - 1-0 7 99 short", "1 - 1-0 7 -1 x"} {
		if _, _, _, ok := parseMessageNotice([]byte(bad)); ok {
			t.Errorf("parseMessageNotice(%q): got ok, want a refusal", bad)
		}
	}
}
