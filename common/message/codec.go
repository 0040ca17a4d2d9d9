package message

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"chat/common/frame"
)

// ErrBadEnvelope means a frame body is not a JSON envelope with a type.
var ErrBadEnvelope = errors.New("body is not an envelope")

// Encode returns the envelope body of a message of type typ with payload v.
func Encode(typ string, v any) ([]byte, error) {
	return appendEnvelope(nil, typ, v)
}

// EncodeFrame returns the whole frame (length prefix and envelope) of a message of
// type typ with payload v, in one allocation that can be handed to many connections.
func EncodeFrame(typ string, v any) ([]byte, error) {
	var hdr [frame.HeaderLen]byte
	f, err := appendEnvelope(hdr[:], typ, v)
	if err != nil {
		return nil, err
	}
	frame.SetLength(f)
	return f, nil
}

// appendEnvelope appends {"type":typ,"data":"<json of v>"} to dst.
func appendEnvelope(dst []byte, typ string, v any) ([]byte, error) {
	sp := scratchPool.Get().(*[]byte)
	defer func() {
		if cap(*sp) <= 64<<10 {
			scratchPool.Put(sp)
		}
	}()
	data, ok := appendPayload((*sp)[:0], v)
	*sp = data
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if cap(dst)-len(dst) < len(data)+len(typ)+32 {
		// Room for the quoting of a payload that needs little of it, in one allocation.
		dst = append(make([]byte, 0, len(dst)+len(data)+len(data)/8+len(typ)+32), dst...)
	}
	dst = append(dst, `{"type":`...)
	dst = appendQuoted(dst, typ)
	dst = append(dst, `,"data":`...)
	dst = appendQuoted(dst, data)
	return append(dst, '}'), nil
}

// Decode parses an envelope body.
func Decode(body []byte) (Message, error) {
	if m, ok := scanEnvelope(body); ok && m.Type != "" {
		return m, nil
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil || m.Type == "" {
		return Message{}, ErrBadEnvelope
	}
	return m, nil
}

// Unpack parses the payload of m into v.
func Unpack(m Message, v any) error {
	if scanPayload(m.Data, v) {
		return nil
	}
	return json.Unmarshal([]byte(m.Data), v)
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string. s must be valid UTF-8 (json.Marshal's
// output and the type names are); only quotes, backslashes and control bytes need
// escaping then, which is all this does.
func appendQuoted[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ValidText reports whether s is valid UTF-8 without control characters, as
// PROTOCOL.md requires of user names.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
