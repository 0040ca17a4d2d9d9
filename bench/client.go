package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"chat/common/frame"
	"chat/common/message"
)

const benchPassword = "bench-pw-1"

// loginWait bounds one login attempt; a lost answer is retried on a new connection.
var loginWait = 20 * time.Second

// retries counts register and login attempts that had to be repeated.
var retries atomic.Int64

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: with a bound source address the
// kernel picks the source port at connect time, per destination, so one loopback
// source address is not limited to one ephemeral range for all destinations.
const ipBindAddressNoPort = 24

func dialer(src string) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		d.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
			return serr
		}
	}
	return d
}

// client is one chat connection. One goroutine reads (readFrame), writes are
// serialised by wmu.
type client struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
	wmu sync.Mutex
}

func dialClient(ctx context.Context, addr, src string) (*client, error) {
	nc, err := dialer(src).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{nc: nc, br: bufio.NewReaderSize(nc, 2048)}, nil
}

func (c *client) Close() { c.nc.Close() }

func (c *client) send(typ string, v any) error {
	f, err := message.EncodeFrame(typ, v)
	if err != nil {
		return err
	}
	return c.writeRaw(f)
}

func (c *client) writeRaw(f []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(f)
	c.wmu.Unlock()
	return err
}

// readFrame returns the next frame's body (valid until the next call) and its type.
func (c *client) readFrame() (string, []byte, error) {
	body, err := frame.Read(c.br, 1<<20, c.buf)
	if err != nil {
		return "", nil, err
	}
	if cap(body) > cap(c.buf) && cap(body) <= 64<<10 {
		c.buf = body[:0]
	}
	return envType(body), body, nil
}

var typePrefix = []byte(`{"type":"`)

// envType reads the envelope type without decoding the whole body: the server
// always writes the type first. Falls back to a full decode.
func envType(body []byte) string {
	if bytes.HasPrefix(body, typePrefix) {
		rest := body[len(typePrefix):]
		if i := bytes.IndexByte(rest, '"'); i > 0 && i < 40 {
			return string(rest[:i])
		}
	}
	m, err := message.Decode(body)
	if err != nil {
		return ""
	}
	return m.Type
}

func unpack(body []byte, v any) error {
	m, err := message.Decode(body)
	if err != nil {
		return err
	}
	return message.Unpack(m, v)
}

// waitFor reads frames until one of type typ, skipping presence and the like.
func (c *client) waitFor(typ string, v any, deadline time.Time) error {
	c.nc.SetReadDeadline(deadline)
	defer c.nc.SetReadDeadline(time.Time{})
	for i := 0; i < 100000; i++ {
		t, body, err := c.readFrame()
		if err != nil {
			return err
		}
		if t == typ {
			return unpack(body, v)
		}
		if t == message.ErrorResMesType {
			var e message.ErrorResMes
			unpack(body, &e)
			return fmt.Errorf("ErrorResMes %d %s (%s)", e.Code, e.Error, e.RefType)
		}
	}
	return errors.New("too many frames before " + typ)
}

// register creates the user; an existing user (400) is fine.
func (c *client) register(id int) error {
	if err := c.send(message.RegisterMesType, message.RegisterMes{User: message.User{
		UserID: id, UserPwd: benchPassword, UserName: fmt.Sprintf("u%d", id)}}); err != nil {
		return err
	}
	var r message.RegisterResMes
	if err := c.waitFor(message.RegisterResMesType, &r, time.Now().Add(10*time.Second)); err != nil {
		return err
	}
	if r.Code != message.CodeOK && r.Code != message.CodeUserExists {
		return fmt.Errorf("register %d: code %d %s", id, r.Code, r.Error)
	}
	return nil
}

// login logs id in with the password (proto 2), patiently.
func (c *client) login(id int) (message.LoginResMes, error) {
	return c.loginPatiently(message.LoginMes{UserID: id, UserPwd: benchPassword, Proto: message.ProtoAck})
}

// loginPatiently sends m until it is answered other than "busy" (505 with
// retryAfter), waiting as told between tries, while loginWait lasts.
func (c *client) loginPatiently(m message.LoginMes) (message.LoginResMes, error) {
	end := time.Now().Add(loginWait)
	for {
		r, err := c.loginWith(m)
		if err == nil || r.RetryAfter <= 0 {
			return r, err
		}
		busyAnswers.Add(1)
		wait := retryWait(r.RetryAfter)
		if time.Now().Add(wait).After(end) {
			return r, err
		}
		time.Sleep(wait)
	}
}

// loginWith sends one LoginMes and waits for its answer; an answer other than
// 200 is an error (r says which).
func (c *client) loginWith(m message.LoginMes) (message.LoginResMes, error) {
	var r message.LoginResMes
	if err := c.send(message.LoginMesType, m); err != nil {
		return r, err
	}
	if err := c.waitFor(message.LoginResMesType, &r, time.Now().Add(loginWait)); err != nil {
		return r, err
	}
	if r.Code != message.CodeOK {
		return r, fmt.Errorf("login %d: code %d %s", m.UserID, r.Code, r.Error)
	}
	return r, nil
}

// busyAnswers counts logins answered 505 with retryAfter (server busy).
var busyAnswers atomic.Int64

// retryWait is how long a client waits after a busy answer: the server's
// retryAfter plus jitter of up to as much again, as the terminal client does.
func retryWait(retryAfterMs int) time.Duration {
	wait := time.Duration(retryAfterMs) * time.Millisecond
	return wait + rand.N(wait)
}

// registerRange registers ids[from..to) with conc connections, each registering
// users one after the other and reconnecting every 200 users (the server closes
// connections that have not logged in within 30 s).
func registerRange(ctx context.Context, addr string, ids []int, conc int) error {
	if conc < 1 {
		conc = 1
	}
	next := make(chan int, len(ids))
	for _, id := range ids {
		next <- id
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *client
			n := 0
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for id := range next {
				if ctx.Err() != nil {
					return
				}
				if c == nil || n >= 200 {
					if c != nil {
						c.Close()
					}
					var err error
					if c, err = dialClient(ctx, addr, ""); err != nil {
						mu.Lock()
						first = errors.Join(first, err)
						mu.Unlock()
						return
					}
					n = 0
				}
				n++
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					if c == nil {
						if c, err = dialClient(ctx, addr, ""); err != nil {
							continue
						}
						n = 1
					}
					if err = c.register(id); err == nil {
						break
					}
					retries.Add(1)
					c.Close()
					c = nil
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}
