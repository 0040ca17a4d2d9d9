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

// appendPayload appends the JSON of v to dst if v is one of the payloads written
// by hand.
func appendPayload(dst []byte, v any) ([]byte, bool) {
	switch p := v.(type) {
	case PrivateMes:
		return appendPrivateMes(dst, &p), true
	case PrivateResMes:
		return appendPrivateResMes(dst, &p), true
	case SmsMes:
		return appendSmsMes(dst, &p), true
	case SmsResMes:
		return appendCodeError(dst, p.Code, p.Error, `,"msgId":`, p.MsgID), true
	case ErrorResMes:
		return appendCodeError(dst, p.Code, p.Error, `,"refType":`, p.RefType), true
	case NotifyUserStatusMes:
		return appendNotify(dst, &p), true
	case AckMes:
		return appendAckMes(dst, &p), true
	case *PrivateMes, *PrivateResMes, *SmsMes, *SmsResMes, *ErrorResMes, *NotifyUserStatusMes, *AckMes:
		if e := deref(v); e != nil {
			return appendPayload(dst, e)
		}
	}
	return dst, false
}

// deref returns what a pointer payload points to, nil for a nil pointer.
func deref(v any) any {
	switch p := v.(type) {
	case *PrivateMes:
		if p != nil {
			return *p
		}
	case *PrivateResMes:
		if p != nil {
			return *p
		}
	case *SmsMes:
		if p != nil {
			return *p
		}
	case *SmsResMes:
		if p != nil {
			return *p
		}
	case *ErrorResMes:
		if p != nil {
			return *p
		}
	case *NotifyUserStatusMes:
		if p != nil {
			return *p
		}
	case *AckMes:
		if p != nil {
			return *p
		}
	}
	return nil
}

func appendPrivateMes(b []byte, m *PrivateMes) []byte {
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, name...)
	}
	if m.MsgID != "" {
		field(`"msgId":`)
		b = appendString(b, m.MsgID)
	}
	if m.FromUserID != 0 {
		field(`"fromUserId":`)
		b = strconv.AppendInt(b, int64(m.FromUserID), 10)
	}
	if m.FromUserName != "" {
		field(`"fromUserName":`)
		b = appendString(b, m.FromUserName)
	}
	field(`"toUserId":`)
	b = strconv.AppendInt(b, int64(m.ToUserID), 10)
	b = append(b, `,"content":`...)
	b = appendString(b, m.Content)
	if m.ClientMsgID != "" {
		b = append(b, `,"clientMsgId":`...)
		b = appendString(b, m.ClientMsgID)
	}
	if m.SentAt != 0 {
		b = append(b, `,"sentAt":`...)
		b = strconv.AppendInt(b, m.SentAt, 10)
	}
	b = append(b, `,"offline":`...)
	b = strconv.AppendBool(b, m.Offline)
	return append(b, '}')
}

func appendPrivateResMes(b []byte, m *PrivateResMes) []byte {
	b = appendCodeError(b, m.Code, m.Error, `,"clientMsgId":`, m.ClientMsgID)
	b = b[:len(b)-1] // reopen the object
	b = append(b, `,"msgId":`...)
	b = appendString(b, m.MsgID)
	b = append(b, `,"stored":`...)
	b = strconv.AppendBool(b, m.Stored)
	return append(b, '}')
}

// appendCodeError appends {"code":code,"error":text<name>value}, the shape of the
// answers.
func appendCodeError(b []byte, code int, text, name, value string) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"error":`...)
	b = appendString(b, text)
	b = append(b, name...)
	b = appendString(b, value)
	return append(b, '}')
}

func appendSmsMes(b []byte, m *SmsMes) []byte {
	b = append(b, `{"content":`...)
	b = appendString(b, m.Content)
	b = append(b, `,"userId":`...)
	b = strconv.AppendInt(b, int64(m.UserID), 10)
	b = append(b, `,"userName":`...)
	b = appendString(b, m.UserName)
	if m.MsgID != "" {
		b = append(b, `,"msgId":`...)
		b = appendString(b, m.MsgID)
	}
	if m.SentAt != 0 {
		b = append(b, `,"sentAt":`...)
		b = strconv.AppendInt(b, m.SentAt, 10)
	}
	return append(b, '}')
}

func appendNotify(b []byte, m *NotifyUserStatusMes) []byte {
	b = append(b, `{"userId":`...)
	b = strconv.AppendInt(b, int64(m.UserID), 10)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(m.Status), 10)
	if m.UserName != "" {
		b = append(b, `,"userName":`...)
		b = appendString(b, m.UserName)
	}
	return append(b, '}')
}

func appendAckMes(b []byte, m *AckMes) []byte {
	b = append(b, `{"msgIds":`...)
	if m.MsgIDs == nil {
		return append(b, `null}`...)
	}
	b = append(b, '[')
	for i, id := range m.MsgIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, id)
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
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
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
			dst = append(dst, esc...)
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
