// Package chat is the chat server: it accepts connections, reads frames and runs
// the user process (register, login, logout, online list, presence) and the sms
// process (group, private and offline messages) against the stores of package model.
// Its shape follows net/http: Serve(l), Shutdown(ctx), ErrServerClosed.
package chat

import (
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
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("chat: server closed")

// Config holds the server's settings; zero fields take the defaults of DefaultConfig.
type Config struct {
	Node          string        // this node's id, unique in the cluster
	MaxFrame      int           // largest frame body accepted
	PresenceLimit int           // presence is broadcast only while at most this many are online
	LoginTimeout  time.Duration // a connection must log in within this
	FrameTimeout  time.Duration // a started frame must be complete within this
	WriteTimeout  time.Duration // one write to a client may take this long
	MaxQueue      int           // bytes queued for one client before it is cut off as too slow
	RatePrivate   float64       // private messages per second per user; 0 = unlimited
	BurstPrivate  int
	RateGroup     float64 // group messages per second per user; 0 = unlimited
	BurstGroup    int
	MaxConnsPerIP int           // connections per remote address; 0 = unlimited
	Heartbeat     time.Duration // heartbeat period; a node is dead after 3 missed beats
	// Password work (bcrypt) runs at most PasswordWorkers at a time; a request
	// that waits PasswordWait for a slot gets 505 with retryAfter.
	PasswordWorkers int
	PasswordWait    time.Duration
	TokenTTL        time.Duration // lifetime of a session token
	Logger          *slog.Logger
}

// DefaultConfig returns the defaults of PROTOCOL.md and the server's flags.
func DefaultConfig() Config {
	return Config{
		Node:          "node1",
		MaxFrame:      65536,
		PresenceLimit: 5000,
		LoginTimeout:  30 * time.Second,
		FrameTimeout:  30 * time.Second,
		WriteTimeout:  30 * time.Second,
		MaxQueue:      4 << 20,
		RatePrivate:   20,
		BurstPrivate:  40,
		RateGroup:     5,
		BurstGroup:    20,
		Heartbeat:     2 * time.Second,

		PasswordWorkers: runtime.NumCPU(),
		PasswordWait:    2 * time.Second,
		TokenTTL:        7 * 24 * time.Hour,
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
	hub     hub

	passwords *passwordPool

	shuttingDown atomic.Bool
	ctx          context.Context // ends when the server has shut down
	cancel       context.CancelFunc
	startOnce    sync.Once
	background   sync.WaitGroup // cluster loops and the acker

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[string]int
	connsWG   sync.WaitGroup

	loginLocks [64]sync.Mutex // striped by user id

	acks    chan ackBatch
	idBase  string // makes session and group message ids unique across restarts
	idCount atomic.Uint64
}

// New returns a server on the given stores. Zero config fields take defaults.
func New(cfg Config, st Stores) *Server {
	def := DefaultConfig()
	fill := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	fillDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if cfg.Node == "" {
		cfg.Node = def.Node
	}
	fill(&cfg.MaxFrame, def.MaxFrame)
	fill(&cfg.MaxQueue, def.MaxQueue)
	fillDur(&cfg.LoginTimeout, def.LoginTimeout)
	fillDur(&cfg.FrameTimeout, def.FrameTimeout)
	fillDur(&cfg.WriteTimeout, def.WriteTimeout)
	fillDur(&cfg.Heartbeat, def.Heartbeat)
	fill(&cfg.PasswordWorkers, def.PasswordWorkers)
	fillDur(&cfg.PasswordWait, def.PasswordWait)
	fillDur(&cfg.TokenTTL, def.TokenTTL)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	passwords := newPasswordPool(cfg.PasswordWorkers, cfg.PasswordWait)
	return &Server{
		cfg:       cfg,
		st:        st,
		log:       cfg.Logger.With("node", cfg.Node),
		metrics:   newMetrics(passwords),
		hub:       hub{conns: make(map[int]*conn)},
		passwords: passwords,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		perIP:     make(map[string]int),
		acks:      make(chan ackBatch, 4096),
		idBase:    strconv.FormatInt(time.Now().UnixNano(), 36) + ".",
	}
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
		c := newConn(s, nc)
		if !s.track(c) {
			nc.Close()
			continue
		}
		go func() {
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// track registers a new connection, enforcing the per-address limit.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown.Load() {
		return false
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[c.addr] >= s.cfg.MaxConnsPerIP {
		s.metrics.closes.WithLabelValues("too_many_from_address").Inc()
		return false
	}
	s.perIP[c.addr]++
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	s.metrics.connections.Inc()
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[c.addr]--; s.perIP[c.addr] <= 0 {
		delete(s.perIP, c.addr)
	}
	s.mu.Unlock()
	s.metrics.connections.Dec()
	s.metrics.closes.WithLabelValues(c.closeReason().String()).Inc()
	s.connsWG.Done()
}

// Shutdown stops accepting, lets every connection finish the request it is
// handling, ends each session (users shown offline to the others), flushes what
// is queued and closes. If ctx ends first, the remaining connections are closed
// at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shuttingDown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	// The flag is set before the deadline: see conn.readFrame.
	for _, c := range conns {
		c.nc.SetReadDeadline(time.Now())
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
			c.close(ServerShutdown)
		}
		<-done
	}
	s.startOnce.Do(func() {}) // a server that never served has nothing to stop
	s.cancel()
	s.background.Wait()
	leaveCtx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if lerr := s.st.Presence.Leave(leaveCtx, s.cfg.Node); lerr != nil {
		s.log.Warn("could not leave the cluster", "err", lerr)
	}
	return err
}

// loginLock serialises the logins of one user on this node.
func (s *Server) loginLock(user int) *sync.Mutex {
	return &s.loginLocks[uint(user)%uint(len(s.loginLocks))]
}

// requestContext bounds one request's store work.
func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, storeTimeout)
}

// newID returns an id unique to this node and this run.
func (s *Server) newID() string {
	return s.idBase + strconv.FormatUint(s.idCount.Add(1), 36)
}

// Healthy reports whether the server serves and reaches Redis.
func (s *Server) Healthy(ctx context.Context) error {
	if s.shuttingDown.Load() {
		return ErrServerClosed
	}
	return s.st.Presence.Ping(ctx)
}
