package main

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"
)

// A reply comes in a frame with other lines (Centrifugo batches them): the
// ping among them is answered, the reply found by its id, an error reply is an
// error.
func TestCentrifugoCommand(t *testing.T) {
	tests := []struct {
		name    string
		frames  []string // what the server sends after it has read the command
		wantErr error
	}{
		{"alone", []string{`{"id":1,"connect":{"client":"c","version":"6","ping":25,"pong":true}}`}, nil},
		{"after a ping, in one frame", []string{"{}\n" + `{"id":1,"connect":{}}`}, nil},
		{"after another id", []string{`{"id":11,"publish":{}}`, `{"id":1,"connect":{}}`}, nil},
		{"error reply", []string{`{"id":1,"error":{"code":103,"message":"permission denied"}}`}, errCentrifugoReply},
	}
	for _, tt := range tests {
		cl, sv := tcpPair(t)
		got := make(chan []string, 1)
		fakeWSServer(t, sv, "", func(br *bufio.Reader) {
			var in []string
			f, _, err := readWSFrame(br, nil, 1<<10)
			if err != nil {
				return
			}
			in = append(in, string(f.payload))
			for _, out := range tt.frames {
				sv.Write(appendWSFrame(nil, wsText, []byte(out), false, [4]byte{}))
			}
			if strings.HasPrefix(tt.frames[0], "{}") {
				f, _, err := readWSFrame(br, nil, 1<<10)
				if err != nil {
					return
				}
				in = append(in, string(f.payload))
			}
			got <- in
		})
		c, err := handshakeWS(cl, "x", centrifugoPath, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		err = centrifugoCommand(c, `{"id":1,"connect":{}}`, 1, time.Now().Add(5*time.Second))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.wantErr)
		}
		want := []string{`{"id":1,"connect":{}}`}
		if strings.HasPrefix(tt.frames[0], "{}") {
			want = append(want, "{}")
		}
		select {
		case in := <-got:
			if strings.Join(in, "|") != strings.Join(want, "|") {
				t.Errorf("%s: the server got %q, want %q", tt.name, in, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the server got nothing, want %q", tt.name, want)
		}
	}
}

// peerRunAt is a run of n answered sends at rate per second, lost of them never received.
func peerRunAt(label string, rate float64, n, lost int64) *peerRun {
	return &peerRun{label: label, answered: n, dur: time.Duration(float64(n) / rate * float64(time.Second)),
		answer: NewHist(), res: pairResult{hist: NewHist(), lost: lost}}
}

// The rate target is a "not met", which leaves the exit status alone; a lost
// message of the chat server is a FAIL.
func TestPeerRowsVerdicts(t *testing.T) {
	tests := []struct {
		name              string
		ours, theirs      []float64 // rates of the rounds, 1 node and Centrifugo's Redis engine
		lost              int64
		wantRate, wantErr string
		wantFailed        bool
	}{
		{"faster", []float64{12000, 11000, 13000}, []float64{10000, 10000, 10000}, 0, "ok (≥ 1.0×)", "ok", false},
		{"as fast, median of rounds", []float64{5000, 10000, 20000}, []float64{10000, 9000, 11000}, 0, "ok (≥ 1.0×)", "ok", false},
		{"slower, median of rounds", []float64{8000, 20000, 9000}, []float64{10000, 10000, 10000}, 0, "not met (< 1.0×)", "ok", false},
		{"slower", []float64{8000, 8000, 8000}, []float64{10000, 10000, 10000}, 0, "not met (< 1.0×)", "ok", false},
		{"lost", []float64{12000, 12000, 12000}, []float64{10000, 10000, 10000}, 1, "ok (≥ 1.0×)", "FAIL", true},
	}
	for _, tt := range tests {
		var ours, theirs, mem []*peerRun
		for i := range tt.ours {
			lost := int64(0)
			if i == 1 {
				lost = tt.lost
			}
			ours = append(ours, peerRunAt("1 node", tt.ours[i], 40000, lost))
			theirs = append(theirs, peerRunAt("Redis engine", tt.theirs[i], 40000, 0))
			mem = append(mem, peerRunAt("memory engine", 20000, 40000, 0))
		}
		rows := peerRows(peerOpts{pairs: 1000, messages: 40, rounds: len(tt.ours)}, 64, [][]*peerRun{ours}, [][]*peerRun{theirs, mem})
		var gotRate, gotErr string
		for _, r := range rows {
			switch {
			case strings.HasPrefix(r.Metric, "one-in-flight rate"):
				gotRate = r.Verdict
			case strings.HasPrefix(r.Metric, "lost"):
				gotErr = r.Verdict
			}
		}
		var res results
		res.add(rows)
		if gotRate != tt.wantRate || gotErr != tt.wantErr || res.failed() != tt.wantFailed {
			t.Errorf("%s: got rate %q, losses %q, failed %v; want %q, %q, %v", tt.name, gotRate, gotErr, res.failed(), tt.wantRate, tt.wantErr, tt.wantFailed)
		}
	}
}
