// Package chat is the chat server: it accepts connections, reads frames and runs
// the user process (register, login, logout, online list, presence), the sms
// process (group, private and offline messages) and the room process against
// the stores of package model. Each connection's frames travel through package
// transport.
// Its shape follows net/http: Serve(l), Shutdown(ctx), ErrServerClosed.
package chat

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"chat/common/message"
	"chat/server/transport"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("chat: server closed")

// Config holds the server's settings. New replaces a zero (or negative) field by
// its value in DefaultConfig, except where the field says what zero means.
type Config struct {
	Node     string // this node's id, unique in the cluster, without spaces
	MaxFrame int    // largest frame body accepted, in bytes
	// PresenceLimit: presence notices are sent while at most this many users are
	// online; negative: never.
	PresenceLimit int
	// PresenceTick: a node sends the presence changes of its users at most once
	// per tick, all of them together (presence.go).
	PresenceTick  time.Duration
	LoginTimeout  time.Duration // a connection must log in within this
	FrameTimeout  time.Duration // a started frame must be complete within this
	WriteTimeout  time.Duration // one write to a client may take this long
	MaxQueue      int           // bytes held for one client (queued and being written) before it is cut off as too slow
	RatePrivate   float64       // private messages per second per user; zero (or less): unlimited
	BurstPrivate  int           // private messages a user may send at once
	RateGroup     float64       // group messages per second per user; zero (or less): unlimited
	BurstGroup    int           // group messages a user may send at once
	MaxConnsPerIP int           // connections per remote address; zero: unlimited
	MaxConns      int           // connections this node holds; more are closed at accept; zero: DefaultMaxConns()
	// Failed logins allowed a minute, each count kept in Redis (zero: no limit):
	// of one user id from one address; of one user id from all addresses (set
	// higher, so that guesses from one address cannot lock the owner out of the
	// others); of all user ids from one address.
	LoginFailures        int
	LoginFailuresPerUser int
	LoginFailuresPerAddr int
	// LoginsPerUser: successful logins of one user a minute, in bursts of as
	// many (a user who logs in and drops in a loop would make every online user
	// a presence notice per login); zero: no limit.
	LoginsPerUser int
	// RegistrationsPerAddr: registrations from one address a minute, in bursts
	// of as many; zero: no limit.
	RegistrationsPerAddr int
	InboxMax             int           // private messages an inbox may hold (429 "inbox full" beyond); zero: no cap
	Heartbeat            time.Duration // heartbeat period; a node is dead after 3 missed beats
	RoomMembers          int           // members per room, at most
	UserRooms            int           // rooms per user, at most
	// Password work (bcrypt) runs at most PasswordWorkers at a time; a request
	// that waits PasswordWait for a slot gets 505 with retryAfter.
	PasswordWorkers int
	PasswordWait    time.Duration
	TokenTTL        time.Duration // lifetime of a session token
	// PlainConn turns the connections' system-call fast paths off: every read
	// and write goes through net.Conn (package transport, Config.Plain).
	PlainConn bool
	Logger    *slog.Logger // nil: slog.Default()
}

// DefaultConfig returns the defaults of docs/PROTOCOL.md and the server's flags.
func DefaultConfig() Config {
	return Config{
		Node:          "node1",
		MaxFrame:      65536,
		PresenceLimit: 5000,
		PresenceTick:  250 * time.Millisecond,
		LoginTimeout:  30 * time.Second,
		FrameTimeout:  30 * time.Second,
		WriteTimeout:  30 * time.Second,
		MaxQueue:      4 << 20,
		MaxConns:      DefaultMaxConns(),
		RatePrivate:   20,
		BurstPrivate:  40,
		RateGroup:     5,
		BurstGroup:    20,
		Heartbeat:     2 * time.Second,

		LoginFailures:        5,
		LoginFailuresPerUser: 50,
		LoginFailuresPerAddr: 100,
		LoginsPerUser:        20,
		RegistrationsPerAddr: 10,
		InboxMax:             10000,

		// One processor is left to messaging: with bcrypt on every one, a
		// message waits for preemption at each step (BENCHMARKS.md,
		// chat-load loginstorm).
		PasswordWorkers: max(1, runtime.GOMAXPROCS(0)-1),
		PasswordWait:    2 * time.Second,
		TokenTTL:        7 * 24 * time.Hour,
		RoomMembers:     message.DefaultRoomSize,
		UserRooms:       message.DefaultUserRoom,
	}
}

// withDefaults returns cfg with every field that has a default and is zero (or
// negative) set to it.
func (cfg Config) withDefaults() Config {
	def := DefaultConfig()
	orDefault(&cfg.Node, def.Node)
	orDefault(&cfg.MaxFrame, def.MaxFrame)
	if cfg.PresenceLimit == 0 { // negative has a meaning
		cfg.PresenceLimit = def.PresenceLimit
	}
	orDefault(&cfg.PresenceTick, def.PresenceTick)
	orDefault(&cfg.LoginTimeout, def.LoginTimeout)
	orDefault(&cfg.FrameTimeout, def.FrameTimeout)
	orDefault(&cfg.WriteTimeout, def.WriteTimeout)
	orDefault(&cfg.MaxQueue, def.MaxQueue)
	orDefault(&cfg.MaxConns, def.MaxConns)
	orDefault(&cfg.BurstPrivate, def.BurstPrivate)
	orDefault(&cfg.BurstGroup, def.BurstGroup)
	orDefault(&cfg.Heartbeat, def.Heartbeat)
	orDefault(&cfg.PasswordWorkers, def.PasswordWorkers)
	orDefault(&cfg.PasswordWait, def.PasswordWait)
	orDefault(&cfg.TokenTTL, def.TokenTTL)
	orDefault(&cfg.RoomMembers, def.RoomMembers)
	orDefault(&cfg.UserRooms, def.UserRooms)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// RatePrivate, RateGroup, MaxConnsPerIP and the limits kept in Redis (login
	// failures, logins, registrations, inbox cap): zero means unlimited.
	return cfg
}

func orDefault[T cmp.Ordered](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}

// storeTimeout bounds one request's work against the stores.
const storeTimeout = 5 * time.Second

// Server is one chat server node.
type Server struct {
	cfg     Config
	st      Stores
	log     *slog.Logger
	metrics *metrics
	wire    transport.Config // what every connection's transport shares
	hub     hub
	rooms   roomIndex // this node's sessions by room
	acks    *acker
	out     *outbox // notices to other nodes
	// presence holds this node's presence changes until the next tick.
	presence presenceBatch

	passwords *passwordPool

	shuttingDown atomic.Bool
	ctx          context.Context // ends when the connections are done: the background loops stop
	cancel       context.CancelFunc
	// storeCtx bounds all store work; it ends when Shutdown's context does, so
	// that nothing waits for a Redis that does not answer past the grace period.
	storeCtx    context.Context
	storeCancel context.CancelFunc
	startOnce   sync.Once

	// mu guards listeners, conns and perIP, and orders Serve's first
	// goroutines.Add before Shutdown's Wait. It is never held while a lock
	// of a session is taken.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*session]struct{}
	perIP     map[string]int
	connsWG   sync.WaitGroup // connection goroutines, for Shutdown's graceful wait
	// goroutines counts every goroutine the server starts: connections, their
	// writers and deliveries, publish retries, the background loops. Only Serve
	// (under mu, or in start through startOnce: both ordered before Shutdown's
	// Wait) and goroutines already counted add to it, so that no Add meets a zero
	// count during the Wait.
	goroutines sync.WaitGroup

	// loginLocks serialise the logins of one user on this node (loginLock),
	// striped by user id; one is held for a whole login.
	loginLocks [64]sync.Mutex

	idBase  string // makes session and group message ids unique across restarts
	idCount atomic.Uint64
}

// goTracked runs f on a new goroutine counted in s.goroutines. It must be called
// from a goroutine counted there already (see Server.goroutines).
func (s *Server) goTracked(f func()) {
	s.goroutines.Go(f)
}

// New returns a server on the given stores. Zero config fields take defaults
// (see Config).
func New(cfg Config, st Stores) *Server {
	cfg = cfg.withDefaults()
	passwords := newPasswordPool(cfg.PasswordWorkers, cfg.PasswordWait)
	ctx, cancel := context.WithCancel(context.Background())
	storeCtx, storeCancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:         cfg,
		st:          st,
		log:         cfg.Logger.With("node", cfg.Node),
		metrics:     newMetrics(passwords),
		passwords:   passwords,
		hub:         hub{conns: make(map[int]*session)},
		ctx:         ctx,
		cancel:      cancel,
		storeCtx:    storeCtx,
		storeCancel: storeCancel,
		listeners:   make(map[net.Listener]struct{}),
		conns:       make(map[*session]struct{}),
		perIP:       make(map[string]int),
		idBase:      strconv.FormatInt(time.Now().UnixNano(), 36) + ".",
	}
	s.wire = transport.Config{
		MaxQueue:      cfg.MaxQueue,
		WriteTimeout:  cfg.WriteTimeout,
		Plain:         cfg.PlainConn,
		Go:            s.goTracked,
		FramesWritten: s.metrics.framesWritten,
		Overflows:     s.metrics.queueOverflows,
	}
	s.presence = newPresenceBatch()
	s.acks = newAcker(&s.st, s.log, s.metrics, s.requestContext)
	s.out = newOutbox(func(ctx context.Context, channel string, payload []byte) error {
		return s.st.Bus.Publish(ctx, channel, payload)
	}, func() (context.Context, context.CancelFunc) { return context.WithTimeout(s.storeCtx, publishTimeout) }, s.log, s.metrics.noticesDropped.Inc)
	return s
}

// start joins the cluster: it starts the acker, the outbox, the heartbeat loop, the
// presence loop, the subscription and the memory trimmer (trim.go). The
// heartbeat loop's first round takes offline the sessions an earlier run under
// this node id left behind (reapOwn), and retries that every beat until Redis
// answers.
func (s *Server) start() {
	s.goTracked(func() { s.acks.loop(s.ctx.Done()) })
	s.goTracked(func() { s.out.loop(s.ctx.Done()) })
	s.goTracked(s.heartbeatLoop)
	s.goTracked(s.presenceLoop)
	s.goTracked(s.subscribe)
	s.goTracked(s.trimLoop)
}

// Serve accepts connections on l until Shutdown. The first call also starts the
// node in the cluster: it clears sessions a previous run under the same node id
// left behind, and starts the heartbeat and the subscription.
func (s *Server) Serve(l net.Listener) error {
	s.startOnce.Do(s.start)
	s.mu.Lock()
	if s.shuttingDown.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	backoff := 5 * time.Millisecond
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.shuttingDown.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of files, most likely: wait for connections to go, as net/http does.
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return err
		}
		backoff = 5 * time.Millisecond
		// The login deadline is set before track, so that Shutdown's deadline,
		// set on tracked connections, comes after it.
		c := newSession(s, nc)
		c.t.SetReadDeadline(time.Now().Add(s.cfg.LoginTimeout)) // cleared by the login
		if !s.track(c) {
			nc.Close()
			continue
		}
		go func() {
			defer s.goroutines.Done()
			c.serve()
		}()
	}
}

// track registers a new connection, enforcing the node's connection budget and
// the per-address limit. A connection over the budget is closed before it costs
// a goroutine, so that the files left serve Redis, metrics and the sessions held.
func (s *Server) track(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		return false
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.metrics.refused.Inc()
		return false
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[c.addr] >= s.cfg.MaxConnsPerIP {
		s.metrics.closes.WithLabelValues("too_many_from_address").Inc()
		return false
	}
	s.perIP[c.addr]++
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	s.goroutines.Add(1)
	s.metrics.connections.Inc()
	return true
}

func (s *Server) untrack(c *session) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[c.addr]--; s.perIP[c.addr] <= 0 {
		delete(s.perIP, c.addr)
	}
	s.mu.Unlock()
	s.metrics.connections.Dec()
	s.metrics.closes.WithLabelValues(c.t.Reason().String()).Inc()
	s.connsWG.Done()
}

// Shutdown stops accepting, lets every connection finish the request it is
// handling, ends each session (users shown offline to the others), flushes what
// is queued and closes. If ctx ends first, store requests under way are cut
// short, the remaining connections are closed at once and ctx's error is
// returned. Either way Shutdown returns once every goroutine the server started
// has ended, by ctx's deadline: what is left to do then takes no longer than
// closing sockets and abandoning Redis round trips.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, s.storeCancel)
	defer stop()
	// The flag is set before the deadline: see session.readFrame.
	for _, c := range conns {
		c.t.SetReadDeadline(time.Now())
	}
	done := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range conns {
			c.t.Close(transport.ServerShutdown)
		}
		<-done
	}
	s.startOnce.Do(func() {}) // a server that never served has nothing to stop
	s.cancel()
	s.goroutines.Wait()
	leaveCtx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if lerr := s.st.Presence.Leave(leaveCtx, s.cfg.Node); lerr != nil {
		s.log.Warn("could not leave the cluster", "err", lerr)
	}
	s.storeCancel()
	return err
}

// loginLock serialises the logins of one user on this node.
func (s *Server) loginLock(user int) *sync.Mutex {
	return &s.loginLocks[uint(user)%uint(len(s.loginLocks))]
}

// storeRetryAfter is the retryAfter of a 505 whose store did not answer: long
// enough that a node's clients do not pile their retries onto a store that is
// away (each retry would hold a connection for the store timeout), short enough
// that they are back soon after it is.
const storeRetryAfter = time.Second

// retryAfter is what a 505 answer of code says to wait before a retry, in
// milliseconds: storeRetryAfter for a server error, else nothing.
func retryAfter(code int) int {
	if code != message.CodeServerError {
		return 0
	}
	return int(storeRetryAfter.Milliseconds())
}

// requestContext bounds one request's store work.
func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.storeCtx, storeTimeout)
}

// newID returns an id unique to this node and this run.
func (s *Server) newID() string {
	return s.idBase + strconv.FormatUint(s.idCount.Add(1), 36)
}

// healthTimeout bounds a health check: a probe that waited for a hung Redis as
// long as a request may would itself time out, and not tell the node is unwell.
const healthTimeout = 500 * time.Millisecond

// Healthy reports whether the server serves and reaches Redis within healthTimeout.
func (s *Server) Healthy(ctx context.Context) error {
	if s.shuttingDown.Load() {
		return ErrServerClosed
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	return s.st.Presence.Ping(ctx)
}
