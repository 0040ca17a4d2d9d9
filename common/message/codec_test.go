package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"chat/common/frame"
)

// payloads has one filled-in payload of every message type, with the type that
// carries it on the wire.
var payloads = []struct {
	typ string
	v   any
}{
	{LoginMesType, &LoginMes{UserID: 100, UserPwd: "123456", UserName: "scott", Proto: ProtoAck}},
	{LoginResMesType, &LoginResMes{Code: CodeOK, UsersId: []int{100, 200}, UserName: "scott", OnlineCount: 2}},
	{RegisterMesType, &RegisterMes{User: User{UserID: 300, UserPwd: "secret!", UserName: "张三", UserStatus: UserOnline, Sex: "f"}}},
	{RegisterResMesType, &RegisterResMes{Code: CodeUserExists, Error: "user id taken"}},
	{NotifyUserStatusMesType, &NotifyUserStatusMes{UserID: 100, Status: UserOffline, UserName: "scott"}},
	{SmsMesType, &SmsMes{Content: "hello all", UserID: 100, UserName: "scott", MsgID: "m-1", SentAt: 1700000000000}},
	{SmsResMesType, &SmsResMes{Code: CodeRateLimited, Error: "slow down", MsgID: "m-2"}},
	{PrivateMesType, &PrivateMes{MsgID: "m-3", FromUserID: 100, FromUserName: "scott", ToUserID: 200, Content: "hi", SentAt: 1700000000001, Offline: true}},
	{PrivateResMesType, &PrivateResMes{Code: CodeOK, ClientMsgID: "c-1", MsgID: "m-3", Stored: true}},
	{AckMesType, &AckMes{MsgIDs: []string{"m-3", "m-4"}}},
	{OnlineUsersMesType, &OnlineUsersMes{Offset: 10, Limit: MaxOnlinePage}},
	{OnlineUsersResMesType, &OnlineUsersResMes{Code: CodeOK, Total: 2, Users: []OnlineUser{{100, "scott"}, {200, "alice"}}}},
	{LogoutMesType, &LogoutMes{}},
	{PingMesType, &PingMes{}},
	{PongMesType, &PongMes{}},
	{ErrorResMesType, &ErrorResMes{Code: CodeUnauthorized, Error: "not logged in", RefType: SmsMesType}},
}

// newOf returns a pointer to a zero value of the type v points to.
func newOf(v any) any {
	return reflect.New(reflect.TypeOf(v).Elem()).Interface()
}

func TestRoundTripEveryType(t *testing.T) {
	for _, tt := range payloads {
		t.Run(tt.typ, func(t *testing.T) {
			f, err := EncodeFrame(tt.typ, tt.v)
			if err != nil {
				t.Fatalf("EncodeFrame: %v", err)
			}
			body, err := frame.Read(bytes.NewReader(f), MaxFrame, nil)
			if err != nil {
				t.Fatalf("frame.Read: %v", err)
			}
			if want, err := Encode(tt.typ, tt.v); err != nil || !bytes.Equal(body, want) {
				t.Errorf("got frame body %s, want Encode's %s (%v)", body, want, err)
			}
			m, err := Decode(body)
			if err != nil {
				t.Fatalf("Decode(%s): %v", body, err)
			}
			if m.Type != tt.typ {
				t.Errorf("got type %q, want %q", m.Type, tt.typ)
			}
			got := newOf(tt.v)
			if err := Unpack(m, got); err != nil {
				t.Fatalf("Unpack(%q): %v", m.Data, err)
			}
			if !reflect.DeepEqual(got, tt.v) {
				t.Errorf("got %+v, want %+v", got, tt.v)
			}
		})
	}
}

// TestEnvelopeIsClassic checks the bytes against the classic course's encoder: a
// Message whose Data is the payload's JSON, marshalled again. data must be a JSON
// string, not an object, or classic clients fail to decode it.
func TestEnvelopeIsClassic(t *testing.T) {
	for _, tt := range payloads {
		t.Run(tt.typ, func(t *testing.T) {
			body, err := Encode(tt.typ, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatalf("body %s is not a JSON object: %v", body, err)
			}
			if len(raw) != 2 {
				t.Errorf("got keys %v, want type and data only", raw)
			}
			if d := raw["data"]; len(d) == 0 || d[0] != '"' {
				t.Errorf("got data %s, want a JSON string", d)
			}
			payload, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			var got, want Message
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			classic, _ := json.Marshal(Message{Type: tt.typ, Data: string(payload)})
			if err := json.Unmarshal(classic, &want); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestWireFieldNames(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		v    any
		want []string // substrings of the payload JSON
	}{
		{"UsersId keeps its Go name", LoginResMesType, LoginResMes{UsersId: []int{1}}, []string{`"UsersId":[1]`, `"code":0`, `"error":""`, `"onlineCount":0`}},
		{"LoginMes", LoginMesType, LoginMes{UserID: 1, UserPwd: "p"}, []string{`"userId":1`, `"userPwd":"p"`, `"userName":""`}},
		{"proto omitted when classic", LoginMesType, LoginMes{UserID: 1}, nil},
		{"RegisterMes nests user", RegisterMesType, RegisterMes{User: User{UserID: 1}}, []string{`"user":{"userId":1,`, `"userStatus":0`, `"sex":""`}},
		{"PrivateMes", PrivateMesType, PrivateMes{ToUserID: 2, Content: "c"}, []string{`"toUserId":2`, `"content":"c"`, `"offline":false`}},
		{"AckMes", AckMesType, AckMes{MsgIDs: []string{"a"}}, []string{`"msgIds":["a"]`}},
		{"ErrorResMes", ErrorResMesType, ErrorResMes{RefType: "X"}, []string{`"refType":"X"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Encode(tt.typ, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(m.Data, want) {
					t.Errorf("got data %s, want it to contain %s", m.Data, want)
				}
			}
			if tt.typ == LoginMesType && strings.Contains(m.Data, "proto") && tt.v.(LoginMes).Proto == 0 {
				t.Errorf("got data %s, want no proto for a classic login", m.Data)
			}
		})
	}
}

func TestQuoting(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"plain", "hello"},
		{"quotes", `say "hi"`},
		{"backslashes", `C:\dir\ and \\ and \"`},
		{"newline tab return", "a\nb\tc\rd"},
		{"control bytes", "nul\x00 bell\x07 esc\x1b us\x1f del\x7f"},
		{"unicode", "世界 é 😀"},
		{"line separators", "a\u2028b\u2029c"},
		{"html", "<script>&</script>"},
		{"json inside", `{"type":"x","data":"{\"a\":1}"}`},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := Encode(SmsMesType, SmsMes{Content: tt.content})
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(body) {
				t.Fatalf("got invalid JSON %q", body)
			}
			m, err := Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			var got SmsMes
			if err := Unpack(m, &got); err != nil {
				t.Fatal(err)
			}
			if got.Content != tt.content {
				t.Errorf("got %q, want %q", got.Content, tt.content)
			}

			// appendString on its own, on the raw string, as it quotes type names.
			q := appendString([]byte("x"), tt.content)
			var s string
			if err := json.Unmarshal(q[1:], &s); err != nil || s != tt.content {
				t.Errorf("appendString: got %q (%v), want %q", q[1:], err, tt.content)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"not json", "hello"},
		{"truncated", `{"type":"PingMes","data":"{}"`},
		{"array", `[{"type":"PingMes","data":"{}"}]`},
		{"string", `"PingMes"`},
		{"number", `42`},
		{"null", `null`},
		{"missing type", `{"data":"{}"}`},
		{"empty type", `{"type":"","data":"{}"}`},
		{"type not a string", `{"type":1,"data":"{}"}`},
		{"data an object", `{"type":"PingMes","data":{}}`},
		{"trailing garbage", `{"type":"PingMes","data":"{}"} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body))
			if !errors.Is(err, ErrBadEnvelope) || got != (Message{}) {
				t.Errorf("got %+v, %v, want zero Message, ErrBadEnvelope", got, err)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Message
	}{
		// Bytes a classic course client sends.
		{"classic login", `{"type":"LoginMes","data":"{\"userId\":100,\"userPwd\":\"123456\",\"userName\":\"\"}"}`,
			Message{LoginMesType, `{"userId":100,"userPwd":"123456","userName":""}`}},
		{"unknown fields", `{"type":"PingMes","data":"{}","extra":[1,2]}`, Message{PingMesType, "{}"}},
		{"missing data", `{"type":"PingMes"}`, Message{PingMesType, ""}},
		{"whitespace", " {\n\"type\" : \"PingMes\" , \"data\" : \"{}\" }\n", Message{PingMesType, "{}"}},
		{"unknown type", `{"type":"NoSuchMes","data":"{}"}`, Message{"NoSuchMes", "{}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.body))
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v, want %+v, nil", got, err, tt.want)
			}
		})
	}
}

func TestUnpackClassicSms(t *testing.T) {
	// The classic client adds its identity, password included, to SmsMes; Unpack
	// ignores the fields SmsMes does not have.
	m := Message{SmsMesType, `{"content":"hi","userId":100,"userPwd":"123456","userName":"scott","userStatus":0,"sex":"m"}`}
	var got SmsMes
	if err := Unpack(m, &got); err != nil {
		t.Fatal(err)
	}
	if want := (SmsMes{Content: "hi", UserID: 100, UserName: "scott"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestUnpackRejectsBadData(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not json", "nope"},
		{"wrong type", `{"userId":"100"}`},
		{"array", `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got LoginMes
			if err := Unpack(Message{LoginMesType, tt.data}, &got); err == nil {
				t.Errorf("got %+v, nil, want an error", got)
			}
		})
	}
}
