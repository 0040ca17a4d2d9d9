package message

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"chat/common/frame"
)

// decodeSms reads back the SmsMes of a whole frame.
func decodeSms(t *testing.T, f []byte) SmsMes {
	t.Helper()
	body, err := frame.Read(bytes.NewReader(f), MaxFrame, nil)
	if err != nil {
		t.Fatalf("frame.Read: %v", err)
	}
	m, err := Decode(body)
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	var sms SmsMes
	if err := Unpack(m, &sms); err != nil {
		t.Fatalf("Unpack(%q): %v", m.Data, err)
	}
	return sms
}

func TestEncodeWithoutHTMLEscaping(t *testing.T) {
	content := `<b>fish & chips</b> > 3 < 4`
	body, err := Encode(SmsMesType, SmsMes{Content: content, UserID: 1, UserName: "<&>"})
	if err != nil {
		t.Fatal(err)
	}
	for _, escaped := range []string{`\u003c`, `\u003e`, `\u0026`} {
		if bytes.Contains(body, []byte(escaped)) {
			t.Errorf("got body %s, want no %s", body, escaped)
		}
	}
	if !bytes.Contains(body, []byte(content)) {
		t.Errorf("got body %s, want the content as it is", body)
	}
	f, err := EncodeFrame(SmsMesType, SmsMes{Content: content, UserID: 1, UserName: "<&>"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f[frame.HeaderLen:], body) {
		t.Errorf("got frame body %s, want Encode's %s", f[frame.HeaderLen:], body)
	}
	if got := decodeSms(t, f); got.Content != content || got.UserName != "<&>" {
		t.Errorf("got %+v, want content %q and name %q", got, content, "<&>")
	}
	if len(f) != cap(f) {
		t.Errorf("got a frame of %d bytes in %d, want it allocated at its size", len(f), cap(f))
	}
}

func TestFitSmsFrame(t *testing.T) {
	tests := []struct {
		name    string
		content string
		limit   int
		cut     bool
	}{
		{"fits as it is", "hello", MaxClassicFrame, false},
		{"4096 <", strings.Repeat("<", MaxContentLen), MaxClassicFrame, false},
		{"4096 quotes", strings.Repeat(`"`, MaxContentLen), MaxClassicFrame, true},
		{"4096 backslashes", strings.Repeat(`\`, MaxContentLen), MaxClassicFrame, true},
		{"4096 control bytes", strings.Repeat("\x01", MaxContentLen), MaxClassicFrame, true},
		{"line separators", strings.Repeat("\u2028", MaxContentLen/3), MaxClassicFrame, true},
		{"é", strings.Repeat("é", MaxContentLen/2), 1000, true},
		{"emoji", strings.Repeat("😀", MaxContentLen/4), 1000, true},
		{"emoji after one byte", "a" + strings.Repeat("😀", 1000), 1001, true},
		{"mixed", strings.Repeat("<\"\\é😀\n", 400), 4000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := SmsMes{Content: tt.content, UserID: 2147483647, UserName: `"name"`, MsgID: "g1.2", SentAt: 1700000000000}
			f, err := FitSmsFrame(m, nil, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(f) > tt.limit {
				t.Fatalf("got a frame of %d bytes, want at most %d", len(f), tt.limit)
			}
			got := decodeSms(t, f)
			if got.UserID != m.UserID || got.UserName != m.UserName || got.MsgID != m.MsgID || got.SentAt != m.SentAt {
				t.Errorf("got %+v, want the fields of %+v", got, m)
			}
			if !tt.cut {
				if got.Content != tt.content {
					t.Errorf("got content %q, want it whole", got.Content)
				}
				return
			}
			kept, ok := strings.CutSuffix(got.Content, CutMarker)
			if !ok || !strings.HasPrefix(tt.content, kept) || len(kept) >= len(tt.content) {
				t.Fatalf("got content %q, want a prefix of the content and %q", got.Content, CutMarker)
			}
			if !utf8.ValidString(kept) {
				t.Errorf("got %q, want it cut at a UTF-8 boundary", kept)
			}
			// As much as fits: one more character would not.
			_, size := utf8.DecodeRuneInString(tt.content[len(kept):])
			m.Content = tt.content[:len(kept)+size] + CutMarker
			if longer, err := EncodeFrame(SmsMesType, m); err != nil || len(longer) <= tt.limit {
				t.Errorf("one more character gives %d bytes (%v), want over %d: cut too early", len(longer), err, tt.limit)
			}
		})
	}
	if _, err := FitSmsFrame(SmsMes{Content: strings.Repeat("x", 100)}, nil, 20); err != ErrNoFit {
		t.Errorf("a limit below the marker's frame: got %v, want ErrNoFit", err)
	}
}

// TestCutPointCountsEveryCharacter checks cutPoint against the encoders on every
// character of the first planes and some beyond: a whole string costs what its
// frame grows by.
func TestCutPointCountsEveryCharacter(t *testing.T) {
	base, _ := EncodeFrame(SmsMesType, SmsMes{})
	var runes []rune
	for r := rune(0); r < 0x3000; r++ {
		runes = append(runes, r)
	}
	runes = append(runes, 0xfeff, 0xfffd, 0x1f600, 0x10ffff)
	for _, r := range runes {
		s := strings.Repeat(string(r), 3)
		f, err := EncodeFrame(SmsMesType, SmsMes{Content: s})
		if err != nil {
			t.Fatal(err)
		}
		cost := len(f) - len(base)
		if got := cutPoint(s, cost); got != len(s) {
			t.Fatalf("%U: cutPoint with the whole cost %d = %d, want %d", r, cost, got, len(s))
		}
		if got, want := cutPoint(s, cost-1), len(s)-len(string(r)); got != want {
			t.Fatalf("%U: cutPoint with one byte less = %d, want %d", r, got, want)
		}
	}
	if !json.Valid(base[frame.HeaderLen:]) {
		t.Errorf("got invalid JSON %s", base)
	}
}

func TestQuotedLen(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "\n\r\t\b\f\x00\x1f\x7f", "é😀\u2028", `{"a":"<b>"}`} {
		if got, want := quotedLen(s), len(appendString(nil, s)); got != want {
			t.Errorf("quotedLen(%q) = %d, want %d", s, got, want)
		}
	}
}
