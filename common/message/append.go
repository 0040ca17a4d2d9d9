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

// appendString appends s as the payload encoder writes a string: <, > and & as
// they are (no HTML escaping), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
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
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
