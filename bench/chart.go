package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// chart draws the SVG pictures of BENCHMARKS.md from a results file (-json):
//
//	throughput.svg  messages/s and CPU per message, the server against its Redis baselines
//	latency.svg     the latency distribution (p50 … max) of each latency series
//
// The SVG is written by hand so that the tool needs no plotting dependency.
func runChart(args []string) int {
	fs := flag.NewFlagSet("chat-load chart", flag.ContinueOnError)
	in := fs.String("in", "docs/img/results.json", "results file written by -json")
	out := fs.String("out", "docs/img", "directory for throughput.svg and latency.svg")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var rf resultsFile
	if err := json.Unmarshal(b, &rf); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", *in, err)
		return 1
	}
	for name, svg := range map[string]string{"throughput.svg": throughputSVG(rf), "latency.svg": latencySVG(rf)} {
		file := filepath.Join(*out, name)
		if err := os.WriteFile(file, []byte(svg), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "wrote", file)
	}
	return 0
}

// colours of the systems, the same in every chart.
func colour(system string) string {
	switch system {
	case systemOurs:
		return "#2b6cb0"
	case systemStreams, systemRedisFan:
		return "#c53030"
	case systemPubSub:
		return "#dd6b20"
	}
	return "#718096"
}

const (
	chartWidth = 760
	chartLeft  = 150 // room for the bars' labels
	chartRight = 30
	chartFont  = `font-family="Helvetica, Arial, sans-serif"`
)

// svgDoc collects the elements of one picture, top to bottom.
type svgDoc struct {
	b strings.Builder
	y float64 // where the next element goes
}

func (d *svgDoc) printf(format string, a ...any) { fmt.Fprintf(&d.b, format, a...) }

func (d *svgDoc) text(x, y float64, size int, anchor, fill, s string, bold bool) {
	weight := ""
	if bold {
		weight = ` font-weight="bold"`
	}
	d.printf(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s"%s>%s</text>`+"\n", x, y, size, anchor, fill, weight, html.EscapeString(s))
}

func (d *svgDoc) header(title, subtitle string) {
	d.y = 28
	d.text(chartWidth/2, d.y, 17, "middle", "#1a202c", title, true)
	d.y += 20
	d.text(chartWidth/2, d.y, 11, "middle", "#4a5568", subtitle, false)
	d.y += 22
}

func (d *svgDoc) finish() string {
	h := d.y + 10
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" %s>`+"\n", chartWidth, h, chartWidth, h, chartFont) +
		fmt.Sprintf(`<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n") + d.b.String() + "</svg>\n"
}

// bar is one horizontal bar of a panel.
type bar struct {
	label, system string
	value         float64
}

// barPanel draws horizontal bars on a shared scale from 0, each with its value,
// and a dashed marker at target if it is above 0.
func (d *svgDoc) barPanel(title, note string, bars []bar, format func(float64) string, target float64, targetLabel string) {
	if len(bars) == 0 {
		return
	}
	d.text(chartLeft, d.y, 13, "start", "#1a202c", title, true)
	d.y += 8
	if note != "" {
		d.y += 8
		d.text(chartLeft, d.y, 10, "start", "#4a5568", note, false)
	}
	if target > 0 {
		d.y += 14 // room for the target's label
	}
	top := d.y
	hi := target
	for _, b := range bars {
		hi = math.Max(hi, b.value)
	}
	scaleMax, step := niceScale(hi)
	plotW := float64(chartWidth - chartLeft - chartRight)
	x := func(v float64) float64 { return chartLeft + v/scaleMax*plotW }
	const barH, gap = 26.0, 8.0
	height := float64(len(bars))*(barH+gap) + gap
	for v := 0.0; v <= scaleMax+step/2; v += step {
		d.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e2e8f0"/>`+"\n", x(v), top, x(v), top+height)
		d.text(x(v), top+height+14, 10, "middle", "#718096", format(v), false)
	}
	if target > 0 { // behind the bars, so that it does not cross their values
		d.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1a202c" stroke-width="1.5" stroke-dasharray="5,4"/>`+"\n", x(target), top, x(target), top+height)
		d.text(x(target)+4, top-3, 10, "start", "#1a202c", targetLabel, false)
	}
	for i, b := range bars {
		y := top + gap + float64(i)*(barH+gap)
		d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" rx="2"/>`+"\n", x(0), y, x(b.value)-x(0), barH, colour(b.system))
		d.text(chartLeft-8, y+barH/2+4, 12, "end", "#2d3748", b.label, false)
		// The value inside the bar's end if it fits, else after it.
		underTarget := target > 0 && x(target) > x(b.value)-70 && x(target) < x(b.value)
		if x(b.value)-x(0) > 90 && !underTarget {
			d.text(x(b.value)-6, y+barH/2+4, 12, "end", "#ffffff", format(b.value), true)
		} else {
			d.text(x(b.value)+6, y+barH/2+4, 12, "start", "#2d3748", format(b.value), true)
		}
	}
	d.y = top + height + 34
}

func throughputSVG(rf resultsFile) string {
	var d svgDoc
	d.header("Throughput: the chat server against Redis doing the same work", rf.Machine)
	for _, sc := range scenariosOf(rf.Series) {
		var rates, cpus []bar
		var whose []string
		streams := 0.0
		for _, s := range rf.Series {
			if s.Scenario != sc {
				continue
			}
			if s.Rate > 0 {
				rates = append(rates, bar{s.System, s.System, s.Rate})
				if s.System == systemStreams {
					streams = s.Rate
				}
			}
			if s.CPUPerMsg > 0 && !hasBar(cpus, s.System) {
				cpus = append(cpus, bar{s.System, s.System, s.CPUPerMsg})
				if s.CPUOf != "" {
					whose = append(whose, s.System+": "+s.CPUOf)
				}
			}
		}
		d.barPanel(sc+": messages delivered per second (higher is better)", "", rates, count, streams/2, "target: 0.5 × Redis streams")
		unit := "message"
		if strings.HasPrefix(sc, "fan-out") {
			unit = "broadcast"
		}
		note := ""
		if len(whose) > 0 {
			note = "CPU time of " + strings.Join(whose, "; ")
		}
		d.barPanel(sc+": CPU per "+unit+" (lower is better)", note, cpus, micros, 0, "")
	}
	return d.finish()
}

func hasBar(bs []bar, system string) bool {
	for _, b := range bs {
		if b.system == system {
			return true
		}
	}
	return false
}

// latencySVG draws one panel per scenario and latency measure: each system's
// latency at p50, p90, p99, p99.9 and max, as bars side by side.
func latencySVG(rf resultsFile) string {
	var d svgDoc
	d.header("Latency distribution: the chat server against Redis", rf.Machine)
	type panel struct{ scenario, latency string }
	var panels []panel
	seen := map[panel]bool{}
	for _, s := range rf.Series {
		p := panel{s.Scenario, s.Latency}
		if len(s.Quantiles) > 0 && !seen[p] {
			seen[p] = true
			panels = append(panels, p)
		}
	}
	for _, p := range panels {
		var ss []series
		for _, s := range rf.Series {
			if s.Scenario == p.scenario && s.Latency == p.latency && len(s.Quantiles) > 0 {
				ss = append(ss, s)
			}
		}
		d.latencyPanel(p.scenario+": "+p.latency+" (lower is better)", ss)
	}
	return d.finish()
}

func (d *svgDoc) latencyPanel(title string, ss []series) {
	d.text(chartLeft, d.y, 13, "start", "#1a202c", title, true)
	d.y += 20
	for i, s := range ss { // legend
		x := float64(chartLeft) + float64(i)*160
		d.printf(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", x, d.y-10, colour(s.System))
		d.text(x+18, d.y, 11, "start", "#2d3748", s.System, false)
	}
	d.y += 14
	top := d.y
	const height = 160.0
	plotW := float64(chartWidth - chartLeft - chartRight)
	hi := 0.0
	for _, s := range ss {
		for _, q := range s.Quantiles {
			hi = math.Max(hi, q.Ms)
		}
	}
	scaleMax, step := niceScale(hi)
	y := func(v float64) float64 { return top + height - v/scaleMax*height }
	for v := 0.0; v <= scaleMax+step/2; v += step {
		d.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e2e8f0"/>`+"\n", chartLeft, y(v), chartWidth-chartRight, y(v))
		d.text(chartLeft-8, y(v)+4, 10, "end", "#718096", millis(v), false)
	}
	// Only the percentiles some system of the panel has.
	var qs []float64
	for _, q := range quantilesOf {
		for _, s := range ss {
			if _, ok := quantileAt(s.Quantiles, q); ok {
				qs = append(qs, q)
				break
			}
		}
	}
	groupW := plotW / float64(len(qs))
	barW := math.Min(48, (groupW-16)/float64(len(ss)))
	for gi, q := range qs {
		gx := float64(chartLeft) + float64(gi)*groupW + (groupW-barW*float64(len(ss)))/2
		d.text(float64(chartLeft)+(float64(gi)+0.5)*groupW, top+height+16, 11, "middle", "#4a5568", quantileName(q), false)
		for si, s := range ss {
			v, ok := quantileAt(s.Quantiles, q)
			if !ok {
				continue // not recorded
			}
			x := gx + float64(si)*barW
			d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x+1, y(v), barW-2, top+height-y(v), colour(s.System))
			d.text(x+barW/2, y(v)-4, 9, "middle", "#2d3748", millis(v), false)
		}
	}
	d.y = top + height + 46
}

// quantileAt is the latency at q in qs, if recorded.
func quantileAt(qs []quantile, q float64) (float64, bool) {
	for _, x := range qs {
		if math.Abs(x.Q-q) < 1e-9 {
			return x.Ms, true
		}
	}
	return 0, false
}

// scenariosOf lists the scenarios of ss in their first order.
func scenariosOf(ss []series) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s.Scenario] {
			seen[s.Scenario] = true
			out = append(out, s.Scenario)
		}
	}
	return out
}

// niceScale rounds hi up to a scale of about five steps of 1, 2 or 5 × 10ⁿ.
func niceScale(hi float64) (max, step float64) {
	if hi <= 0 {
		return 1, 0.2
	}
	raw := hi / 5
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * p; step >= raw {
			break
		}
	}
	return math.Ceil(hi/step-1e-9) * step, step
}

func quantileName(q float64) string {
	if q == 1 {
		return "max"
	}
	return "p" + strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", q*100), "0"), ".")
}

// count writes 149378 as 149,378.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func micros(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.1f µs", v)
}

func millis(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.0f µs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}
