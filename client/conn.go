package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"chat/common/frame"
	"chat/common/message"
)

// Event is what the reader goroutine hands to the UI: one message from the server
// or, as the very last event of a connection, the reason it ended (Err != nil).
// The reader only decodes; everything the user sees is decided by the UI.
type Event struct {
	Type string // envelope type, e.g. message.SmsMesType; empty on the final event
	Body any    // pointer to the decoded payload, e.g. *message.SmsMes
	Err  error  // why the connection ended (io.EOF when the server closed it)
}

// Conn is one connection to the server: a mutex-guarded writer and a reader
// goroutine that turns frames into Events.
type Conn struct {
	nc     net.Conn
	events chan Event
	done   chan struct{} // closed by Close, releases a blocked reader

	closeOnce sync.Once
	wmu       sync.Mutex // one writer at a time
}

// writeTimeout bounds a write to a server that stopped reading.
const writeTimeout = 10 * time.Second

// Dial connects to addr, over TLS when tlsConf is not nil, and starts the reader.
func Dial(addr string, tlsConf *tls.Config, timeout time.Duration) (*Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var (
		nc  net.Conn
		err error
	)
	if tlsConf != nil {
		conf := tlsConf.Clone()
		if conf.ServerName == "" {
			conf.ServerName, _, _ = net.SplitHostPort(addr)
		}
		nc, err = tls.DialWithDialer(d, "tcp", addr, conf)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return NewConn(nc), nil
}

// NewConn wraps an established connection and starts its reader goroutine.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{nc: nc, events: make(chan Event, 256), done: make(chan struct{})}
	go c.read()
	return c
}

// Events is closed after the final event (the one with Err set).
func (c *Conn) Events() <-chan Event { return c.events }

// Send writes one message of type typ with payload v.
func (c *Conn) Send(typ string, v any) error {
	f, err := message.EncodeFrame(typ, v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = c.nc.Write(f)
	return err
}

// Close closes the connection; the reader ends with a final event and stops.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		err = c.nc.Close()
	})
	return err
}

// read is the reader goroutine: frames in, Events out, nothing else.
func (c *Conn) read() {
	defer close(c.events)
	var buf []byte
	for {
		body, err := frame.Read(c.nc, message.MaxFrame, buf)
		if err != nil {
			c.emit(Event{Err: readError(err)})
			return
		}
		buf = body[:0]
		m, err := message.Decode(body)
		if err != nil {
			c.emit(Event{Err: fmt.Errorf("bad frame from server: %w", err)})
			c.nc.Close()
			return
		}
		ev := Event{Type: m.Type, Body: newPayload(m.Type)}
		if ev.Body != nil && message.Unpack(m, ev.Body) != nil {
			continue // a malformed payload is ignored, as unknown fields are
		}
		if !c.emit(ev) {
			return
		}
	}
}

// emit delivers ev unless the connection was closed by our side.
func (c *Conn) emit(ev Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.done:
		return false
	}
}

// readError maps the errors of a connection that ended to a readable cause.
func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return io.EOF
	case errors.Is(err, net.ErrClosed):
		return net.ErrClosed
	}
	return err
}

// newPayload returns a pointer to the payload type of a server message type,
// nil for types the client does not know (they are passed on without a body).
func newPayload(typ string) any {
	switch typ {
	case message.LoginResMesType:
		return new(message.LoginResMes)
	case message.RegisterResMesType:
		return new(message.RegisterResMes)
	case message.NotifyUserStatusMesType:
		return new(message.NotifyUserStatusMes)
	case message.NotifyUsersStatusMesType:
		return new(message.NotifyUsersStatusMes)
	case message.SmsMesType:
		return new(message.SmsMes)
	case message.SmsResMesType:
		return new(message.SmsResMes)
	case message.PrivateMesType:
		return new(message.PrivateMes)
	case message.PrivateResMesType:
		return new(message.PrivateResMes)
	case message.OnlineUsersResMesType:
		return new(message.OnlineUsersResMes)
	case message.PongMesType:
		return new(message.PongMes)
	case message.ErrorResMesType:
		return new(message.ErrorResMes)
	case message.RoomResMesType:
		return new(message.RoomResMes)
	case message.RoomListResMesType:
		return new(message.RoomListResMes)
	case message.RoomMembersResMesType:
		return new(message.RoomMembersResMes)
	case message.RoomMesType:
		return new(message.RoomMes)
	case message.RoomNoticeMesType:
		return new(message.RoomNoticeMes)
	case message.HistoryResMesType:
		return new(message.HistoryResMes)
	}
	return nil
}
