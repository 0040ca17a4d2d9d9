package message

import (
	"strconv"
	"unicode/utf8"
)

// Hand-written encoders of the payloads on the hot paths (a private message and
// its answer, a group message, presence, errors, acks). They write exactly the
// bytes the payload encoder's json.Encoder (SetEscapeHTML(false)) writes for the
// same value (same field order, omitempty, string escaping): appendPayload reports
// false for every other type, which goes through that encoder.
//
// Each writes its payload bare (plain JSON) or nested: as the envelope's data, a
// JSON string holding that JSON, in which each quote and backslash the JSON holds
// is escaped once more. Writing a frame's payload nested, rather than escaping its
// bare JSON afterwards, puts the frame together in one pass.

// appendPayload appends the JSON of v to dst, nested or bare, if v is one of the
// payloads written by hand (a value or a pointer that is not nil).
func appendPayload(dst []byte, v any, nested bool) ([]byte, bool) {
	switch p := v.(type) {
	case PrivateMes:
		return appendPrivateMes(dst, &p, nested), true
	case PrivateResMes:
		return appendPrivateResMes(dst, &p, nested), true
	case SmsMes:
		return appendSmsMes(dst, &p, nested), true
	case SmsResMes:
		return appendCodeError(dst, p.Code, p.Error, `,"msgId":`, p.MsgID, nested), true
	case ErrorResMes:
		return appendCodeError(dst, p.Code, p.Error, `,"refType":`, p.RefType, nested), true
	case NotifyUserStatusMes:
		return appendNotify(dst, &p, nested), true
	case AckMes:
		return appendAckMes(dst, &p, nested), true
	case *PrivateMes:
		if p != nil {
			return appendPrivateMes(dst, p, nested), true
		}
	case *PrivateResMes:
		if p != nil {
			return appendPrivateResMes(dst, p, nested), true
		}
	case *SmsMes:
		if p != nil {
			return appendSmsMes(dst, p, nested), true
		}
	case *SmsResMes:
		if p != nil {
			return appendCodeError(dst, p.Code, p.Error, `,"msgId":`, p.MsgID, nested), true
		}
	case *ErrorResMes:
		if p != nil {
			return appendCodeError(dst, p.Code, p.Error, `,"refType":`, p.RefType, nested), true
		}
	case *NotifyUserStatusMes:
		if p != nil {
			return appendNotify(dst, p, nested), true
		}
	case *AckMes:
		if p != nil {
			return appendAckMes(dst, p, nested), true
		}
	}
	return dst, false
}

// appendLit appends a piece of JSON without strings in it (punctuation and keys),
// its quotes escaped when nested.
func appendLit(b []byte, lit string, nested bool) []byte {
	if !nested {
		return append(b, lit...)
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] == '"' {
			b = append(b, '\\')
		}
		b = append(b, lit[i])
	}
	return b
}

func appendPrivateMes(b []byte, m *PrivateMes, nested bool) []byte {
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = appendLit(b, name, nested)
	}
	if m.MsgID != "" {
		field(`"msgId":`)
		b = appendStringAt(b, m.MsgID, nested)
	}
	if m.FromUserID != 0 {
		field(`"fromUserId":`)
		b = strconv.AppendInt(b, int64(m.FromUserID), 10)
	}
	if m.FromUserName != "" {
		field(`"fromUserName":`)
		b = appendStringAt(b, m.FromUserName, nested)
	}
	field(`"toUserId":`)
	b = strconv.AppendInt(b, int64(m.ToUserID), 10)
	b = appendLit(b, `,"content":`, nested)
	b = appendStringAt(b, m.Content, nested)
	if m.ClientMsgID != "" {
		b = appendLit(b, `,"clientMsgId":`, nested)
		b = appendStringAt(b, m.ClientMsgID, nested)
	}
	if m.SentAt != 0 {
		b = appendLit(b, `,"sentAt":`, nested)
		b = strconv.AppendInt(b, m.SentAt, 10)
	}
	b = appendLit(b, `,"offline":`, nested)
	b = strconv.AppendBool(b, m.Offline)
	return append(b, '}')
}

func appendPrivateResMes(b []byte, m *PrivateResMes, nested bool) []byte {
	b = appendCodeError(b, m.Code, m.Error, `,"clientMsgId":`, m.ClientMsgID, nested)
	b = b[:len(b)-1] // reopen the object
	b = appendLit(b, `,"msgId":`, nested)
	b = appendStringAt(b, m.MsgID, nested)
	b = appendLit(b, `,"stored":`, nested)
	b = strconv.AppendBool(b, m.Stored)
	if m.RetryAfter != 0 {
		b = appendLit(b, `,"retryAfter":`, nested)
		b = strconv.AppendInt(b, int64(m.RetryAfter), 10)
	}
	return append(b, '}')
}

// appendCodeError appends {"code":code,"error":text<name>value}, the shape of the
// answers.
func appendCodeError(b []byte, code int, text, name, value string, nested bool) []byte {
	b = appendLit(b, `{"code":`, nested)
	b = strconv.AppendInt(b, int64(code), 10)
	b = appendLit(b, `,"error":`, nested)
	b = appendStringAt(b, text, nested)
	b = appendLit(b, name, nested)
	b = appendStringAt(b, value, nested)
	return append(b, '}')
}

func appendSmsMes(b []byte, m *SmsMes, nested bool) []byte {
	b = appendLit(b, `{"content":`, nested)
	b = appendStringAt(b, m.Content, nested)
	b = appendLit(b, `,"userId":`, nested)
	b = strconv.AppendInt(b, int64(m.UserID), 10)
	b = appendLit(b, `,"userName":`, nested)
	b = appendStringAt(b, m.UserName, nested)
	if m.MsgID != "" {
		b = appendLit(b, `,"msgId":`, nested)
		b = appendStringAt(b, m.MsgID, nested)
	}
	if m.SentAt != 0 {
		b = appendLit(b, `,"sentAt":`, nested)
		b = strconv.AppendInt(b, m.SentAt, 10)
	}
	return append(b, '}')
}

func appendNotify(b []byte, m *NotifyUserStatusMes, nested bool) []byte {
	b = appendLit(b, `{"userId":`, nested)
	b = strconv.AppendInt(b, int64(m.UserID), 10)
	b = appendLit(b, `,"status":`, nested)
	b = strconv.AppendInt(b, int64(m.Status), 10)
	if m.UserName != "" {
		b = appendLit(b, `,"userName":`, nested)
		b = appendStringAt(b, m.UserName, nested)
	}
	return append(b, '}')
}

func appendAckMes(b []byte, m *AckMes, nested bool) []byte {
	b = appendLit(b, `{"msgIds":`, nested)
	if m.MsgIDs == nil {
		return append(b, `null}`...)
	}
	b = append(b, '[')
	for i, id := range m.MsgIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStringAt(b, id, nested)
	}
	return append(b, "]}"...)
}

// appendString appends s as a JSON string, byte for byte as the payload encoder
// (encoding/json without HTML escaping) writes a string: <, > and & as they are,
// quotes, backslashes and \b \f \n \r \t in their short forms, the other control
// bytes as \u00XX, U+2028 and U+2029 escaped, each byte of invalid UTF-8 as
// \ufffd. It writes the strings of the payloads, and the type and the already
// encoded payload of the envelope (valid JSON, in which only the quotes and the
// backslashes change).
func appendString[T string | []byte](dst []byte, s T) []byte {
	return appendStringAt(dst, s, false)
}

// appendStringAt is appendString, nested or bare: nested, it writes what
// appendString would write of appendString's result, without its outer quotes.
func appendStringAt[T string | []byte](dst []byte, s T, nested bool) []byte {
	// What the string's JSON holds as a quote and as a backslash.
	quote, backslash := `"`, `\`
	if nested {
		quote, backslash = `\"`, `\\`
	}
	dst = append(dst, quote...)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, backslash...)
			switch c {
			case '"':
				dst = append(dst, quote...)
			case '\\':
				dst = append(dst, backslash...)
			case '\b':
				dst = append(dst, 'b')
			case '\f':
				dst = append(dst, 'f')
			case '\n':
				dst = append(dst, 'n')
			case '\r':
				dst = append(dst, 'r')
			case '\t':
				dst = append(dst, 't')
			default:
				dst = append(dst, 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		if n := runeLen(s, i); n > 0 && c != 0xE2 {
			i += n // neither invalid nor U+2028 or U+2029
			continue
		}
		esc, size := escapeRune(s, i)
		if esc != "" {
			dst = append(dst, s[start:i]...)
			dst = append(dst, backslash...)
			dst = append(dst, esc[1:]...) // after its backslash
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, quote...)
}

const hexDigits = "0123456789abcdef"

// quotedLen is the length of what appendString writes for s.
func quotedLen[T string | []byte](s T) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += int(asciiExtra[c])
			i++
			continue
		}
		esc, size := escapeRune(s, i)
		if esc != "" {
			n += len(esc) - size
		}
		i += size
	}
	return n
}

// asciiExtra is how many bytes more than itself appendString writes for each
// ASCII byte: its escape's length less one, 0 for a byte written as itself.
var asciiExtra = func() (e [utf8.RuneSelf]uint8) {
	for c := range 0x20 {
		e[c] = 5 // \u00XX
	}
	e['\b'], e['\f'], e['\n'], e['\r'], e['\t'], e['"'], e['\\'] = 1, 1, 1, 1, 1, 1, 1
	return e
}()

// escapeRune returns what appendString writes for the character that starts at
// s[i], a byte of at least 0x80 ("" for the character itself), and the character's
// length in s.
func escapeRune[T string | []byte](s T, i int) (string, int) {
	switch n := runeLen(s, i); {
	case n == 0:
		return `\ufffd`, 1 // a byte of invalid UTF-8
	case n == 3 && s[i] == 0xE2 && s[i+1] == 0x80 && s[i+2] == 0xA8:
		return `\u2028`, 3
	case n == 3 && s[i] == 0xE2 && s[i+1] == 0x80 && s[i+2] == 0xA9:
		return `\u2029`, 3
	default:
		return "", n
	}
}

// runeLen is the length of the valid UTF-8 encoding of a character that starts at
// s[i], a byte of at least 0x80; 0 if none does (utf8.DecodeRune's rules, without
// converting a []byte to a string).
func runeLen[T string | []byte](s T, i int) int {
	l := leadBytes[s[i]]
	n := int(l >> 16)
	if n == 0 || len(s)-i < n || s[i+1] < byte(l>>8) || s[i+1] > byte(l) ||
		n > 2 && s[i+2]&0xC0 != 0x80 || n > 3 && s[i+3]&0xC0 != 0x80 {
		return 0
	}
	return n
}

// leadBytes says, for the first byte of a character written as several, the
// encoding's length (bits 16 on; 0: no character starts so) and the lowest (bits
// 8-15) and highest (bits 0-7) second byte, which exclude overlong encodings,
// surrogates and what is above U+10FFFF.
var leadBytes = func() (t [256]uint32) {
	for c := 0xC2; c <= 0xF4; c++ {
		n := uint32(2)
		if c >= 0xE0 {
			n = 3
		}
		if c >= 0xF0 {
			n = 4
		}
		t[c] = n<<16 | 0x80<<8 | 0xBF
	}
	t[0xE0] = 3<<16 | 0xA0<<8 | 0xBF
	t[0xED] = 3<<16 | 0x80<<8 | 0x9F
	t[0xF0] = 4<<16 | 0x90<<8 | 0xBF
	t[0xF4] = 4<<16 | 0x80<<8 | 0x8F
	return t
}()
