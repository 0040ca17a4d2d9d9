package main

import (
	"reflect"
	"testing"
	"time"
)

func TestParseSkip(t *testing.T) {
	tests := []struct {
		list    string
		want    map[string]bool
		wantErr bool
	}{
		{"", map[string]bool{}, false},
		{"cluster", map[string]bool{"cluster": true}, false},
		{"p2p,fanout", map[string]bool{"p2p": true, "fanout": true}, false},
		// The table calls it fan-out; a list may too, and spaces may follow commas.
		{"fan-out", map[string]bool{"fanout": true}, false},
		{"p2p, Fan-Out cluster", map[string]bool{"p2p": true, "fanout": true, "cluster": true}, false},
		{"fanuot", nil, true},
		{"p2p,nope", nil, true},
	}
	for _, tt := range tests {
		got, err := parseSkip(tt.list)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseSkip(%q) error = %v, want error %v", tt.list, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseSkip(%q) = %v, want %v", tt.list, got, tt.want)
		}
	}
}

// An unknown -skip name stops the run before anything starts, with the usage code.
func TestRunCommandRefusesUnknownSkip(t *testing.T) {
	if got := runCommand("bench", []string{"-skip", "fanuot"}); got != 2 {
		t.Errorf("runCommand(bench -skip fanuot) = %d, want 2", got)
	}
}

func TestResultsFailed(t *testing.T) {
	tests := []struct {
		name string
		rows []row
		want bool
	}{
		{"no rows", nil, false},
		{"ok and blank", []row{{Verdict: "ok (≥ 0.5)"}, {Verdict: ""}}, false},
		{"a FAIL verdict", []row{{Verdict: "ok"}, {Verdict: "FAIL (> 1.0)"}}, true},
		{"a scenario error", []row{{Metric: "error", Verdict: "FAIL"}}, true},
	}
	for _, tt := range tests {
		var r results
		r.add(tt.rows)
		if got := r.failed(); got != tt.want {
			t.Errorf("%s: failed() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSortedQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 20; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := sortedQuantiles(ds)
	want := []quantile{{.5, 10}, {.9, 18}, {.99, 20}, {.999, 20}, {1, 20}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sortedQuantiles(1..20 ms) = %v, want %v", got, want)
	}
	if got := sortedQuantiles(nil); got != nil {
		t.Errorf("sortedQuantiles(nil) = %v, want nil", got)
	}
}

func TestHistQuantilesEndsAtMax(t *testing.T) {
	h := NewHist()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	qs := histQuantiles(h)
	if len(qs) != len(quantilesOf) {
		t.Fatalf("histQuantiles gave %d quantiles, want %d", len(qs), len(quantilesOf))
	}
	if last := qs[len(qs)-1]; last.Q != 1 || last.Ms != 1 {
		t.Errorf("last quantile = %+v, want {1 1} (the maximum, 1 ms)", last)
	}
	for i := 1; i < len(qs); i++ {
		if qs[i].Ms < qs[i-1].Ms {
			t.Errorf("quantiles not ascending: %v", qs)
		}
	}
}

// Every name -skip is given is skipped, in either spelling: with all of them,
// bench starts nothing (no server binary is needed) and exits 0.
func TestBenchSkipsEveryScenarioNamed(t *testing.T) {
	all := "p2p, fan-out,idle,cluster,storm,logins,loginstorm,abuse,rooms,realistic,rediscluster"
	if got := runCommand("bench", []string{"-skip", all, "-server-bin", "/nonexistent/chat-server"}); got != 0 {
		t.Errorf("runCommand(bench -skip %s) = %d, want 0", all, got)
	}
}
