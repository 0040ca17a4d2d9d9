package message

import "testing"

func TestValidText(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", true}, // length limits are the caller's
		{"scott", true},
		{"张三", true},
		{"😀 é", true},
		{"a b", true},
		{"\u00a0", true}, // no-break space is printable
		{"a\nb", false},
		{"tab\t", false},
		{"\x00", false},
		{"\x1f", false},
		{"\x7f", false},
		{"\u0080", false}, // C1 controls
		{"\u009f", false},
		{"\xff", false}, // invalid UTF-8
		{"ok\xc3", false},
	}
	for _, tt := range tests {
		if got := ValidText(tt.s); got != tt.want {
			t.Errorf("ValidText(%q): got %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestValidContent(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"hello", true},
		{"two\nlines", true},
		{"a\tb", true},
		{"שלום \u202bmixed\u202c", true}, // bidi in content is the writer's business; clients escape it
		{"nul\x00", false},
		{"\x1b[2J clear screen", false},
		{"\x1b]0;title\x07", false},
		{"carriage\rreturn", false},
		{"del\x7f", false},
		{"csi\u009b2J", false}, // C1 CSI
		{"bad\xff", false},
		{"ascii then é\tand\nmore", true},
		{"é then \x1b", false},
		{"ascii then nel\u0085", false},
		{"ascii then bad\xe2\x82", false},
	}
	for _, tt := range tests {
		if got := ValidContent(tt.s); got != tt.want {
			t.Errorf("ValidContent(%q): got %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"scott", true},
		{"张三", true},
		{"José María", true},
		{"😀", true},
		{"Zoë", true},
		{"a\u0301", true},         // a combining accent shows
		{"\u202eevil", false},     // right-to-left override
		{"ad\u2066min", false},    // left-to-right isolate
		{"ad\u200emin", false},    // left-to-right mark
		{"ad\u200bmin", false},    // zero-width space
		{"ad\u200dmin", false},    // zero-width joiner
		{"\ufeffadmin", false},    // byte order mark
		{"ad\u00admin", false},    // soft hyphen
		{"ad\u2028min", false},    // line separator
		{"ad\u3000min", false},    // ideographic space
		{"ad\u00a0min", false},    // no-break space
		{"\u3164", false},         // Hangul filler
		{"ad\u034fmin", false},    // combining grapheme joiner
		{"\ue000", false},         // private use
		{"\U000e0041dmin", false}, // tag character
		{"tab\t", false},
		{"\x1b[31mred", false},
		{"bad\xff", false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.s); got != tt.want {
			t.Errorf("ValidName(%q): got %v, want %v", tt.s, got, tt.want)
		}
	}
}
