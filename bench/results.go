package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// results is what a run measured, kept for the table and for -json. Scenarios add
// rows (the table) and series (the figures the charts draw) as they finish.
type results struct {
	mu     sync.Mutex
	Rows   []row    `json:"rows"`
	Series []series `json:"series"`
}

// series is one system's figures in one scenario: the chat server or the Redis
// baseline it is compared with.
type series struct {
	Scenario string `json:"scenario"` // e.g. "p2p", "fan-out 1→10000"
	System   string `json:"system"`   // systemOurs or the baseline's name
	// Rate is messages delivered per second in the measured window (0: not a
	// throughput scenario).
	Rate float64 `json:"rate,omitempty"`
	// Latency says what Quantiles measure, e.g. "send → receipt".
	Latency   string     `json:"latency,omitempty"`
	Quantiles []quantile `json:"quantiles,omitempty"`
	// CPUPerMsg is the CPU time, in microseconds, the system spent per message
	// (per broadcast for fan-out), read from /proc/<pid>/stat over the window.
	CPUPerMsg float64 `json:"cpuPerMsgUs,omitempty"`
	CPUOf     string  `json:"cpuOf,omitempty"` // whose CPU CPUPerMsg counts, e.g. "server + Redis"
}

// quantile is the latency at fraction Q of the measured messages, in milliseconds.
type quantile struct {
	Q  float64 `json:"q"`
	Ms float64 `json:"ms"`
}

// The systems the charts know apart by colour.
const (
	systemOurs       = "chat server"
	systemStreams    = "Redis streams"
	systemPubSub     = "Redis pub/sub"
	systemRedisFan   = "Redis PUBLISH"
	resultsDocPath   = "BENCHMARKS.md"
	resultsDocAnchor = "Method"
)

// quantilesOf are the fractions every latency series reports; 1 is the maximum.
var quantilesOf = []float64{.5, .9, .99, .999, 1}

// histQuantiles reads quantilesOf from h.
func histQuantiles(h *Hist) []quantile {
	if h == nil || h.N == 0 {
		return nil
	}
	var qs []quantile
	for _, q := range quantilesOf {
		d := h.Quantile(q)
		if q == 1 {
			d = time.Duration(h.Max) * time.Microsecond
		}
		qs = append(qs, quantile{q, msOf(d)})
	}
	return qs
}

// sortedQuantiles reads quantilesOf from ds, sorted ascending (nearest rank).
func sortedQuantiles(ds []time.Duration) []quantile {
	if len(ds) == 0 {
		return nil
	}
	var qs []quantile
	for _, q := range quantilesOf {
		i := int(q*float64(len(ds))+0.5) - 1
		qs = append(qs, quantile{q, msOf(ds[max(0, min(len(ds)-1, i))])})
	}
	return qs
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *results) add(rows []row, s ...series) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, rows...)
	r.Series = append(r.Series, s...)
}

// failed reports whether any row's verdict is a FAIL.
func (r *results) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.Rows {
		if strings.HasPrefix(x.Verdict, "FAIL") {
			return true
		}
	}
	return false
}

// resultsFile is the JSON a run writes with -json and chart reads.
type resultsFile struct {
	Machine string `json:"machine"`
	// Source says where the figures come from when they were not written by a
	// single run (e.g. gathered from several runs of one build).
	Source string   `json:"source,omitempty"`
	Rows   []row    `json:"rows"`
	Series []series `json:"series"`
}

// writeJSON writes the results to file with the machine they were measured on.
func (r *results) writeJSON(file string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := resultsFile{Machine: machine(), Rows: r.Rows, Series: r.Series}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// printTable prints the rows as a Markdown table, then where their meaning is told.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| scenario | metric | chat server | baseline / target | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.Scenario, r.Metric, r.Ours, r.Ref, r.Verdict)
	}
	fmt.Fprintf(w, "\nWhat each scenario does and what its rows count: %s, section %q.\n", resultsDocPath, resultsDocAnchor)
}

// benchScenarios are the names `bench` runs, in order, with the other names a
// -skip list may use for them (the table's).
var benchScenarios = []struct{ name, alias string }{
	{"p2p", ""}, {"fanout", "fan-out"}, {"idle", ""}, {"cluster", ""}, {"storm", ""},
	{"logins", ""}, {"loginstorm", ""}, {"abuse", ""}, {"rooms", ""}, {"realistic", ""}, {"rediscluster", ""},
}

// parseSkip reads a -skip list: names separated by commas or spaces, as the
// commands spell them or as the table does. An unknown name is an error, so that a
// typo does not run the scenario it meant to skip.
func parseSkip(list string) (map[string]bool, error) {
	skip := map[string]bool{}
	var unknown []string
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		f = strings.ToLower(f)
		found := false
		for _, s := range benchScenarios {
			if f == s.name || (s.alias != "" && f == s.alias) {
				skip[s.name], found = true, true
			}
		}
		if !found {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		var names []string
		for _, s := range benchScenarios {
			names = append(names, s.name)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("-skip: unknown scenario %s (known: %s)", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	return skip, nil
}

// machine describes where the run happened: cores and CPU model, memory, kernel,
// Go version.
func machine() string {
	model, cores := "", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				cores++
			case "model name":
				model = strings.TrimSpace(v)
			}
		}
	}
	parts := []string{fmt.Sprintf("%d CPU %s", cores, model)}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			parts = append(parts, fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20)))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "Linux "+strings.TrimSpace(string(b)))
	}
	return strings.Join(append(parts, runtime.Version()), ", ")
}
