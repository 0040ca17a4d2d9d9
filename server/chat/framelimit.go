package chat

import (
	"unicode/utf8"

	"chat/common/frame"
	"chat/common/message"
)

// Nothing the server sends is over the frame limit: lists are cut to fit (a page
// then holds fewer items than asked for, and the client pages on from what it got),
// and what a response repeats of a request is cut to a few bytes.

// Bounds of what a response repeats of a request (a type, a clientMsgId, a
// decoder's message quoting the input): escaped twice, a byte may take 7.
const (
	maxEcho      = 64
	maxErrorText = 256
)

// sendLimit is the largest frame body the server sends: the protocol's limit, or
// the node's own if it is lower.
func (s *Server) sendLimit() int { return min(s.cfg.MaxFrame, message.MaxFrame) }

// fits reports whether frame f is within the send limit.
func (s *Server) fits(f []byte) bool { return len(f)-frame.HeaderLen <= s.sendLimit() }

// encodeFitting returns the frame of the longest page of at most n items that
// fits the send limit; encode(k) encodes the page of the first k items. The
// search re-encodes only a page that does not fit whole, which takes a page of
// long, escaped items: it is rare, and then costs a few encodings.
func (s *Server) encodeFitting(n int, encode func(k int) ([]byte, error)) ([]byte, error) {
	f, err := encode(n)
	if err != nil || s.fits(f) {
		return f, err
	}
	lo, hi := 0, n // the first lo items fit (none always does), the first hi do not
	var best []byte
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		g, err := encode(mid)
		if err != nil {
			return nil, err
		}
		if s.fits(g) {
			lo, best = mid, g
		} else {
			hi = mid
		}
	}
	if best == nil {
		return encode(0)
	}
	return best, nil
}

// truncate cuts s to at most n bytes, at a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
