package message

import (
	"bytes"
	"encoding/json"
	"testing"

	"chat/common/frame"
)

// hardStrings are strings the payload encoder escapes in every way it can, and
// those HTML escaping would change.
var hardStrings = []string{"", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>", "a<b && c>d",
	"tab\tnl\nnul\x00\x1f\x7f", "\b\f\r\x01\x1b", "张三 ☃ 𝄞", "bad utf8 \xff\xfe end", "trunc \xe2\x82", "\xc0\xaf overlong",
	"line\u2028para\u2029", "P|12|1700000000000000000|xxxx"}

// encoderJSON is the JSON of v as json.Encoder writes it without HTML escaping,
// the payload encoder's settings, without the newline Encode ends with.
func encoderJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// hotPayloads are values of every payload written by hand, over hardStrings.
func hotPayloads() []any {
	var vs []any
	for i, s := range hardStrings {
		n := i * 7919
		vs = append(vs,
			PrivateMes{MsgID: s, FromUserID: n, FromUserName: s, ToUserID: -n, Content: s, ClientMsgID: s, SentAt: int64(n) << 20, Offline: i%2 == 0},
			PrivateMes{ToUserID: n, Content: s},
			PrivateResMes{Code: 200 + i, Error: s, ClientMsgID: s, MsgID: s, Stored: i%2 == 1},
			SmsMes{Content: s, UserID: n, UserName: s, MsgID: s, SentAt: int64(n)},
			SmsMes{Content: s},
			SmsResMes{Code: i, Error: s, MsgID: s},
			ErrorResMes{Code: -i, Error: s, RefType: s},
			NotifyUserStatusMes{UserID: n, Status: i % 3, UserName: s},
			AckMes{MsgIDs: []string{s, s + "x"}},
		)
	}
	return append(vs, AckMes{}, AckMes{MsgIDs: []string{}}, PrivateMes{})
}

// TestAppendPayloadIsEncoder checks the hand-written encoders against json.Encoder
// with SetEscapeHTML(false), byte for byte, for values and pointers.
func TestAppendPayloadIsEncoder(t *testing.T) {
	for _, v := range hotPayloads() {
		want := encoderJSON(t, v)
		for _, x := range []any{v, pointerTo(v)} {
			got, ok := appendPayload(nil, x, false)
			if !ok || !bytes.Equal(got, want) {
				t.Errorf("%T: got %s (%v), want %s", x, got, ok, want)
			}
		}
	}
	if _, ok := appendPayload(nil, LoginMes{}, false); ok {
		t.Errorf("LoginMes: written by hand, want json.Encoder")
	}
	if _, ok := appendPayload(nil, (*PrivateMes)(nil), false); ok {
		t.Errorf("nil *PrivateMes: written by hand, want json.Encoder")
	}
}

// TestAppendStringTable: the strings that differ between the escapings, one by
// one, against json.Encoder without HTML escaping, and what that gives.
func TestAppendStringTable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<>&", `"<>&"`},
		{`say "hi"`, `"say \"hi\""`},
		{`back\slash`, `"back\\slash"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x7f", "\"\x7f\""},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\xe2\x82", `"\ufffd\ufffd"`},
		{"é☃𝄞", `"é☃𝄞"`},
	}
	for _, tt := range tests {
		got := appendString(nil, tt.in)
		if want := encoderJSON(t, tt.in); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, json.Encoder: %s", tt.in, got, want)
		}
		if string(got) != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestEncodeFrameHotPayloads: a whole frame of a payload written by hand is the
// frame of the encoder's JSON, quoted in the envelope; EncodeFrame allocates it at
// its size, AppendFrame and AppendFrameOf append it.
func TestEncodeFrameHotPayloads(t *testing.T) {
	for _, v := range hotPayloads() {
		want := []byte(`....{"type":"T","data":`)
		want = append(appendString(want, encoderJSON(t, v)), '}')
		frame.SetLength(want)
		got, err := EncodeFrame("T", v)
		if err != nil || !bytes.Equal(got, want) || len(got) != cap(got) {
			t.Errorf("%T: got %q (cap %d, %v), want %q", v, got, cap(got), err, want)
		}
		for _, x := range []any{v, pointerTo(v)} {
			got, err := AppendFrame([]byte("x"), "T", x)
			if err != nil || string(got) != "x"+string(want) {
				t.Errorf("AppendFrame(%T): got %q (%v), want %q", x, got, err, want)
			}
		}
		if got := appendFrameOf([]byte("x"), v); string(got) != "x"+string(want) {
			t.Errorf("AppendFrameOf(%T): got %q, want %q", v, got, want)
		}
	}
}

// appendFrameOf calls AppendFrameOf with a pointer to v, of type "T".
func appendFrameOf(dst []byte, v any) []byte {
	switch p := v.(type) {
	case PrivateMes:
		return AppendFrameOf(dst, "T", &p)
	case PrivateResMes:
		return AppendFrameOf(dst, "T", &p)
	case SmsMes:
		return AppendFrameOf(dst, "T", &p)
	case SmsResMes:
		return AppendFrameOf(dst, "T", &p)
	case ErrorResMes:
		return AppendFrameOf(dst, "T", &p)
	case NotifyUserStatusMes:
		return AppendFrameOf(dst, "T", &p)
	case AckMes:
		return AppendFrameOf(dst, "T", &p)
	}
	panic("no pointer case")
}

func pointerTo(v any) any {
	switch p := v.(type) {
	case PrivateMes:
		return &p
	case PrivateResMes:
		return &p
	case SmsMes:
		return &p
	case SmsResMes:
		return &p
	case ErrorResMes:
		return &p
	case NotifyUserStatusMes:
		return &p
	case AckMes:
		return &p
	}
	panic("no pointer case")
}

func FuzzAppendString(f *testing.F) {
	for _, s := range hardStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, want := appendString(nil, s), encoderJSON(t, s)
		if !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		if b := appendString(nil, []byte(s)); !bytes.Equal(b, got) {
			t.Errorf("appendString([]byte(%q)) = %s, want %s", s, b, got)
		}
		if n := quotedLen(s); n != len(got) {
			t.Errorf("quotedLen(%q) = %d, want %d", s, n, len(got))
		}
		// Nested, it is the string quoted twice, without the outer quotes.
		twice := appendString(nil, got)
		if nested := appendStringAt(nil, s, true); !bytes.Equal(nested, twice[1:len(twice)-1]) {
			t.Errorf("appendStringAt(%q, nested) = %s, want %s", s, nested, twice[1:len(twice)-1])
		}
	})
}

// FuzzScanIsUnmarshal checks the hand-written decoders against encoding/json: when
// they take an input, they must give what json.Unmarshal gives.
func FuzzScanIsUnmarshal(f *testing.F) {
	for _, s := range append(hardStrings, `a\"b`, `\/\b\f\n\r\t\\`) {
		pm, _ := json.Marshal(PrivateMes{MsgID: "1-2", FromUserID: 3, ToUserID: 4, Content: s, ClientMsgID: s, SentAt: 5})
		f.Add(string(pm))
		am, _ := json.Marshal(AckMes{MsgIDs: []string{s, "1-1"}})
		f.Add(string(am))
		env, _ := Encode(PrivateMesType, PrivateMes{ToUserID: 4, Content: s})
		f.Add(string(env))
	}
	for _, s := range []string{`{"toUserId":-0,"content":"","offline":true}`, `{"toUserId":01,"content":""}`, `{"msgIds":[]}`,
		`{"msgIds":null}`, `{"msgIds":["a"],"msgIds":["b"]}`, `{"toUserId":1,"toUserId":2}`, `{"type":"x","data":"y","type":"z"}`,
		`{"toUserId":1e3}`, `{"toUserId":99999999999999999999}`, `{"ToUserId":1}`, `{}`, `{"content":"a\u00e9"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var wantEnv Message
		werr := json.Unmarshal([]byte(s), &wantEnv)
		if got, ok := scanEnvelope([]byte(s)); ok && (werr != nil || got != wantEnv) {
			t.Errorf("scanEnvelope(%q) = %+v, json: %+v %v", s, got, wantEnv, werr)
		}
		for _, mk := range []func() any{func() any { return new(PrivateMes) }, func() any { return new(AckMes) }} {
			got, want := mk(), mk()
			werr := json.Unmarshal([]byte(s), want)
			if scanPayload(s, got) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				if werr != nil || !bytes.Equal(gb, wb) {
					t.Errorf("scanPayload(%q) = %s, json: %s %v", s, gb, wb, werr)
				}
			}
		}
	})
}

// BenchmarkPrivateMesPath is a private message's way through a server: decode
// the envelope and the payload, encode the recipient's frame and the answer.
func BenchmarkPrivateMesPath(b *testing.B) {
	body, err := Encode(PrivateMesType, PrivateMes{ToUserID: 10000123, Content: "P|12345|1764284000000000000|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ClientMsgID: "12345"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		m, err := Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		var req PrivateMes
		if err := Unpack(m, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeFrame(PrivateMesType, PrivateMes{MsgID: "1764284000000-12", FromUserID: 10000122, FromUserName: "u10000122",
			ToUserID: req.ToUserID, Content: req.Content, SentAt: 1764284000000}); err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeFrame(PrivateResMesType, PrivateResMes{Code: CodeOK, ClientMsgID: req.ClientMsgID, MsgID: "1764284000000-12"}); err != nil {
			b.Fatal(err)
		}
	}
}
