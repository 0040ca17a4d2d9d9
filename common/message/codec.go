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
	// Put together in the pooled buffer, then copied: one pass over the payload,
	// rather than one to size the frame and one to write it.
	f, err := p.appendFrame(p.frame[:0], typ, v)
	if err != nil {
		return nil, err
	}
	p.frame = f
	out := make([]byte, len(f))
	copy(out, f)
	return out, nil
}

// AppendFrame appends to dst the frame EncodeFrame returns for the same message.
func AppendFrame(dst []byte, typ string, v any) ([]byte, error) {
	if f, ok := appendHandWrittenFrame(dst, typ, v); ok {
		return f, nil
	}
	p := getPayloadEncoder()
	defer putPayloadEncoder(p)
	return p.appendEncodedFrame(dst, typ, v)
}

// HandWritten are the payloads whose JSON is written by hand (append.go).
type HandWritten interface {
	PrivateMes | PrivateResMes | SmsMes | SmsResMes | ErrorResMes | NotifyUserStatusMes | AckMes
}

// AppendFrameOf is AppendFrame for a payload written by hand, given by a pointer
// that must not be nil: v is neither kept nor copied to the heap, which makes it
// the way of the hot paths.
func AppendFrameOf[T HandWritten](dst []byte, typ string, v *T) []byte {
	f, _ := appendHandWrittenFrame(dst, typ, v)
	return f
}

// appendHandWrittenFrame appends the frame of v to dst if v is a payload written
// by hand, its JSON nested straight into the envelope.
func appendHandWrittenFrame(dst []byte, typ string, v any) ([]byte, bool) {
	start := len(dst)
	dst = appendEnvelopeHead(dst, typ)
	dst = append(dst, '"')
	dst, ok := appendPayload(dst, v, true)
	if !ok {
		return dst[:start], false
	}
	dst = append(dst, '"', '}')
	frame.SetLength(dst[start:])
	return dst, true
}

// appendFrame appends the frame of a message of type typ with payload v to dst.
func (p *payloadEncoder) appendFrame(dst []byte, typ string, v any) ([]byte, error) {
	if f, ok := appendHandWrittenFrame(dst, typ, v); ok {
		return f, nil
	}
	return p.appendEncodedFrame(dst, typ, v)
}

// appendEncodedFrame is appendFrame for a payload that encoding/json writes.
func (p *payloadEncoder) appendEncodedFrame(dst []byte, typ string, v any) ([]byte, error) {
	data, err := p.marshal(v)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = appendEnvelopeHead(dst, typ)
	dst = appendString(dst, data)
	dst = append(dst, '}')
	frame.SetLength(dst[start:])
	return dst, nil
}

const (
	envelopeStart = `{"type":`
	envelopeData  = `,"data":`
)

// appendEnvelopeHead appends room for the length prefix and {"type":typ,"data":
// to dst.
func appendEnvelopeHead(dst []byte, typ string) []byte {
	dst = append(dst, 0, 0, 0, 0) // frame.HeaderLen
	dst = append(dst, envelopeStart...)
	dst = appendString(dst, typ)
	return append(dst, envelopeData...)
}

// payloadEncoder writes payload JSON without HTML escaping: `<`, `>` and `&` stay
// themselves instead of taking six bytes each (seven once quoted in the envelope).
// That is valid JSON, and it keeps frames small for the clients that read them
// into fixed buffers. The payloads of the hot paths are written by hand
// (append.go), byte for byte what enc writes; the others go through enc.
type payloadEncoder struct {
	buf   bytes.Buffer
	enc   *json.Encoder
	frame []byte // a frame put together, before its copy of exact size
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
	if p.buf.Cap() <= maxPooledPayload && cap(p.frame) <= 2*maxPooledPayload {
		payloadEncoders.Put(p)
	}
}

// marshal returns the JSON of v as json.Encoder writes it, valid until the
// encoder's next use.
func (p *payloadEncoder) marshal(v any) ([]byte, error) {
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
