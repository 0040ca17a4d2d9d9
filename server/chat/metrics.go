package chat

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so that
// several servers can live in one process (tests, or nodes side by side).
type metrics struct {
	registry          *prometheus.Registry
	connections       prometheus.Gauge
	logins            *prometheus.CounterVec
	messagesIn        *prometheus.CounterVec
	messagesOut       *prometheus.CounterVec
	framesWritten     prometheus.Counter
	queueOverflows    prometheus.Counter
	refused           prometheus.Counter
	closes            *prometheus.CounterVec
	redisErrors       prometheus.Counter
	redisLatency      prometheus.Histogram
	deliveryLatency   prometheus.Histogram
	passwordsBusy     prometheus.Counter
	acksIgnored       prometheus.Counter
	ackRemovalsFailed prometheus.Counter
}

func newMetrics(passwords *passwordPool) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_connections", Help: "Open client connections."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_logins_total", Help: "Login attempts by result."}, []string{"result"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_messages_in_total", Help: "Frames received, by type."}, []string{"type"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_messages_out_total", Help: "Frames queued to clients, by type."}, []string{"type"}),
		framesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_frames_written_total", Help: "Frames written to client sockets."}),
		queueOverflows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_queue_overflows_total", Help: "Clients cut off because their outbound queue overflowed."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_connections_refused_total", Help: "Connections closed at accept because the node held -max-conns."}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_connections_closed_total", Help: "Closed connections, by reason."}, []string{"reason"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_redis_errors_total", Help: "Redis commands that failed."}),
		redisLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chat_redis_seconds", Help: "Latency of Redis round trips.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chat_private_delivery_seconds", Help: "From a private message's acceptance to its queueing to the online recipient.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		passwordsBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_password_busy_total", Help: "Logins and registrations turned away (505 retryAfter) because password work was saturated."}),
		acksIgnored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_acks_ignored_total", Help: "Acknowledged ids ignored because they are not message ids."}),
		ackRemovalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_ack_removals_failed_total", Help: "Inboxes whose delivered messages could not be removed (they may come again)."}),
	}
	m.registry.MustRegister(m.connections, m.logins, m.messagesIn, m.messagesOut, m.framesWritten,
		m.queueOverflows, m.refused, m.closes, m.redisErrors, m.redisLatency, m.deliveryLatency, m.passwordsBusy,
		m.acksIgnored, m.ackRemovalsFailed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_password_checks_running", Help: "Password checks and hashes running now."},
			func() float64 { return float64(passwords.running.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_password_checks_waiting", Help: "Password checks and hashes waiting for a slot."},
			func() float64 { return float64(passwords.waiting.Load()) }),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the server's metrics in the Prometheus text format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

// ObserveRedis records one Redis round trip; the Redis pool calls it.
func (s *Server) ObserveRedis(d time.Duration, err error) {
	s.metrics.redisLatency.Observe(d.Seconds())
	if err != nil {
		s.metrics.redisErrors.Inc()
	}
}
