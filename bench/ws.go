package main

// A minimal WebSocket client (RFC 6455), just what the peer scenario needs to
// talk to Centrifugo: the opening handshake over a net.Conn, masked text frames
// out, unmasked frames in, pings answered. A general-purpose library would cost
// the load tool more CPU per message than the server it measures.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// WebSocket opcodes.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// wsGUID is the fixed string of the handshake's Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

var (
	errWSClosed    = errors.New("websocket: closed by the server")
	errWSTooLarge  = errors.New("websocket: frame too large")
	errWSHandshake = errors.New("websocket: handshake refused")
)

// appendWSFrame appends one final frame of opcode op with payload to dst,
// masked with mask when masked (a client must mask every frame it sends).
func appendWSFrame(dst []byte, op byte, payload []byte, masked bool, mask [4]byte) []byte {
	dst = append(dst, 0x80|op)
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, m|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// wsFrame is one frame as read.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// readWSFrame reads one frame from r into buf (grown as needed; the payload is
// valid until the next call with the same buf), unmasking it if it is masked.
func readWSFrame(r *bufio.Reader, buf []byte, limit int) (wsFrame, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wsFrame{}, buf, err
	}
	f := wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0F}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return f, buf, err
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return f, buf, err
		}
		n = binary.BigEndian.Uint64(l[:])
	}
	if n > uint64(limit) {
		return f, buf, fmt.Errorf("%w: %d bytes", errWSTooLarge, n)
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return f, buf, err
		}
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	f.payload = buf[:n]
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, buf, err
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= mask[i&3]
		}
	}
	return f, buf, nil
}

// splitLines calls fn with each non-empty line of a message: Centrifugo's JSON
// protocol puts several replies or pushes in one frame, one per line.
func splitLines(msg []byte, fn func(line []byte)) {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		if len(line) > 0 {
			fn(line)
		}
	}
}

// wsConn is a client WebSocket connection. One goroutine reads (readMessage);
// writes are serialised by wmu, so a reader may answer pings itself.
type wsConn struct {
	nc   net.Conn
	br   *bufio.Reader
	rbuf []byte
	msg  []byte // a fragmented message being put together
	wmu  sync.Mutex
	wbuf []byte
	mask [4]byte
}

// wsKey returns a fresh Sec-WebSocket-Key and the Sec-WebSocket-Accept that
// must answer it.
func wsKey() (key, accept string) {
	var b [16]byte
	rand.Read(b[:])
	key = base64.StdEncoding.EncodeToString(b[:])
	return key, wsAccept(key)
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// dialWS opens a WebSocket to ws://addr/path from the source address src ("" for any).
func dialWS(ctx context.Context, addr, path, src string) (*wsConn, error) {
	nc, err := dialer(src).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := handshakeWS(nc, addr, path, 10*time.Second)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// handshakeWS sends the opening handshake over nc and checks the answer.
func handshakeWS(nc net.Conn, host, path string, timeout time.Duration) (*wsConn, error) {
	key, accept := wsKey()
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != accept {
		return nil, fmt.Errorf("%w: %s (accept %q, want %q)", errWSHandshake, resp.Status, resp.Header.Get("Sec-WebSocket-Accept"), accept)
	}
	c := &wsConn{nc: nc, br: br}
	rand.Read(c.mask[:])
	return c, nil
}

func (c *wsConn) Close() { c.nc.Close() }

// write sends one masked frame. The mask need not be unpredictable here: it
// protects proxies of browsers from scripts, and there is no browser.
func (c *wsConn) write(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendWSFrame(c.wbuf[:0], op, payload, true, c.mask)
	_, err := c.nc.Write(c.wbuf)
	return err
}

func (c *wsConn) writeText(payload []byte) error { return c.write(wsText, payload) }

// readMessage returns the next data message (valid until the next call),
// answering pings and putting fragments together on the way.
func (c *wsConn) readMessage() ([]byte, error) {
	c.msg = c.msg[:0]
	for {
		f, buf, err := readWSFrame(c.br, c.rbuf, 1<<20)
		c.rbuf = buf
		if err != nil {
			return nil, err
		}
		switch f.op {
		case wsPing:
			if err := c.write(wsPong, f.payload); err != nil {
				return nil, err
			}
			continue
		case wsPong:
			continue
		case wsClose:
			c.write(wsClose, nil)
			return nil, errWSClosed
		}
		if f.fin && len(c.msg) == 0 {
			return f.payload, nil
		}
		c.msg = append(c.msg, f.payload...)
		if f.fin {
			return c.msg, nil
		}
	}
}
