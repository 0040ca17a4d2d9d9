package chat

import "testing"

func TestHubRestore(t *testing.T) {
	older, failed, newer := &session{user: 7}, &session{user: 7}, &session{user: 7}
	tests := []struct {
		name    string
		before  *session // the session of user 7 before the failed login, if any
		replace bool     // a newer login took over before the failed one was undone
		want    *session // the session after restore
	}{
		{"no earlier session: none again", nil, false, nil},
		{"earlier session: it again", older, false, older},
		{"replaced meanwhile, no earlier session: the newer stays", nil, true, newer},
		{"replaced meanwhile, earlier session: the newer stays", older, true, newer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hub{conns: map[int]*session{}}
			other := &session{user: 8}
			h.add(other)
			if tt.before != nil {
				h.add(tt.before)
			}
			prev := h.add(failed)
			if prev != tt.before {
				t.Fatalf("add: got previous %p, want %p", prev, tt.before)
			}
			if tt.replace {
				h.add(newer)
			}
			h.restore(failed, prev)
			got, ok := h.conns[7]
			if got != tt.want || ok != (tt.want != nil) {
				t.Errorf("session of 7: got %p (present %v), want %p", got, ok, tt.want)
			}
			if h.get(8) != other {
				t.Errorf("session of 8: got %p, want %p: restore touched another user", h.get(8), other)
			}
		})
	}
}
