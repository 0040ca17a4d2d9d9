package chat

import (
	"bytes"
	"fmt"
	"testing"

	"chat/common/frame"
	"chat/common/message"
)

// presenceFrames pages a tick's changes into NotifyUsersStatusMes frames that fit
// the send limit, and lays out one NotifyUserStatusMes per change for classic
// sessions, each where own says.
func TestPresenceFrames(t *testing.T) {
	tests := []struct {
		name      string
		changes   int
		maxFrame  int
		wantPages int // 0: at least two, as many as the limit takes
	}{
		{"one change", 1, 0, 1},
		{"a full page", maxPresencePage, 0, 1},
		{"pages of the most users", 2*maxPresencePage + 1, 0, 3},
		{"pages cut to a small frame limit", 100, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{MaxFrame: tt.maxFrame}, Stores{})
			changes := make([]presenceChange, tt.changes)
			for i := range changes {
				changes[i] = presenceChange{UserID: i + 1, Status: i % 2, UserName: fmt.Sprintf("user \"%d\" 你好", i+1)}
			}
			list, classic, own := s.presenceFrames(changes)

			var users []presenceChange
			pages := 0
			for r := bytes.NewReader(list); r.Len() > 0; pages++ {
				body, err := frame.Read(r, s.sendLimit(), nil) // a longer page fails
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				var m message.NotifyUsersStatusMes
				unpackBody(t, body, message.NotifyUsersStatusMesType, &m)
				users = append(users, m.Users...)
			}
			if tt.wantPages > 0 && pages != tt.wantPages || tt.wantPages == 0 && pages < 2 {
				t.Errorf("got %d pages, want %d (0: two or more)", pages, tt.wantPages)
			}
			if fmt.Sprint(users) != fmt.Sprint(changes) {
				t.Errorf("pages hold %d users, want the %d changes in order", len(users), len(changes))
			}
			for i, ch := range changes {
				span := own[ch.UserID]
				r := bytes.NewReader(classic[span[0]:span[1]])
				body, err := frame.Read(r, message.MaxClassicFrame, nil)
				if err != nil || r.Len() != 0 {
					t.Fatalf("change %d: its classic frame is not where own says (%v)", i, err)
				}
				var m message.NotifyUserStatusMes
				unpackBody(t, body, message.NotifyUserStatusMesType, &m)
				if m != ch {
					t.Errorf("change %d: got %+v, want %+v", i, m, ch)
				}
			}
		})
	}
}

// unpackBody decodes a frame body of type typ into v.
func unpackBody(t *testing.T, body []byte, typ string, v any) {
	t.Helper()
	env, err := message.Decode(body)
	if err == nil && env.Type != typ {
		err = fmt.Errorf("type %s", env.Type)
	}
	if err == nil {
		err = message.Unpack(env, v)
	}
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}
