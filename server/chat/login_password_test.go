package chat_test

import (
	"strings"
	"testing"

	"chat/common/message"
)

// A login's userPwd, whatever its length (but empty: 422), is checked against what is stored:
// users added by hand (the course's way) may hold any plaintext password. Only
// registration bounds a password to 6 to 72 bytes (docs/PROTOCOL.md, Limits).
func TestLoginPasswordLength(t *testing.T) {
	r, n := startOneNode(t)
	long := strings.Repeat("x", 100)
	// The course's way of adding a user: by hand, with a plaintext password of any length.
	r.putUser(t, message.User{UserID: 100, UserPwd: "123456", UserName: "scott"})
	r.putUser(t, message.User{UserID: 101, UserPwd: "123", UserName: "short"})
	r.putUser(t, message.User{UserID: 102, UserPwd: long, UserName: "long"})
	tests := []struct {
		name string
		id   int
		pwd  string
		want int
	}{
		{"empty", 100, "", message.CodeInvalid},
		{"5 bytes, wrong", 100, "12345", message.CodeWrongPassword},
		{"73 bytes, wrong", 100, strings.Repeat("1", 73), message.CodeWrongPassword},
		{"72 bytes, wrong", 100, strings.Repeat("1", 72), message.CodeWrongPassword},
		{"6 bytes, right", 100, "123456", message.CodeOK},
		{"3 bytes stored, right", 101, "123", message.CodeOK},
		{"3 bytes stored, right again (hashed now)", 101, "123", message.CodeOK},
		{"3 bytes stored, wrong", 101, "1234", message.CodeWrongPassword},
		{"100 bytes stored, right", 102, long, message.CodeOK},
		{"100 bytes stored, right again", 102, long, message.CodeOK},
		{"100 bytes stored, wrong", 102, long[:99], message.CodeWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := dial(t, n.Addr).login(tt.id, tt.pwd, message.ProtoAck)
			if res.Code != tt.want {
				t.Fatalf("got %+v, want code %d", res, tt.want)
			}
		})
	}
	// Registration alone bounds the password.
	for _, pwd := range []string{"12345", strings.Repeat("1", 73)} {
		res := dial(t, n.Addr).register(200, pwd, "new")
		if res.Code != message.CodeInvalid || !strings.Contains(res.Error, "6 to 72 bytes") {
			t.Errorf("register with %d bytes: got %+v, want 422 giving the bounds", len(pwd), res)
		}
	}
}
