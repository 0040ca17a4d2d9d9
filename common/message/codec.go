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
	// Put together in the pooled buffer, then copied: one pass over data, rather
	// than one to size the frame and one to write it.
	p.frame = appendEnvelope(append(p.frame[:0], make([]byte, frame.HeaderLen)...), typ, data)
	frame.SetLength(p.frame)
	f := make([]byte, len(p.frame))
	copy(f, p.frame)
	return f, nil
}

const (
	envelopeStart = `{"type":`
	envelopeData  = `,"data":`
)

// appendEnvelope appends {"type":typ,"data":"<data>"} to dst.
func appendEnvelope(dst []byte, typ string, data []byte) []byte {
	dst = append(dst, envelopeStart...)
	dst = appendString(dst, typ)
	dst = append(dst, envelopeData...)
	dst = appendString(dst, data)
	return append(dst, '}')
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
	frame   []byte // a frame put together, before its copy of exact size
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
	if p.buf.Cap() <= maxPooledPayload && cap(p.scratch) <= maxPooledPayload && cap(p.frame) <= 2*maxPooledPayload {
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
