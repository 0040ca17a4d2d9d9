package chat

import (
	"unicode/utf8"

	"chat/common/message"
)

// Field checks of docs/PROTOCOL.md's Limits. Each returns the status code and a sentence
// for the client, or 0 when the field is fine.

func checkUserID(id int) (int, string) {
	if id < message.MinUserID || id > message.MaxUserID {
		return message.CodeInvalid, "userId must be between 1 and 2147483647"
	}
	return 0, ""
}

func checkPassword(pwd string) (int, string) {
	if len(pwd) < message.MinPasswordLen || len(pwd) > message.MaxPasswordLen {
		return message.CodeInvalid, "userPwd must be 6 to 72 bytes"
	}
	return 0, ""
}

// The text checks take validUTF8, whether the frame's raw body was valid UTF-8:
// encoding/json replaces invalid bytes with U+FFFD, so the decoded string alone
// cannot tell.

func checkUserName(name string, validUTF8 bool) (int, string) {
	if n := utf8.RuneCountInString(name); n < 1 || n > message.MaxUserNameLen || !validUTF8 {
		return message.CodeInvalid, "userName must be 1 to 32 characters of UTF-8"
	}
	if !message.ValidName(name) {
		return message.CodeInvalid, "userName must show every character it holds: no control, format (bidi, zero-width) or other invisible characters"
	}
	return 0, ""
}

func checkContent(content string, validUTF8 bool) (int, string) {
	switch {
	case len(content) > message.MaxContentLen:
		return message.CodeTooLarge, "content is over 4096 bytes"
	case content == "":
		return message.CodeInvalid, "content is empty"
	case !validUTF8:
		return message.CodeInvalid, "content is not valid UTF-8"
	case !message.ValidContent(content):
		if !utf8.ValidString(content) {
			return message.CodeInvalid, "content is not valid UTF-8"
		}
		return message.CodeInvalid, "content must not hold control characters other than tab and newline"
	}
	return 0, ""
}
