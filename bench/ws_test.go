package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// The examples of RFC 6455, section 5.7, and the length forms of section 5.2.
func TestAppendWSFrameBytes(t *testing.T) {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	tests := []struct {
		name    string
		op      byte
		payload []byte
		masked  bool
		head    []byte // the bytes before the payload
		body    []byte // nil: the payload as is
	}{
		{"unmasked Hello", wsText, []byte("Hello"), false, []byte{0x81, 0x05}, nil},
		{"masked Hello", wsText, []byte("Hello"), true, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}, []byte{0x7f, 0x9f, 0x4d, 0x51, 0x58}},
		{"unmasked ping", wsPing, []byte("Hello"), false, []byte{0x89, 0x05}, nil},
		{"125 bytes: 7-bit length", wsBinary, make([]byte, 125), false, []byte{0x82, 125}, nil},
		{"126 bytes: 16-bit length", wsBinary, make([]byte, 126), false, []byte{0x82, 126, 0x00, 126}, nil},
		{"256 bytes: 16-bit length", wsBinary, make([]byte, 256), false, []byte{0x82, 0x7E, 0x01, 0x00}, nil},
		{"65535 bytes: 16-bit length", wsBinary, make([]byte, 65535), false, []byte{0x82, 0x7E, 0xFF, 0xFF}, nil},
		{"65536 bytes: 64-bit length", wsBinary, make([]byte, 65536), false, []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, nil},
		{"masked 300 bytes", wsText, bytes.Repeat([]byte{0}, 300), true, []byte{0x81, 0xFE, 0x01, 0x2C, 0x37, 0xfa, 0x21, 0x3d},
			bytes.Repeat(mask[:], 75)},
	}
	for _, tt := range tests {
		got := appendWSFrame(nil, tt.op, tt.payload, tt.masked, mask)
		want := append(append([]byte{}, tt.head...), tt.body...)
		if tt.body == nil {
			want = append(want, tt.payload...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got % x…, want % x… (lengths %d, %d)", tt.name, got[:min(len(got), 12)], want[:min(len(want), 12)], len(got), len(want))
		}
	}
}

func TestReadWSFrameRoundTrip(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		for _, masked := range []bool{false, true} {
			payload := make([]byte, n)
			for i := range payload {
				payload[i] = byte(i*7 + 3)
			}
			wire := appendWSFrame([]byte("prefix"), wsText, payload, masked, mask)[len("prefix"):]
			r := bufio.NewReader(bytes.NewReader(append(wire, appendWSFrame(nil, wsPong, []byte("next"), false, mask)...)))
			f, _, err := readWSFrame(r, nil, 1<<20)
			if err != nil {
				t.Fatalf("%d bytes, masked %v: %v", n, masked, err)
			}
			if !f.fin || f.op != wsText || !bytes.Equal(f.payload, payload) {
				t.Errorf("%d bytes, masked %v: got fin %v op %x and %d bytes (equal %v), want fin, text and the payload",
					n, masked, f.fin, f.op, len(f.payload), bytes.Equal(f.payload, payload))
			}
			// The next frame starts where this one ended.
			f, _, err = readWSFrame(r, nil, 1<<20)
			if err != nil || f.op != wsPong || string(f.payload) != "next" {
				t.Errorf("%d bytes, masked %v: the frame after it: got op %x %q %v, want a pong \"next\"", n, masked, f.op, f.payload, err)
			}
		}
	}
}

func TestReadWSFrameLimit(t *testing.T) {
	wire := appendWSFrame(nil, wsText, make([]byte, 2000), false, [4]byte{})
	_, _, err := readWSFrame(bufio.NewReader(bytes.NewReader(wire)), nil, 1000)
	if !errors.Is(err, errWSTooLarge) {
		t.Errorf("got %v, want %v", err, errWSTooLarge)
	}
}

func TestSplitLines(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"{}", []string{"{}"}},
		{`{"id":3,"publish":{}}`, []string{`{"id":3,"publish":{}}`}},
		{"{\"id\":3}\n{\"push\":{}}", []string{`{"id":3}`, `{"push":{}}`}},
		{"a\n\nb\n", []string{"a", "b"}},
		{"\n{}\n", []string{"{}"}},
	}
	for _, tt := range tests {
		var got []string
		splitLines([]byte(tt.in), func(l []byte) { got = append(got, string(l)) })
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("splitLines(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCentrifugoPublishAndPush(t *testing.T) {
	content := makeContent("P", 7, 64)
	cmd := centrifugoPublish(nil, 9, "p12", content)
	var got struct {
		ID      int `json:"id"`
		Publish struct {
			Channel string            `json:"channel"`
			Data    map[string]string `json:"data"`
		} `json:"publish"`
	}
	if err := json.Unmarshal(cmd, &got); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if got.ID != 9 || got.Publish.Channel != "p12" || got.Publish.Data["m"] != content {
		t.Errorf("got %+v, want id 9, channel p12, data.m %q", got, content)
	}
	tests := []struct {
		line string
		want string
		ok   bool
	}{
		{`{"push":{"channel":"p12","pub":{"data":{"m":"` + content + `"},"offset":3}}}`, content, true},
		{`{"push":{"channel":"p12","pub":{"data":{"m":"x"}}}}`, "x", true},
		{`{"id":9,"publish":{}}`, "", false},
		{`{"push":{"channel":"p12","join":{"info":{}}}}`, "", false},
	}
	for _, tt := range tests {
		c, ok := pushContent([]byte(tt.line))
		if c != tt.want || ok != tt.ok {
			t.Errorf("pushContent(%s): got %q %v, want %q %v", tt.line, c, ok, tt.want, tt.ok)
		}
	}
}

// fakeWSServer answers the handshake on nc with accept (the right one if
// empty), then runs serve on the reader of what the client sends.
func fakeWSServer(t *testing.T, nc net.Conn, accept string, serve func(br *bufio.Reader)) {
	t.Helper()
	go func() {
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if accept == "" {
			accept = wsAccept(req.Header.Get("Sec-WebSocket-Key"))
		}
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept)
		serve(br)
	}()
}

func TestWSAccept(t *testing.T) {
	// RFC 6455, section 1.3.
	if got, want := wsAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	cl, sv := net.Pipe()
	defer cl.Close()
	fakeWSServer(t, sv, "d3Jvbmc=", func(*bufio.Reader) {})
	if _, err := handshakeWS(cl, "x", "/", 5*time.Second); !errors.Is(err, errWSHandshake) {
		t.Errorf("a wrong Sec-WebSocket-Accept: got %v, want %v", err, errWSHandshake)
	}
}

// tcpPair is a connected pair of loopback TCP connections: unlike net.Pipe,
// both ends may write at once.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); sv.Close() })
	return cl, sv
}

// The client answers a ping with a masked pong of the same payload, puts a
// fragmented message together, and masks what it sends.
func TestWSConnPingFragmentsAndMask(t *testing.T) {
	cl, sv := tcpPair(t)
	fromClient := make(chan wsFrame, 4)
	fakeWSServer(t, sv, "", func(br *bufio.Reader) {
		var m [4]byte
		sv.Write(appendWSFrame(nil, wsPing, []byte("p1"), false, m))
		sv.Write(append([]byte{0x01, 8}, `{"id":1,`...)) // text, not final
		sv.Write(appendWSFrame(nil, wsContinuation, []byte(`"connect":{}}`+"\n{}"), false, m))
		for range 2 {
			head, _ := br.Peek(2)
			masked := len(head) == 2 && head[1]&0x80 != 0
			f, _, err := readWSFrame(br, nil, 1<<10)
			if err != nil {
				return
			}
			if !masked {
				f.op = 0xF // unmasked client frames are a protocol error
			}
			fromClient <- f
		}
	})
	c, err := handshakeWS(cl, "x", centrifugoPath, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.readMessage()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(msg), `{"id":1,"connect":{}}`+"\n{}"; got != want {
		t.Errorf("message: got %q, want %q", got, want)
	}
	if err := c.writeText([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []wsFrame{{true, wsPong, []byte("p1")}, {true, wsText, []byte("{}")}} {
		select {
		case f := <-fromClient:
			if f.fin != want.fin || f.op != want.op || !bytes.Equal(f.payload, want.payload) {
				t.Errorf("from the client: got fin %v op %x %q, want a masked fin %v op %x %q", f.fin, f.op, f.payload, want.fin, want.op, want.payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("from the client: nothing, want op %x %q", want.op, want.payload)
		}
	}
}
