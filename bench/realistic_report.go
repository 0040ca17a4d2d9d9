package main

// What the realistic scenario (realistic.go) measured, as the log and the table
// say it.

import (
	"fmt"
	"time"
)

// realRun is what one run of the realistic load measured (the chat system's or
// the streams baseline's).
type realRun struct {
	res           pairResult
	tl            *timeline
	unsent        int64
	steady        *Hist   // latency of the messages scheduled in the measured window
	achieved      float64 // first receipts per second in the window
	offered       float64
	nodeCPU       time.Duration // the nodes' CPU in the window (0 for the baseline)
	redisCPU      time.Duration
	toolCPU       time.Duration // this process's and its workers'
	machine       float64       // % of all cores busy in the window
	received      int64         // first receipts in the window
	wave          int           // users in the login wave
	waveRan       bool
	waveFrom      time.Duration // the wave's start, from the timeline's
	waveLatency   *Hist         // messages scheduled while the wave logged in
	waveTime      time.Duration // until all its users were logged in
	waveNotices   int64         // presence notices the wave brought
	waveLogins    *Hist
	waveConnected int
	waveErr       error
}

// perMessage is d per first receipt in the window (microsEach).
func (r *realRun) perMessage(d time.Duration) float64 { return microsEach(d, r.received) }

// window fills in what the timeline says of the measured window.
func (r *realRun) window(warmup, measure time.Duration) {
	r.steady = r.tl.latency(warmup, warmup+measure)
	r.received = r.tl.received(warmup, warmup+measure)
	r.achieved = float64(r.received) / measure.Seconds()
}

func (r *realRun) String() string {
	cpu := fmt.Sprintf("Redis %.1f µs, load tool %.1f µs", r.perMessage(r.redisCPU), r.perMessage(r.toolCPU))
	if r.nodeCPU > 0 {
		cpu = fmt.Sprintf("nodes %.1f µs, %s", r.perMessage(r.nodeCPU), cpu)
	}
	errs := ""
	if r.res.err != "" {
		errs = "; first error: " + r.res.err
	}
	return fmt.Sprintf("offered %.0f/s, achieved %.0f/s; latency from the scheduled send p50 %s p90 %s p99 %s max %s; senders behind schedule p99 %s; sent %d, lost %d, dup %d, out of order %d, unanswered %d, rejected %d, unsent %d; CPU per message: %s; machine %.0f %% busy%s",
		r.offered, r.achieved, ms(r.steady.Quantile(.5)), ms(r.steady.Quantile(.9)), ms(r.steady.Quantile(.99)), ms(time.Duration(r.steady.Max)*time.Microsecond),
		ms(r.tl.Lag.Quantile(.99)), r.res.sent, r.res.lost, r.res.dup, r.res.reordered, r.res.unanswered, r.res.rejected, r.unsent,
		cpu, r.machine, errs)
}

func (r *realRun) waveString() string {
	failed := ""
	if r.waveErr != nil {
		failed = " (" + r.waveErr.Error() + ")"
	}
	return fmt.Sprintf("wave of %d logins: all in after %v, %d connected%s, %d presence notices; messages scheduled meanwhile p50 %s p99 %s max %s",
		r.wave, r.waveTime.Round(time.Millisecond), r.waveConnected, failed, r.waveNotices,
		ms(r.waveLatency.Quantile(.5)), ms(r.waveLatency.Quantile(.99)), ms(time.Duration(r.waveLatency.Max)*time.Microsecond))
}

// series is what the charts draw of a run: the latency of the measured window
// and the CPU per message (of the nodes and Redis; of Redis alone for the
// baseline). No rate: it is the offered one while the system keeps up.
func (r *realRun) series(scenario, system string) series {
	s := series{Scenario: scenario, System: system, Latency: "scheduled send → receipt, one in flight per sender", Quantiles: histQuantiles(r.steady)}
	if r.received > 0 && r.redisCPU > 0 {
		s.CPUPerMsg, s.CPUOf = r.perMessage(r.nodeCPU)+r.perMessage(r.redisCPU), "Redis"
		if r.nodeCPU > 0 {
			s.CPUOf = "nodes + Redis"
		}
	}
	return s
}

// realRows is the realistic part of the table; streams (the baseline) may be nil.
func realRows(name string, pairs int, ro realOpts, chat, streams *realRun) []row {
	ref := func(f func(r *realRun) string) string {
		if streams == nil {
			return "-"
		}
		return "streams: " + f(streams)
	}
	pcts := func(r *realRun) string {
		return fmt.Sprintf("%s / %s / %s / %s", ms(r.steady.Quantile(.5)), ms(r.steady.Quantile(.9)), ms(r.steady.Quantile(.99)), ms(time.Duration(r.steady.Max)*time.Microsecond))
	}
	counts := func(r *realRun) string {
		return fmt.Sprintf("%d / %d / %d / %d / %d / %d", r.res.lost, r.res.dup, r.res.reordered, r.res.unanswered, r.res.rejected, r.unsent)
	}
	lostVerdict := "ok"
	// A send answered 505 (busy) is the node shedding load, as it should, and
	// counts against the rate, not here.
	if chat.res.lost > 0 || chat.res.dup > 0 || chat.res.reordered > 0 || chat.res.unanswered > 0 || chat.res.dropped > 0 {
		lostVerdict = "FAIL"
	}
	total := chat.perMessage(chat.nodeCPU) + chat.perMessage(chat.redisCPU)
	ratio, ratioVerdict := "-", "-"
	if streams != nil && streams.redisCPU > 0 && chat.nodeCPU > 0 {
		r := total / streams.perMessage(streams.redisCPU)
		ratio, ratioVerdict = fmt.Sprintf("%.2f", r), fmt.Sprintf("not met (> %.1f)", realCPURatio)
		if r <= realCPURatio {
			ratioVerdict = fmt.Sprintf("ok (≤ %.1f)", realCPURatio)
		}
	}
	p99 := chat.steady.Quantile(.99)
	p99Ref, p99Verdict := fmt.Sprintf("target ≤ %s", ms(realP99)), fmt.Sprintf("not met (> %s)", ms(realP99))
	switch {
	case ro.rate != realP99Rate || pairs < realP99Senders:
		p99Ref, p99Verdict = fmt.Sprintf("target ≤ %s at %d msg/s by ≥ %d senders: not this shape", ms(realP99), realP99Rate, realP99Senders), "-"
	case p99 <= realP99 && chat.res.sent > 0:
		p99Verdict = fmt.Sprintf("ok (≤ %s)", ms(realP99))
	}
	rows := []row{
		{name, "one in flight per sender: offered / achieved msg/s", fmt.Sprintf("%.0f / %.0f", chat.offered, chat.achieved),
			ref(func(r *realRun) string { return fmt.Sprintf("%.0f / %.0f", r.offered, r.achieved) }), ""},
		{name, "latency from the scheduled send p50 / p90 / p99 / max", pcts(chat), ref(pcts), ""},
		{name, fmt.Sprintf("latency p99 at %.0f msg/s offered", ro.rate), ms(p99), p99Ref, p99Verdict},
		{name, "CPU per message: nodes / Redis / total", fmt.Sprintf("%.1f / %.1f / %.1f µs", chat.perMessage(chat.nodeCPU), chat.perMessage(chat.redisCPU), total),
			ref(func(r *realRun) string { return fmt.Sprintf("Redis %.1f µs", r.perMessage(r.redisCPU)) }), ""},
		{name, "total CPU per message / streams' Redis CPU per message", ratio, fmt.Sprintf("target ≤ %.1f", realCPURatio), ratioVerdict},
		{name, "load tool CPU per message / machine busy in the window (all cores, other work included)",
			fmt.Sprintf("%.1f µs / %.0f %%", chat.perMessage(chat.toolCPU), chat.machine),
			ref(func(r *realRun) string { return fmt.Sprintf("%.1f µs / %.0f %%", r.perMessage(r.toolCPU), r.machine) }), ""},
		{name, "lost / duplicated / out of order / unanswered / rejected / behind schedule at the end", counts(chat), ref(counts), lostVerdict},
	}
	if !chat.waveRan {
		return rows
	}
	wave := fmt.Sprintf("%s, wave of %d logins in %v, pairs at %.0f msg/s", name, ro.wave, ro.waveSpread, ro.waveRate)
	wp99 := chat.waveLatency.Quantile(.99)
	msgVerdict := fmt.Sprintf("not met (> %s)", ms(realWaveP99))
	if wp99 <= realWaveP99 && chat.waveLatency.N > 0 {
		msgVerdict = fmt.Sprintf("ok (≤ %s)", ms(realWaveP99))
	}
	timeVerdict := fmt.Sprintf("not met (> %v)", realWaveTime)
	if chat.waveErr != nil { // logins still answered busy after every retry: the wave did not get in
		timeVerdict = "not met: " + chat.waveErr.Error()
	} else if chat.waveTime <= realWaveTime {
		timeVerdict = fmt.Sprintf("ok (≤ %v)", realWaveTime)
	}
	waveMetric := "messages scheduled during the wave p50 / p99"
	if chat.waveTime > ro.waveChat {
		waveMetric = fmt.Sprintf("messages scheduled during the wave (its first %v, while the pairs chatted) p50 / p99", ro.waveChat)
	}
	logins := "-"
	if chat.waveLogins != nil {
		logins = ms(chat.waveLogins.Quantile(.5)) + " / " + ms(chat.waveLogins.Quantile(.99))
	}
	return append(rows,
		row{wave, waveMetric, ms(chat.waveLatency.Quantile(.5)) + " / " + ms(wp99),
			fmt.Sprintf("target p99 ≤ %s (presence at the nodes' default)", ms(realWaveP99)), msgVerdict},
		row{wave, "until all the wave's users are logged in", fmt.Sprintf("%v (%d of %d)", chat.waveTime.Round(time.Millisecond), chat.waveConnected, ro.wave),
			fmt.Sprintf("target ≤ %v", realWaveTime), timeVerdict},
		row{wave, "login latency p50 / p99; presence notices the wave brought", fmt.Sprintf("%s; %d", logins, chat.waveNotices), "-", ""},
	)
}
