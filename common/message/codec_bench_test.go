package message

import (
	"strings"
	"testing"
)

// BenchmarkEncodeFrame measures the encoding of one group message, done once per
// broadcast: a plain line, one full of the characters JSON escapes, and one of
// characters written as several bytes.
func BenchmarkEncodeFrame(b *testing.B) {
	for _, bc := range []struct {
		name    string
		content string
	}{
		{"plain", "hello everyone, see you at the meeting at ten"},
		{"markup", strings.Repeat(`<a href="x">&amp;</a> `, 40)},
		{"unicode", strings.Repeat("会议十点开始，请准时 é 😀 ", 20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := SmsMes{Content: bc.content, UserID: 100, UserName: "scott", MsgID: "g1", SentAt: 1700000000000}
			b.ReportAllocs()
			for range b.N {
				if _, err := EncodeFrame(SmsMesType, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFitSmsFrame measures cutting a group message too long for classic
// sessions, done once per broadcast and node when it happens.
func BenchmarkFitSmsFrame(b *testing.B) {
	m := SmsMes{Content: strings.Repeat(`"`, MaxContentLen), UserID: 100, UserName: "scott", MsgID: "g1", SentAt: 1700000000000}
	f, err := EncodeFrame(SmsMesType, m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := FitSmsFrame(m, f, MaxClassicFrame); err != nil {
			b.Fatal(err)
		}
	}
}
