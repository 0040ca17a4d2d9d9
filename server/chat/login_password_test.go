package chat_test

import (
	"strings"
	"testing"

	"chat/common/message"
)

// A login's userPwd is checked against both bounds of docs/PROTOCOL.md's Limits
// (6 to 72 bytes) before any store work; within them, a wrong password is 403.
func TestLoginPasswordLength(t *testing.T) {
	r, n := startOneNode(t)
	// The course's way of adding a user: by hand, with a 6-byte plaintext password.
	r.putUser(t, message.User{UserID: 100, UserPwd: "123456", UserName: "scott"})
	tests := []struct {
		name string
		pwd  string
		want int
	}{
		{"empty", "", message.CodeInvalid},
		{"5 bytes", "12345", message.CodeInvalid},
		{"73 bytes", strings.Repeat("1", 73), message.CodeInvalid},
		{"72 bytes, wrong", strings.Repeat("1", 72), message.CodeWrongPassword},
		{"6 bytes, right", "123456", message.CodeOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := dial(t, n.Addr).login(100, tt.pwd, message.ProtoAck)
			if res.Code != tt.want {
				t.Fatalf("got %+v, want code %d", res, tt.want)
			}
			if tt.want == message.CodeInvalid && !strings.Contains(res.Error, "6 to 72 bytes") {
				t.Errorf("got error %q, want it to give the bounds", res.Error)
			}
		})
	}
}
