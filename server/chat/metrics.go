package chat

import (
	"net/http"
	"time"

	"chat/common/message"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so that
// several servers can live in one process (tests, or nodes side by side).
type metrics struct {
	registry          *prometheus.Registry
	connections       prometheus.Gauge
	logins            *prometheus.CounterVec
	messagesIn        typeCounter
	messagesOut       typeCounter
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
	presenceChanges   prometheus.Counter
	noticesDropped    prometheus.Counter
}

func newMetrics(passwords *passwordPool) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_connections", Help: "Open client connections."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_logins_total", Help: "Login attempts by result."}, []string{"result"}),
		messagesIn: newTypeCounter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_messages_in_total", Help: "Frames received, by type."}, []string{"type"}),
			message.PrivateMesType, message.AckMesType, message.SmsMesType, message.RoomMesType, message.PingMesType),
		messagesOut: newTypeCounter(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_messages_out_total", Help: "Frames queued to clients, by type."}, []string{"type"}),
			message.PrivateMesType, message.PrivateResMesType, message.SmsMesType, message.SmsResMesType,
			message.RoomMesType, message.ErrorResMesType, message.PongMesType),
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
		presenceChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_presence_changes_total", Help: "Logins and logouts of this node's users to be announced (a tick's go together; chat_messages_out_total counts the frames)."}),
		noticesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_notices_dropped_total", Help: "Notices to other nodes dropped because the outbox was full while Redis was away (their messages wait in Redis)."}),
	}
	m.registry.MustRegister(m.connections, m.logins, m.messagesIn.CounterVec, m.messagesOut.CounterVec, m.framesWritten,
		m.queueOverflows, m.refused, m.closes, m.redisErrors, m.redisLatency, m.deliveryLatency, m.passwordsBusy,
		m.acksIgnored, m.ackRemovalsFailed, m.presenceChanges, m.noticesDropped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_password_checks_running", Help: "Password checks and hashes running now."},
			func() float64 { return float64(passwords.running.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_password_checks_waiting", Help: "Password checks and hashes waiting for a slot."},
			func() float64 { return float64(passwords.waiting.Load()) }),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// typeCounter is a CounterVec by message type whose counters of the busiest types
// are looked up once: WithLabelValues hashes the label at every call.
type typeCounter struct {
	*prometheus.CounterVec
	busy map[string]prometheus.Counter
}

func newTypeCounter(vec *prometheus.CounterVec, busy ...string) typeCounter {
	t := typeCounter{CounterVec: vec, busy: make(map[string]prometheus.Counter, len(busy))}
	for _, typ := range busy {
		t.busy[typ] = vec.WithLabelValues(typ)
	}
	return t
}

// inc counts one frame of type typ.
func (t typeCounter) inc(typ string) {
	if c, ok := t.busy[typ]; ok {
		c.Inc()
		return
	}
	t.WithLabelValues(typ).Inc()
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
