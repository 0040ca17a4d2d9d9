package chat

import (
	"net"
	"sync"
	"testing"
	"time"

	"chat/common/message"
)

// discardConn is a net.Conn whose writes succeed at once, so that a benchmark of
// the server's side of a broadcast measures the server alone: no kernel buffers,
// no clients competing for the CPU.
type discardConn struct {
	net.Conn // nil: only the methods below are used
	signal   func()
}

func (d *discardConn) Write(b []byte) (int, error) {
	d.signal()
	return len(b), nil
}
func (d *discardConn) Close() error                     { return nil }
func (d *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (d *discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// BenchmarkFanOut10k measures the server's side of one group message to 10,000
// sessions on one node: encoding once, queueing to every session, and every
// writer's write, until the last write is done.
func BenchmarkFanOut10k(b *testing.B) {
	const receivers = 10000
	s := New(Config{Node: "bench"}, Stores{})
	var wg sync.WaitGroup
	for i := range receivers {
		d := &discardConn{signal: wg.Done}
		c := newSession(s, d)
		c.user = i + 1
		c.t.SetReady()
		s.hub.conns[c.user] = c
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		wg.Add(receivers - 1)
		f, err := message.EncodeFrame(message.SmsMesType, message.SmsMes{Content: "hello everyone", UserID: 1, UserName: "sender", MsgID: "g1", SentAt: 1})
		if err != nil {
			b.Fatal(err)
		}
		s.fanOut(message.SmsMesType, f, 1)
		wg.Wait()
	}
}
