package message

import "unicode/utf8"

// Classic sessions are those that did not announce proto 2: the course's client,
// which reads each frame into a fixed 8,096-byte buffer and shows only LoginResMes,
// RegisterResMes, NotifyUserStatusMes and SmsMes. What the server sends them is
// shaped by the values below (PROTOCOL.md, "Classic sessions").
const (
	// MaxClassicFrame is the longest frame, length prefix included, sent to a
	// classic session: the course's client reads a frame into an 8,096-byte buffer
	// and crashes on a longer one.
	MaxClassicFrame = 8096

	// CutMarker ends the content of an SmsMes that was cut to fit MaxClassicFrame.
	CutMarker = " [cut]"

	// PrivatePrefix and OfflinePrivatePrefix start the content of a private
	// message sent to a classic session as an SmsMes; the second one when the
	// message waited in the store for the recipient to log in.
	PrivatePrefix        = "[private] "
	OfflinePrivatePrefix = "[private, offline] "

	// ServerUserID and ServerUserName are the sender of the notices a classic
	// session gets as SmsMes instead of ErrorResMes.
	ServerUserID   = 0
	ServerUserName = "server"
)

// FitSmsFrame returns the frame of m if it is at most limit bytes long (f, when not
// nil, is that frame already encoded). Otherwise it returns the frame of m with its
// content cut at a UTF-8 boundary and ended with CutMarker, keeping as much of the
// content as fits. ErrNoFit means not even the marker alone fits.
func FitSmsFrame(m SmsMes, f []byte, limit int) ([]byte, error) {
	if f != nil && len(f) <= limit {
		return f, nil
	}
	return fitContent(m.Content, f, limit, func(content string) ([]byte, error) {
		m.Content = content
		return EncodeFrame(SmsMesType, m)
	})
}

// FitContent is FitSmsFrame for any frame with one content field that may be cut:
// encode(s) is the frame with s as that content.
func FitContent(content string, limit int, encode func(content string) ([]byte, error)) ([]byte, error) {
	return fitContent(content, nil, limit, encode)
}

func fitContent(content string, f []byte, limit int, encode func(string) ([]byte, error)) ([]byte, error) {
	var err error
	if f == nil {
		if f, err = encode(content); err != nil {
			return nil, err
		}
	}
	if len(f) <= limit {
		return f, nil
	}
	base, err := encode(CutMarker)
	if err != nil {
		return nil, err
	}
	// A JSON string escapes each character on its own, so the frame of
	// content[:n]+CutMarker is the frame of CutMarker plus what content[:n] costs.
	budget := limit - len(base)
	if budget < 0 {
		return nil, ErrNoFit
	}
	if f, err = encode(content[:cutPoint(content, budget)] + CutMarker); err != nil {
		return nil, err
	}
	if len(f) > limit {
		return nil, ErrNoFit // cutPoint counts what the encoders write: not reached
	}
	return f, nil
}

// cutPoint returns the longest prefix of s, ending at a UTF-8 boundary, that takes
// at most budget bytes in a frame: s as the payload encoder writes it, quoted again
// in the envelope. It walks s and its encoding side by side, so that it counts
// exactly what the encoders write rather than repeating their escaping rules.
func cutPoint(s string, budget int) int {
	p := getPayloadEncoder()
	defer putPayloadEncoder(p)
	enc, err := p.marshal(s)
	if err != nil || len(enc) < 2 {
		return 0
	}
	enc = enc[1 : len(enc)-1] // the quotes
	cost, i, j := 0, 0, 0
	for i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		n := size // a character written as itself
		if enc[j] == '\\' {
			n = 2 // \" \\ \n and the like
			if j+1 < len(enc) && enc[j+1] == 'u' {
				n = 6 // \u00XX, \u2028, \ufffd for an invalid byte
			}
		}
		if j+n > len(enc) {
			return i
		}
		c := quotedLen(enc[j:j+n]) - 2
		if cost+c > budget {
			return i
		}
		cost += c
		i += size
		j += n
	}
	return i
}
