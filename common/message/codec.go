package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"

	"chat/common/frame"
)

// Errors of the codec.
var (
	// ErrBadEnvelope means a frame body is not a JSON envelope with a type.
	ErrBadEnvelope = errors.New("body is not an envelope")
	// ErrNoFit means a message cannot be made to fit the frame size asked for.
	ErrNoFit = errors.New("message does not fit the frame limit")
)

// Encode returns the envelope body of a message of type typ with payload v.
func Encode(typ string, v any) ([]byte, error) {
	f, err := EncodeFrame(typ, v)
	if err != nil {
		return nil, err
	}
	return f[frame.HeaderLen:], nil
}

// EncodeFrame returns the whole frame (length prefix and envelope) of a message of
// type typ with payload v, in one allocation of its exact size that can be handed to
// many connections.
func EncodeFrame(typ string, v any) ([]byte, error) {
	p := getPayloadEncoder()
	defer putPayloadEncoder(p)
	data, err := p.marshal(v)
	if err != nil {
		return nil, err
	}
	f := make([]byte, frame.HeaderLen, frame.HeaderLen+envelopeLen(typ, data))
	f = appendEnvelope(f, typ, data)
	frame.SetLength(f)
	return f, nil
}

const (
	envelopeStart = `{"type":`
	envelopeData  = `,"data":`
)

// appendEnvelope appends {"type":typ,"data":"<data>"} to dst.
func appendEnvelope(dst []byte, typ string, data []byte) []byte {
	dst = append(dst, envelopeStart...)
	dst = appendQuoted(dst, typ)
	dst = append(dst, envelopeData...)
	dst = appendQuoted(dst, data)
	return append(dst, '}')
}

// envelopeLen is the length of the envelope appendEnvelope writes.
func envelopeLen(typ string, data []byte) int {
	return len(envelopeStart) + quotedLen(typ) + len(envelopeData) + quotedLen(data) + 1
}

// payloadEncoder writes payload JSON without HTML escaping: `<`, `>` and `&` stay
// themselves instead of taking six bytes each (seven once quoted in the envelope).
// That is valid JSON, and it keeps frames small for the clients that read them
// into fixed buffers. The payloads of the hot paths are written by hand into
// scratch (append.go), byte for byte what enc writes; the others go through enc.
type payloadEncoder struct {
	buf     bytes.Buffer
	enc     *json.Encoder
	scratch []byte
}

var payloadEncoders = sync.Pool{New: func() any {
	p := &payloadEncoder{}
	p.enc = json.NewEncoder(&p.buf)
	p.enc.SetEscapeHTML(false)
	return p
}}

func getPayloadEncoder() *payloadEncoder { return payloadEncoders.Get().(*payloadEncoder) }

// maxPooledPayload keeps one huge payload from pinning its buffer in the pool.
const maxPooledPayload = 64 << 10

func putPayloadEncoder(p *payloadEncoder) {
	if p.buf.Cap() <= maxPooledPayload && cap(p.scratch) <= maxPooledPayload {
		payloadEncoders.Put(p)
	}
}

// marshal returns the JSON of v, valid until the encoder's next use.
func (p *payloadEncoder) marshal(v any) ([]byte, error) {
	if b, ok := appendPayload(p.scratch[:0], v); ok {
		p.scratch = b
		return b, nil
	}
	p.buf.Reset()
	if err := p.enc.Encode(v); err != nil {
		return nil, err
	}
	b := p.buf.Bytes()
	return b[:len(b)-1], nil // Encode ends the value with a newline
}

// Decode parses an envelope body. What it returns does not share body's memory.
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

// appendQuoted appends s as a JSON string. s must be valid UTF-8 (the payload
// encoder's output and the type names are); only quotes, backslashes and control
// bytes need escaping then, which is all this does.
func appendQuoted[T string | []byte](dst []byte, s T) []byte {
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

// quotedLen is the length of what appendQuoted writes for s.
func quotedLen[T string | []byte](s T) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
