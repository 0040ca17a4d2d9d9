package transport

import (
	"net"
	"time"
)

type nopCounter struct{}

func (nopCounter) Add(float64) {}

// testConfig is a Config whose goroutines are plain ones and whose counters count nothing.
func testConfig(maxQueue int, writeTimeout time.Duration) *Config {
	return &Config{MaxQueue: maxQueue, WriteTimeout: writeTimeout, Go: func(f func()) { go f() },
		FramesWritten: nopCounter{}, Overflows: nopCounter{}}
}

func newTestConn(cfg *Config, nc net.Conn) *Conn {
	c := new(Conn)
	c.Init(cfg, nc, nil)
	return c
}
