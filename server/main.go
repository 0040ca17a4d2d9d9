// Command chat-server runs one node of the chat system. Every setting is a flag,
// and every flag can also come from an environment variable (CHAT_ plus the flag's
// name in capitals, dashes as underscores: -presence-limit is CHAT_PRESENCE_LIMIT).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"chat/server/chat"
	"chat/server/model"
)

type options struct {
	addr, redisAddr, redisPassword string
	redisDB, bcryptCost            int
	node, metricsAddr, logFormat   string
	tlsCert, tlsKey                string
	logLevel                       string
	grace                          time.Duration
	loginFailures, loginFailAddr   int
	chat                           chat.Config
}

func parseFlags(args []string) (options, error) {
	def := chat.DefaultConfig()
	var o options
	fs := flag.NewFlagSet("chat-server", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8889", "address to listen on")
	fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address (host:port)")
	fs.StringVar(&o.redisPassword, "redis-password", "", "Redis password (AUTH)")
	fs.IntVar(&o.redisDB, "redis-db", 0, "Redis database number")
	fs.IntVar(&o.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of stored password hashes (4..31; load tests use 4)")
	fs.StringVar(&o.node, "node", "", "node id, unique among the nodes sharing one Redis (default: host-port)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "address for /metrics, /healthz and /debug/pprof over HTTP (off when empty)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with -tls-key, clients must use TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "on SIGINT/SIGTERM, how long to let sessions end cleanly")
	fs.IntVar(&o.loginFailures, "login-failures", 5, "failed logins per user id per minute before 429 (0 = no limit)")
	fs.IntVar(&o.loginFailAddr, "login-failures-per-address", 100, "failed logins per remote address per minute before 429 (0 = no limit)")
	c := &o.chat
	fs.IntVar(&c.MaxFrame, "max-frame", def.MaxFrame, "largest frame body in bytes")
	fs.IntVar(&c.PresenceLimit, "presence-limit", def.PresenceLimit, "presence notices are sent while at most this many users are online")
	fs.DurationVar(&c.LoginTimeout, "login-timeout", def.LoginTimeout, "a connection that has not logged in by then is closed")
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", def.FrameTimeout, "a frame that has started must be complete within this")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", def.WriteTimeout, "one write to a client may take this long")
	fs.IntVar(&c.MaxQueue, "max-queue", def.MaxQueue, "bytes queued for one client before it is disconnected as too slow")
	fs.Float64Var(&c.RatePrivate, "rate-private", def.RatePrivate, "private messages per second per user (0 = unlimited)")
	fs.IntVar(&c.BurstPrivate, "burst-private", def.BurstPrivate, "private messages a user may send at once")
	fs.Float64Var(&c.RateGroup, "rate-group", def.RateGroup, "group messages per second per user (0 = unlimited)")
	fs.IntVar(&c.BurstGroup, "burst-group", def.BurstGroup, "group messages a user may send at once")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-address", 0, "connections per remote address (0 = unlimited)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", def.Heartbeat, "heartbeat period; other nodes take this node's users offline after 3 missed beats")
	fs.DurationVar(&c.TokenTTL, "token-ttl", def.TokenTTL, "lifetime of a session token (proto-2 logins get one; LogoutMes revokes it)")
	fs.IntVar(&c.PasswordWorkers, "password-workers", def.PasswordWorkers, "password checks and hashes (bcrypt) run at most this many at a time; the default is the number of CPUs")
	fs.DurationVar(&c.PasswordWait, "password-wait", def.PasswordWait, "a login or registration that waits this long for password work is answered 505 with retryAfter")
	fs.Usage = func() {
		fs.Output().Write([]byte("Usage: chat-server [flags]\n\nEvery flag may also be set as CHAT_<FLAG> in the environment (e.g. CHAT_ADDR).\n\n"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := applyEnv(fs); err != nil {
		return o, err
	}
	if o.node == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(o.addr)
		o.node = host + "-" + port
	}
	if strings.ContainsAny(o.node, " \t\n") {
		return o, errors.New("-node must not contain spaces")
	}
	c.Node = o.node
	return o, nil
}

// applyEnv sets every flag not given on the command line from CHAT_<NAME>.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CHAT_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && !given[f.Name] && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = errors.New(name + ": " + e.Error())
			}
		}
	})
	return err
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	log := newLogger(o.logFormat, o.logLevel)
	slog.SetDefault(log)
	if err := run(o, log); err != nil {
		log.Error("server stopped", "err", err)
		os.Exit(1)
	}
}

func run(o options, log *slog.Logger) error {
	var srv *chat.Server
	redisCfg := model.PoolConfig{
		Addr: o.redisAddr, Password: o.redisPassword, DB: o.redisDB,
		Observe: func(d time.Duration, err error) { srv.ObserveRedis(d, err) },
	}
	pool := model.NewPool(redisCfg)
	defer pool.Close()
	o.chat.Logger = log
	srv = chat.New(o.chat, chat.Stores{
		Users:    model.NewRedisUserStore(pool, o.bcryptCost),
		Logins:   model.NewRedisLoginLimiter(pool, time.Minute, o.loginFailures, o.loginFailAddr),
		Presence: model.NewRedisPresence(pool),
		Inbox:    model.NewRedisInbox(pool, 24*time.Hour),
		Bus:      model.NewRedisBus(pool, redisCfg),
	})

	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if o.tlsCert != "" || o.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	if o.metricsAddr != "" {
		go serveMetrics(o.metricsAddr, srv, log)
	}
	log.Info("chat server listening", "addr", l.Addr().String(), "redis", o.redisAddr, "node", o.node, "tls", o.tlsCert != "")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-served:
		return err
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "grace", o.grace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, chat.ErrServerClosed) {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

func serveMetrics(addr string, srv *chat.Server, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", srv.MetricsHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := srv.Healthy(r.Context()); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	// Profiles on the same opt-in address: what to look at when a node is slow.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("metrics listening", "addr", addr)
	if err := hs.ListenAndServe(); err != nil {
		log.Error("metrics server stopped", "err", err)
	}
}
