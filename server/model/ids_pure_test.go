package model

import "testing"

func TestValidIDForms(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"1700000000000-0", true},
		{"0-0", true},
		{"1-18446744073709551615", true},
		{"", false},
		{"-", false},
		{"1700000000000", false},
		{"1700000000000-", false},
		{"-0", false},
		{"17a-0", false},
		{"1-2-3", false},
		{" 1-2", false},
		{"+1-2", false},
		{"123456789012345678901-0", false}, // 21 digits
		{"1-123456789012345678901", false},
		{"99999999999999999999-0", false}, // 20 digits, over 2^64-1: Redis would refuse it
		{"18446744073709551616-0", false},
		{"18446744073709551615-18446744073709551615", true},
		{"c-1", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestIDTimeOfID(t *testing.T) {
	tests := []struct {
		id   string
		want int64
	}{
		{"1700000000123-5", 1700000000123},
		{"0-0", 0},
		{"42-0", 42},
	}
	for _, tt := range tests {
		if got := IDTime(tt.id); got != tt.want {
			t.Errorf("IDTime(%q): got %d, want %d", tt.id, got, tt.want)
		}
	}
}

func TestCompareIDsOrder(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0},
		{"1-0", "2-0", -1},
		{"2-0", "1-0", 1},
		{"9-0", "10-0", -1}, // numeric, not lexical
		{"10-0", "9-0", 1},
		{"5-9", "5-10", -1},
		{"5-10", "5-9", 1},
		{"1700000000000-1", "1700000000001-0", -1},
		{"1700000000001-0", "1700000000000-99", 1},
		{"99999999999999-0", "100000000000000-0", -1},
	}
	for _, tt := range tests {
		if got := CompareIDs(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareIDs(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseSessionRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    Session
	}{
		{"plain", Session{Node: "n1", ID: "abc-1", Name: "alice"}},
		{"name with spaces", Session{Node: "node-2", ID: "x7", Name: "Mary Ann Smith"}},
		{"name with trailing space", Session{Node: "n", ID: "1", Name: "bob "}},
		{"multi-byte name", Session{Node: "n", ID: "1", Name: "张 三"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseSession(tt.s.String())
			if !ok || got != tt.s {
				t.Errorf("parseSession(%q): got %+v, %v, want %+v, true", tt.s.String(), got, ok, tt.s)
			}
		})
	}
	for _, bad := range []string{"", "n1", "n1-only-node"} {
		if got, ok := parseSession(bad); ok {
			t.Errorf("parseSession(%q): got %+v, true, want false", bad, got)
		}
	}
}
