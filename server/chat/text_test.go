package chat_test

import (
	"testing"

	"chat/common/message"
)

// Text a terminal would act on is refused: control characters in content, and
// names that hide what they hold.
func TestTerminalAttackingTextRefused(t *testing.T) {
	n := startNode(t, newStorage(t), "n1", nil)
	alice := user(t, n.Addr, 1, "alice", message.ProtoAck)
	bob := user(t, n.Addr, 2, "bob", message.ProtoAck)

	t.Run("content", func(t *testing.T) {
		bind(t, alice, bob)
		for _, tt := range []struct {
			name, content string
			want          int
		}{
			{"clear screen", "\x1b[2J\x1b[Hyou were logged out", message.CodeInvalid},
			{"window title", "\x1b]0;pwned\x07hi", message.CodeInvalid},
			{"NUL", "a\x00b", message.CodeInvalid},
			{"carriage return", "fine\rforged line", message.CodeInvalid},
			{"backspace", "abc\b\b\b", message.CodeInvalid},
			{"DEL", "a\x7f", message.CodeInvalid},
			{"C1 CSI", "\u009b2J", message.CodeInvalid},
			{"tab and newline", "two\tcolumns\nand lines", message.CodeOK},
		} {
			if res := alice.private(2, tt.content, ""); res.Code != tt.want {
				t.Errorf("private %s: got %+v, want code %d", tt.name, res, tt.want)
			}
			if res := alice.group(tt.content); res.Code != tt.want {
				t.Errorf("group %s: got %+v, want code %d", tt.name, res, tt.want)
			}
		}
		// Only the good one went anywhere.
		alice.ping()
		bob.ping()
		if got := bob.count(message.SmsMesType); got != 1 {
			t.Errorf("bob got %d group messages, want 1", got)
		}
	})

	t.Run("names", func(t *testing.T) {
		c := dial(t, n.Addr)
		for i, tt := range []struct {
			name, userName string
			want           int
		}{
			{"right-to-left override", "\u202enimda", message.CodeInvalid},
			{"left-to-right isolate", "ad\u2066min", message.CodeInvalid},
			{"zero-width space", "ad\u200bmin", message.CodeInvalid},
			{"zero-width joiner", "ad\u200dmin", message.CodeInvalid},
			{"byte order mark", "\ufeffadmin", message.CodeInvalid},
			{"soft hyphen", "ad\u00admin", message.CodeInvalid},
			{"Hangul filler", "\u3164", message.CodeInvalid},
			{"escape", "\x1b[31mred", message.CodeInvalid},
			{"accents and scripts", "José 张三", message.CodeOK},
		} {
			if res := c.register(100+i, "password", tt.userName); res.Code != tt.want {
				t.Errorf("%s: got %+v, want code %d", tt.name, res, tt.want)
			}
		}
	})
}
