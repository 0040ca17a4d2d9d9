package message

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Hand-written decoders of the frames on the hot paths: the envelope, PrivateMes
// and AckMes. They take only the canonical shape encoders write (no whitespace,
// known keys spelled exactly, plain integers, strings without \u escapes or
// control bytes, valid UTF-8) and report false for anything else, which then goes
// through encoding/json: the result is always the one json.Unmarshal gives.

// scanner reads one JSON text without whitespace.
type scanner struct {
	s   string
	i   int
	bad bool
}

func (sc *scanner) byte(c byte) {
	if sc.i < len(sc.s) && sc.s[sc.i] == c {
		sc.i++
	} else {
		sc.bad = true
	}
}

func (sc *scanner) peek(c byte) bool { return sc.i < len(sc.s) && sc.s[sc.i] == c }

// str reads a string. Escapes other than \u are undone; a string without any is a
// substring of the input, without a copy.
func (sc *scanner) str() string {
	s, plain := sc.rawStr()
	if plain {
		return s
	}
	return unescape(s)
}

// ownStr is str for a string kept beyond the input: it never shares its memory.
func (sc *scanner) ownStr() string { return own(sc.rawStr()) }

// own returns the string rawStr read, unescaped, in memory of its own.
func own(s string, plain bool) string {
	if plain {
		return strings.Clone(s)
	}
	return unescape(s)
}

// rawStr reads a string and returns it as it is written between its quotes, and
// whether it holds no escape.
func (sc *scanner) rawStr() (s string, plain bool) {
	sc.byte('"')
	if sc.bad {
		return "", true
	}
	start := sc.i
	ascii := true
	plain = true
	for ; sc.i < len(sc.s); sc.i++ {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			s := sc.s[start:sc.i]
			sc.i++
			if !ascii && !utf8.ValidString(s) {
				sc.bad = true // json.Unmarshal would replace the bad bytes
				return "", true
			}
			return s, plain
		case c == '\\':
			plain = false
			sc.i++
			if sc.i >= len(sc.s) {
				sc.bad = true
				return "", true
			}
			switch sc.s[sc.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			default: // \u and invalid escapes: leave them to encoding/json
				sc.bad = true
				return "", true
			}
		case c < 0x20:
			sc.bad = true
			return "", true
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	sc.bad = true
	return "", true
}

// unescape undoes the one-letter escapes of s, which rawStr checked, into one
// allocation of its own.
func unescape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		}
		b = append(b, c)
	}
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is not used again
}

// int reads an integer without fraction or exponent that fits an int.
func (sc *scanner) int() int {
	start := sc.i
	if sc.peek('-') {
		sc.i++
	}
	digits := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= '0' && sc.s[sc.i] <= '9' {
		sc.i++
	}
	// No digits, or a leading zero (not JSON), or too long for an int: not ours.
	if sc.i == digits || sc.s[digits] == '0' && sc.i-digits > 1 || sc.i-digits > 18 {
		sc.bad = true
		return 0
	}
	if sc.peek('.') || sc.peek('e') || sc.peek('E') {
		sc.bad = true
		return 0
	}
	n, err := strconv.Atoi(sc.s[start:sc.i])
	if err != nil {
		sc.bad = true
	}
	return n
}

func (sc *scanner) bool() bool {
	switch {
	case len(sc.s)-sc.i >= 4 && sc.s[sc.i:sc.i+4] == "true":
		sc.i += 4
		return true
	case len(sc.s)-sc.i >= 5 && sc.s[sc.i:sc.i+5] == "false":
		sc.i += 5
		return false
	}
	sc.bad = true
	return false
}

// object reads an object, calling field for each key (positioned at its value);
// field returns false for a key it does not know.
func (sc *scanner) object(field func(key string) bool) {
	sc.byte('{')
	if sc.peek('}') {
		sc.i++
		return
	}
	for !sc.bad {
		key := sc.str()
		sc.byte(':')
		if sc.bad || !field(key) {
			sc.bad = true
			return
		}
		if sc.peek(',') {
			sc.i++
			continue
		}
		sc.byte('}')
		return
	}
}

// end reports whether the whole input was read without trouble.
func (sc *scanner) end() bool { return !sc.bad && sc.i == len(sc.s) }

// scanEnvelope reads {"type":"…","data":"…"}. It reads body in place and copies
// only what it keeps: the type is one of the names the package knows (or a copy),
// the data a string of its own.
func scanEnvelope(body []byte) (Message, bool) {
	sc := scanner{s: unsafe.String(unsafe.SliceData(body), len(body))}
	var m Message
	sc.object(func(key string) bool {
		switch key {
		case "type":
			s, plain := sc.rawStr()
			if t, known := typeNames[s]; known { // a known name has no escape
				m.Type = t
			} else {
				m.Type = own(s, plain)
			}
		case "data":
			m.Data = sc.ownStr()
		default:
			return false
		}
		return true
	})
	return m, sc.end()
}

// typeNames maps every type name of the protocol to itself: a decoded envelope's
// type is the constant, not a copy of it.
var typeNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{LoginMesType, LoginResMesType, RegisterMesType, RegisterResMesType,
		NotifyUserStatusMesType, NotifyUsersStatusMesType, SmsMesType, SmsResMesType, PrivateMesType, PrivateResMesType, AckMesType,
		OnlineUsersMesType, OnlineUsersResMesType, LogoutMesType, PingMesType, PongMesType, ErrorResMesType,
		RoomCreateMesType, RoomJoinMesType, RoomLeaveMesType, RoomKickMesType, RoomResMesType, RoomListMesType,
		RoomListResMesType, RoomMembersMesType, RoomMembersResMesType, RoomMesType, RoomNoticeMesType,
		HistoryMesType, HistoryResMesType} {
		m[t] = t
	}
	return m
}()

// scanPayload decodes data into v if v is one of the payloads read by hand and
// data has the canonical shape. v is left alone otherwise.
func scanPayload(data string, v any) bool {
	switch p := v.(type) {
	case *PrivateMes:
		if p == nil {
			return false
		}
		m := *p
		sc := scanner{s: data}
		sc.object(func(key string) bool {
			switch key {
			case "msgId":
				m.MsgID = sc.str()
			case "fromUserId":
				m.FromUserID = sc.int()
			case "fromUserName":
				m.FromUserName = sc.str()
			case "toUserId":
				m.ToUserID = sc.int()
			case "content":
				m.Content = sc.str()
			case "clientMsgId":
				m.ClientMsgID = sc.str()
			case "sentAt":
				m.SentAt = int64(sc.int())
			case "offline":
				m.Offline = sc.bool()
			default:
				return false
			}
			return true
		})
		if !sc.end() {
			return false
		}
		*p = m
		return true
	case *AckMes:
		if p == nil {
			return false
		}
		var ids []string
		sc := scanner{s: data}
		sc.object(func(key string) bool {
			if key != "msgIds" || ids != nil {
				return false // a repeated key: encoding/json's rules
			}
			sc.byte('[')
			// About one id per comma; the bound keeps a frame of commas from
			// taking much.
			ids = make([]string, 0, min(strings.Count(data, ",")+1, 256))
			if sc.peek(']') {
				sc.i++
				return true
			}
			for !sc.bad {
				ids = append(ids, sc.str())
				if sc.peek(',') {
					sc.i++
					continue
				}
				sc.byte(']')
				break
			}
			return true
		})
		if !sc.end() || ids == nil {
			return false
		}
		p.MsgIDs = ids
		return true
	}
	return false
}
