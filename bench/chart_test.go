package main

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestNiceScale(t *testing.T) {
	tests := []struct {
		hi, wantMax, wantStep float64
	}{
		{149378, 150000, 50000},
		{79332, 80000, 20000},
		{140, 150, 50},
		{7.6, 8, 2},
		{0, 1, 0.2},
	}
	for _, tt := range tests {
		gotMax, gotStep := niceScale(tt.hi)
		if gotMax != tt.wantMax || gotStep != tt.wantStep {
			t.Errorf("niceScale(%v) = %v, %v, want %v, %v", tt.hi, gotMax, gotStep, tt.wantMax, tt.wantStep)
		}
	}
}

func TestChartLabels(t *testing.T) {
	tests := []struct{ got, want string }{
		{count(149378), "149,378"},
		{count(950), "950"},
		{quantileName(.5), "p50"},
		{quantileName(.999), "p99.9"},
		{quantileName(1), "max"},
		{millis(0.904), "904 µs"},
		{millis(8.58), "8.6 ms"},
		{millis(140), "140 ms"},
		{micros(7.2), "7.2 µs"},
		{micros(58000), "58.0 ms"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// The charts are well-formed SVG and draw every system of the file, with the
// p2p target at half the streams rate.
func TestChartsDrawEverySystem(t *testing.T) {
	rf := resultsFile{Machine: "test <machine>", Series: []series{
		{Scenario: "p2p", System: systemOurs, Rate: 78705, CPUPerMsg: 14.4, CPUOf: "server + Redis",
			Latency: "send → receipt", Quantiles: []quantile{{.5, 36.4}, {.99, 72.7}}},
		{Scenario: "p2p", System: systemStreams, Rate: 149378, CPUPerMsg: 3.7, CPUOf: "Redis"},
		{Scenario: "fan-out 1→10000", System: systemRedisFan, Latency: "send → last receipt", Quantiles: []quantile{{.5, 81.9}, {1, 106.8}}},
	}}
	for name, svg := range map[string]string{"throughput": throughputSVG(rf), "latency": latencySVG(rf)} {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: not well-formed XML: %v", name, err)
			}
		}
	}
	th := throughputSVG(rf)
	for _, want := range []string{"78,705", "149,378", "target: 0.5 × Redis streams", "14.4 µs", "test &lt;machine&gt;"} {
		if !strings.Contains(th, want) {
			t.Errorf("throughput chart lacks %q", want)
		}
	}
	lat := latencySVG(rf)
	for _, want := range []string{"36 ms", "73 ms", "107 ms", "p2p: send → receipt", "fan-out 1→10000: send → last receipt", systemRedisFan} {
		if !strings.Contains(lat, want) {
			t.Errorf("latency chart lacks %q", want)
		}
	}
}
