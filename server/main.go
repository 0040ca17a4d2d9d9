// Command chat-server runs one node of the chat system. Every setting is a flag,
// and every flag can also come from an environment variable (CHAT_ plus the flag's
// name in capitals, dashes as underscores: -presence-limit is CHAT_PRESENCE_LIMIT).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"

	"chat/server/chat"
	"chat/server/model"
)

type options struct {
	addr, redisAddr, redisPassword string
	redisCluster                   string // seed nodes, comma-separated; "" for one Redis at redisAddr
	redisWaitReplicas              int
	redisDB, bcryptCost            int
	node, metricsAddr, logFormat   string
	tlsCert, tlsKey                string
	logLevel                       string
	grace                          time.Duration
	historyDays, historyMessages   int
	dedupTTL                       time.Duration
	chat                           chat.Config
}

// newFlagSet declares every flag into o. The set prints nothing itself: main
// prints an error as one line and the usage only when asked (-h).
func newFlagSet(o *options) *flag.FlagSet {
	def := chat.DefaultConfig()
	fs := flag.NewFlagSet("chat-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8889", "address to listen on")
	fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address (host:port)")
	fs.StringVar(&o.redisPassword, "redis-password", "", "Redis password (AUTH)")
	fs.IntVar(&o.redisDB, "redis-db", 0, "Redis database number")
	fs.StringVar(&o.redisCluster, "redis-cluster", "", "seed nodes of a Redis Cluster (host:port[,host:port...]) to run on instead of one Redis at -redis")
	fs.IntVar(&o.redisWaitReplicas, "redis-wait-replicas", 0, "with -redis-cluster, answer a write (a message 200) only once this many replicas of its primary have it, so that a failover loses none (WAIT; 0 = do not wait)")
	fs.IntVar(&o.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of stored password hashes (4..31; load tests use 4)")
	fs.StringVar(&o.node, "node", "", "node id, unique among the nodes sharing one Redis, without spaces (default: host-port)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "address for /metrics, /healthz and /debug/pprof over HTTP (off when empty)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with -tls-key, clients must use TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "on SIGINT/SIGTERM, how long to let sessions end cleanly")
	fs.DurationVar(&o.dedupTTL, "dedup-ttl", 10*time.Minute, "how long a private message's clientMsgId is remembered, so that a resend within it is not delivered twice")
	c := &o.chat
	fs.IntVar(&c.LoginFailures, "login-failures", def.LoginFailures, "failed logins of one user id from one address a minute before 429 (0 = no limit)")
	fs.IntVar(&c.LoginFailuresPerUser, "login-failures-per-user", def.LoginFailuresPerUser, "failed logins of one user id from all addresses a minute before 429; keep it above -login-failures (0 = no limit)")
	fs.IntVar(&c.LoginFailuresPerAddr, "login-failures-per-address", def.LoginFailuresPerAddr, "failed logins from one address (all user ids) a minute before 429 (0 = no limit)")
	fs.IntVar(&c.LoginsPerUser, "logins-per-user", def.LoginsPerUser, "successful logins of one user a minute, in bursts of as many, before 429 (0 = no limit)")
	fs.IntVar(&c.RegistrationsPerAddr, "registrations-per-address", def.RegistrationsPerAddr, "registrations from one address a minute, in bursts of as many, before 429 (0 = no limit)")
	fs.IntVar(&c.InboxMax, "inbox-max", def.InboxMax, "private messages one inbox may hold; a message beyond gets 429 \"inbox full\" (0 = no cap)")
	fs.IntVar(&c.MaxFrame, "max-frame", def.MaxFrame, "largest frame body in bytes")
	fs.IntVar(&c.PresenceLimit, "presence-limit", def.PresenceLimit, "presence notices are sent while at most this many users are online (0 = the default, negative = never)")
	fs.DurationVar(&c.PresenceTick, "presence-tick", def.PresenceTick, "a node sends its users' presence changes at most once per this period, together")
	fs.DurationVar(&c.LoginTimeout, "login-timeout", def.LoginTimeout, "a connection that has not logged in by then is closed")
	fs.DurationVar(&c.FrameTimeout, "frame-timeout", def.FrameTimeout, "a frame that has started must be complete within this")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", def.WriteTimeout, "one write to a client may take this long")
	fs.IntVar(&c.MaxQueue, "max-queue", def.MaxQueue, "bytes held for one client (queued and being written) before it is disconnected as too slow")
	fs.Float64Var(&c.RatePrivate, "rate-private", def.RatePrivate, "private messages per second per user (0 = unlimited)")
	fs.IntVar(&c.BurstPrivate, "burst-private", def.BurstPrivate, "private messages a user may send at once")
	fs.Float64Var(&c.RateGroup, "rate-group", def.RateGroup, "group messages per second per user (0 = unlimited)")
	fs.IntVar(&c.BurstGroup, "burst-group", def.BurstGroup, "group messages a user may send at once")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-address", 0, "connections per remote address (0 = unlimited)")
	fs.IntVar(&c.MaxConns, "max-conns", def.MaxConns, "client connections this node holds; more are closed as soon as accepted (the default is the open-file limit less 192 files kept for Redis, listeners, metrics and logs)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", def.Heartbeat, "heartbeat period; other nodes take this node's users offline after 3 missed beats")
	fs.DurationVar(&c.TokenTTL, "token-ttl", def.TokenTTL, "lifetime of a session token (proto-2 logins get one; LogoutMes revokes it)")
	fs.IntVar(&c.PasswordWorkers, "password-workers", def.PasswordWorkers, "password checks and hashes (bcrypt) run at most this many at a time; the default leaves one CPU to messaging: GOMAXPROCS-1, at least 1")
	fs.DurationVar(&c.PasswordWait, "password-wait", def.PasswordWait, "a login or registration that waits this long for password work is answered 505 with retryAfter")
	fs.IntVar(&c.RoomMembers, "room-members", def.RoomMembers, "members per room, at most")
	fs.BoolVar(&c.PlainConn, "plain-conn", false, "read and write client connections through net.Conn only, without the system-call fast paths (for comparison and debugging)")
	fs.IntVar(&c.UserRooms, "user-rooms", def.UserRooms, "rooms per user, at most")
	fs.IntVar(&o.historyDays, "history-days", 30, "days a private or room message is kept in the history")
	fs.IntVar(&o.historyMessages, "history-messages", model.DefaultRetention.MaxLen,
		"messages kept per conversation (a private pair or a room; about: trimming is by stream node); also a room's backlog for members who were away")
	return fs
}

// printUsage writes the help of -h.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	io.WriteString(w, "Usage: chat-server [flags]\n\nEvery flag may also be set as CHAT_<FLAG> in the environment (e.g. CHAT_ADDR).\n\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseConfig reads the flags from args, then the environment (lookupEnv) for
// the flags not given, and checks the result. Its errors are one line, naming
// the flag or variable at fault; with -h it returns flag.ErrHelp.
func parseConfig(fs *flag.FlagSet, o *options, args []string, lookupEnv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0))
	}
	if err := applyEnv(fs, lookupEnv); err != nil {
		return err
	}
	if err := checkRedisChoice(fs, o, lookupEnv); err != nil {
		return err
	}
	if o.node == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(o.addr)
		o.node = host + "-" + port
	}
	o.chat.Node = o.node
	return o.check(fs)
}

// check rejects settings that are out of range.
func (o *options) check(fs *flag.FlagSet) error {
	var lv slog.Level
	c := o.chat
	for _, f := range []struct {
		bad  bool
		flag string
		want string
	}{
		{strings.ContainsAny(o.node, " \t\r\n"), "node", "an id without spaces"},
		{lv.UnmarshalText([]byte(o.logLevel)) != nil, "log-level", "debug, info, warn or error"},
		{o.logFormat != "text" && o.logFormat != "json", "log-format", "text or json"},
		{(o.tlsCert == "") != (o.tlsKey == ""), "tls-cert", "set together with -tls-key"},
		{o.bcryptCost < bcrypt.MinCost || o.bcryptCost > bcrypt.MaxCost, "bcrypt-cost", "4 to 31"},
		{o.redisDB < 0, "redis-db", "0 or more"},
		{o.grace < 0, "grace", "0 or more"},
		{o.dedupTTL <= 0, "dedup-ttl", "more than 0"},
		{c.LoginFailures < 0, "login-failures", "0 or more"},
		{c.LoginFailuresPerUser < 0, "login-failures-per-user", "0 or more"},
		{c.LoginFailuresPerAddr < 0, "login-failures-per-address", "0 or more"},
		{c.LoginsPerUser < 0, "logins-per-user", "0 or more"},
		{c.RegistrationsPerAddr < 0, "registrations-per-address", "0 or more"},
		{c.InboxMax < 0, "inbox-max", "0 or more"},
		{c.MaxFrame < 0, "max-frame", "0 or more"},
		{c.LoginTimeout < 0, "login-timeout", "0 or more"},
		{c.FrameTimeout < 0, "frame-timeout", "0 or more"},
		{c.WriteTimeout < 0, "write-timeout", "0 or more"},
		{c.MaxQueue < 0, "max-queue", "0 or more"},
		{c.RatePrivate < 0, "rate-private", "0 or more"},
		{c.BurstPrivate < 0, "burst-private", "0 or more"},
		{c.RateGroup < 0, "rate-group", "0 or more"},
		{c.BurstGroup < 0, "burst-group", "0 or more"},
		{c.MaxConnsPerIP < 0, "max-conns-per-address", "0 or more"},
		{c.Heartbeat < 0, "heartbeat", "0 or more"},
		{c.RoomMembers < 1, "room-members", "1 or more"},
		{c.UserRooms < 1, "user-rooms", "1 or more"},
		{o.historyDays < 1, "history-days", "1 or more"},
		{o.historyMessages < 1, "history-messages", "1 or more"},
	} {
		if f.bad {
			return fmt.Errorf("invalid value %q for -%s / %s: want %s", fs.Lookup(f.flag).Value, f.flag, envName(f.flag), f.want)
		}
	}
	return nil
}

// checkRedisChoice rejects a Redis Cluster given together with an explicit
// single Redis, and the settings that only one of the two takes.
func checkRedisChoice(fs *flag.FlagSet, o *options, lookupEnv func(string) (string, bool)) error {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "redis" })
	if _, ok := lookupEnv(envName("redis")); ok {
		explicit = true
	}
	cluster := strings.TrimSpace(o.redisCluster) != ""
	switch {
	case cluster && explicit:
		return errors.New("-redis-cluster / CHAT_REDIS_CLUSTER and -redis / CHAT_REDIS both given: a node runs on one Redis or on one cluster")
	case cluster && o.redisDB != 0:
		return errors.New("-redis-db / CHAT_REDIS_DB with -redis-cluster: a Redis Cluster has database 0 only")
	case o.redisWaitReplicas < 0:
		return fmt.Errorf("invalid value %d for -redis-wait-replicas / CHAT_REDIS_WAIT_REPLICAS: want 0 or more", o.redisWaitReplicas)
	case o.redisWaitReplicas > 0 && !cluster:
		return errors.New("-redis-wait-replicas / CHAT_REDIS_WAIT_REPLICAS needs -redis-cluster")
	}
	for _, seed := range o.seeds() {
		if _, _, err := net.SplitHostPort(seed); err != nil {
			return fmt.Errorf("invalid seed %q in -redis-cluster / CHAT_REDIS_CLUSTER: want host:port", seed)
		}
	}
	return nil
}

// seeds returns the seed nodes of -redis-cluster, none for one Redis.
func (o *options) seeds() []string {
	var out []string
	for _, s := range strings.Split(o.redisCluster, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// applyEnv sets every flag not given on the command line from CHAT_<NAME>.
func applyEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := lookupEnv(name); ok && !given[f.Name] && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("invalid value %q for %s (-%s): %v", v, name, f.Name, e)
			}
		}
	})
	return err
}

// envName is the environment variable of a flag: -presence-limit is CHAT_PRESENCE_LIMIT.
func envName(flag string) string {
	return "CHAT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func newLogger(format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level)) // checked by parseConfig
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func main() {
	var o options
	fs := newFlagSet(&o)
	err := parseConfig(fs, &o, os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(os.Stderr, fs)
		return
	}
	if err != nil {
		// The logger is not set up yet (its settings may be what is wrong).
		os.Stderr.WriteString("chat-server: " + err.Error() + " (chat-server -h lists the flags)\n")
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
	redisAt := o.redisAddr
	if seeds := o.seeds(); len(seeds) > 0 {
		p, cluster, err := model.NewClusterPool(model.ClusterConfig{
			Seeds: seeds, Password: o.redisPassword, Observe: redisCfg.Observe, WaitReplicas: o.redisWaitReplicas,
		})
		if err != nil {
			return err
		}
		defer cluster.Close()
		pool, redisAt = p, "cluster "+o.redisCluster
	}
	defer pool.Close()
	o.chat.Logger = log
	keep := model.Retention{MaxAge: time.Duration(o.historyDays) * 24 * time.Hour, MaxLen: o.historyMessages}
	srv = chat.New(o.chat, chat.Stores{
		Users:    model.NewRedisUserStore(pool, o.bcryptCost),
		Logins:   model.NewRedisLoginLimiter(pool, time.Minute),
		Rates:    model.NewRedisRateLimiter(pool),
		Presence: model.NewRedisPresence(pool),
		Inbox:    model.NewRedisInbox(pool, o.dedupTTL, keep),
		Rooms:    model.NewRedisRooms(pool, o.dedupTTL, keep),
		Bus:      model.NewRedisBus(pool, redisCfg),
	})
	// Before serving: a Redis written by a build of the previous key layout
	// keeps its waiting messages, histories and rooms under the old names.
	stopMigrating := migrateKeys(pool, log)
	defer stopMigrating()

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
	log.Info("chat server listening", "addr", l.Addr().String(), "redis", redisAt, "node", o.node, "tls", o.tlsCert != "")

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

// migrateKeys moves the keys of the previous layout (model.MigrateKeys) before the
// node serves. A node may start while Redis is down, as it always could: then the
// move is retried in the background until Redis answers, and the returned stop
// ends the retries and waits for them.
func migrateKeys(pool *redis.Pool, log *slog.Logger) (stop func()) {
	err := model.MigrateKeys(context.Background(), pool, log)
	if err == nil {
		return func() {}
	}
	log.Warn("moving the keys of the previous layout failed; retrying while serving", "err", err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait := 100 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if err := model.MigrateKeys(ctx, pool, log); err == nil || ctx.Err() != nil {
				return
			}
			wait = min(2*wait, 2*time.Second)
		}
	}()
	return func() { cancel(); <-done }
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
