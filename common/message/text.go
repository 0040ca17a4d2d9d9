package message

import (
	"unicode"
	"unicode/utf8"
)

// Text checks of docs/PROTOCOL.md's Limits: what a terminal would act on (control
// characters move the cursor, recolour or retitle it) never travels as a message,
// and a name shows every character it holds.

// isControl reports whether r is a C0 control, DEL or a C1 control.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// ValidText reports whether s is valid UTF-8 without control characters.
func ValidText(s string) bool { return validRunes(s, isControl) }

// ValidContent reports whether s is valid UTF-8 whose only control characters
// are tab and newline, as docs/PROTOCOL.md requires of message content.
func ValidContent(s string) bool {
	// Most content is ASCII: checked a byte at a time up to the first byte that is not.
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return validRunes(s[i:], contentControl)
		case contentControl(rune(c)):
			return false
		}
	}
	return true
}

// contentControl reports whether r is a control character content must not hold.
func contentControl(r rune) bool { return isControl(r) && r != '\t' && r != '\n' }

// validRunes reports whether s is valid UTF-8 without a rune that bad accepts.
func validRunes(s string, bad func(rune) bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if bad(r) {
			return false
		}
	}
	return true
}

// ValidName reports whether s is valid UTF-8 in which every character shows,
// as docs/PROTOCOL.md requires of user names: no control characters, no format
// characters (bidi controls that reorder what follows, zero-width spaces and
// joiners, the byte order mark, soft hyphens: Unicode category Cf), no line or
// paragraph separators, no spaces but the plain one, no private-use, surrogate
// or unassigned code points, and none of the fillers that render as nothing.
// A name that passes cannot pose as another by hiding what it holds.
func ValidName(s string) bool { return validRunes(s, hidden) }

// hidden reports whether r does not show as itself in a name.
func hidden(r rune) bool {
	return isControl(r) ||
		unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) ||
		unicode.Is(unicode.Zs, r) && r != ' ' ||
		invisible[r] ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs)
}

// invisible lists letters and marks that render as blank or nothing.
var invisible = map[rune]bool{
	0x034f: true, // combining grapheme joiner
	0x115f: true, // Hangul choseong filler
	0x1160: true, // Hangul jungseong filler
	0x17b4: true, // Khmer vowel inherent aq
	0x17b5: true, // Khmer vowel inherent aa
	0x2800: true, // Braille pattern blank
	0x3164: true, // Hangul filler
	0xffa0: true, // halfwidth Hangul filler
}
