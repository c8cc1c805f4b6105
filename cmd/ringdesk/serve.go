package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/telephony"
	"github.com/ringdesk/ringdesk/web"
)

// Main is a running Ringdesk: its parts, opened in order by Open and closed
// in reverse by Close.
type Main struct {
	Config Config
	Logger *slog.Logger

	DB      *store.DB
	Redis   redis.UniversalClient
	Router  *routing.Router
	deskBus *routing.DeskBus // the hub's and the Router's
	Desk    *agentdesk.Hub
	SIP     *telephony.Server
	Inbound *telephony.Inbound
	Calls   *telephony.CallLog
	HTTP    *web.Server
	Pprof   *http.Server // debug.pprof_listen; nil when off

	metrics *prometheus.Registry // served at /metrics; parts register as they open

	bg   context.Context    // lives until Close: background loops
	stop context.CancelFunc // ends them
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDB opens MySQL with the configured phone region.
func openDB(ctx context.Context, cfg Config) (*store.DB, error) {
	norm, err := store.NewNormalizer(cfg.Phone.DefaultRegion)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.MySQL.DSN, norm, store.Options{MaxOpenConns: cfg.MySQL.MaxOpenConns})
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return db, nil
}

// Open starts every part: MySQL, Redis, then HTTP.
func (m *Main) Open(ctx context.Context) error {
	var err error
	if m.DB, err = openDB(ctx, m.Config); err != nil {
		return err
	}
	if m.Config.MySQL.MigrateOnStart {
		applied, err := m.DB.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			m.Logger.Info("applied migrations", "versions", applied)
		}
	}
	m.Redis, err = routing.OpenRedis(ctx, routing.RedisOptions{
		Addrs: m.Config.Redis.Addrs, MasterName: m.Config.Redis.MasterName,
		Username: m.Config.Redis.Username, Password: m.Config.Redis.Password, DB: m.Config.Redis.DB,
	})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	node, site := m.Config.NodeID(), m.Config.Redis.Site
	m.bg, m.stop = context.WithCancel(context.WithoutCancel(ctx))
	// One desk bus for the hub and the Router, whose AnswerAndTell and
	// EndAndTell hand desk messages to this node's desks directly. The call
	// path rings an agent Enqueue returns from the reply (OfferInReply).
	m.deskBus = routing.NewDeskBus(m.Redis, site)
	m.Router, err = routing.NewRouter(m.Redis, routing.Config{Site: site, Node: node,
		HeartbeatTTL: m.Config.Routing.HeartbeatTTL, OrphanPolicy: m.Config.Routing.OrphanPolicy,
		RequireDesk: m.Config.Routing.RequireDesk, DeskBus: m.deskBus, OfferInReply: true,
		Logger: m.Logger.With("component", "routing")})
	if err != nil {
		return err
	}
	if err := m.Router.Open(ctx); err != nil {
		m.Router = nil
		return fmt.Errorf("routing: %w", err)
	}
	// The web server is built before the desk hub, which takes the web
	// session as one way in; it starts listening last.
	m.HTTP = m.newWeb(site)
	if err := m.openDesk(ctx, node, site); err != nil {
		return err
	}
	if err := m.openSIP(ctx, node, site); err != nil {
		return err
	}
	if calls := m.Calls; calls != nil {
		m.metrics.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "ringdesk_calllog_spool_overflow_total",
				Help: "Call-log writes neither MySQL nor the full spool could keep (each logged at ERROR with its record).",
			}, func() float64 { return float64(calls.Overflows()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "ringdesk_calllog_spool_bytes",
				Help: "Size of the call-log spool: writes waiting for MySQL.",
			}, func() float64 { return float64(calls.SpoolBytes()) }),
		)
	}
	if in := m.Inbound; in != nil {
		m.metrics.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "ringdesk_lookup_late_total",
				Help: "Customer lookups still running when their pop went out (the pop said unavailable, or lacked the history).",
			}, func() float64 { late, _ := in.LookupStats(); return float64(late) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "ringdesk_lookup_shed_total",
				Help: "Customer lookups not run because the most allowed at once (8) were running (the pop said unavailable).",
			}, func() float64 { _, shed := in.LookupStats(); return float64(shed) }),
		)
	}
	m.HTTP.Mount("GET /desk/ws", m.Desk)
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	return m.openPprof()
}

// openPprof serves Go's profiles on debug.pprof_listen, apart from the
// public HTTP server so that they are never exposed with it.
func (m *Main) openPprof() error {
	addr := m.Config.Debug.PprofListen
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	m.Pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := m.Pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("pprof server stopped", "error", err)
		}
	}()
	m.Logger.Warn("serving pprof profiles (debug.pprof_listen)", "addr", ln.Addr().String())
	return nil
}

// newWeb builds the web server on the site's MySQL and Redis.
func (m *Main) newWeb(site string) *web.Server {
	health := map[string]ringdesk.Pinger{"mysql": m.DB, "redis": routing.RedisPinger{Client: m.Redis}}
	m.metrics = prometheus.NewRegistry()
	s := web.NewServer(m.Config.HTTP.Listen, m.Logger.With("component", "web"), health, m.metrics)
	s.Users = m.DB
	s.Sessions = routing.NewWebStore(m.Redis, site)
	s.Customers = m.DB
	s.DeskCalls = m.DB
	s.Callbacks = m.DB
	c := m.Config.Web
	s.Settings = web.Settings{SecureCookies: c.SecureCookies, SessionIdle: c.SessionIdle, SessionMax: c.SessionMax,
		LoginLimitUser: c.LoginLimitUser, LoginLimitAddr: c.LoginLimitAddr, LoginWindow: c.LoginWindow,
		Dispositions: m.Config.Desk.Dispositions, AwayReasons: m.Config.Desk.AwayReasons, MetricsToken: c.MetricsToken}
	return s
}

// deskAuth returns the desk token checker of the site; its key lives in
// Redis so every node (and `ringdesk user token`) signs alike.
func deskAuth(ctx context.Context, rdb redis.UniversalClient, site string) (*agentdesk.TokenAuth, error) {
	key, err := routing.SharedSecret(ctx, rdb, site, "desk-token")
	if err != nil {
		return nil, fmt.Errorf("desk token key: %w", err)
	}
	return agentdesk.NewTokenAuth(key)
}

// The desks' ready, end-wrapup and logout rely on the routing engine to
// forget the desk's current call (in the same script: one Redis round trip
// fewer per call than the hub doing it).
var _ agentdesk.DeskCallForgetter = (*routing.Router)(nil)

func (m *Main) openDesk(ctx context.Context, node, site string) error {
	auth, err := deskAuth(ctx, m.Redis, site)
	if err != nil {
		return err
	}
	router := m.Router
	stateLookup := func(ctx context.Context, agentID string) (*ringdesk.AgentStateChange, error) {
		a, err := router.FindAgent(ctx, agentID)
		if err != nil {
			return nil, err
		}
		return &ringdesk.AgentStateChange{AgentID: a.ID, State: string(a.State), Reason: a.Reason, CallID: a.CallID, Since: a.Since}, nil
	}
	// Browsers come in with their web session; the CLI desk and tests with
	// a desk token (ringdesk user token).
	m.Desk = agentdesk.NewHub(node, m.deskBus, agentdesk.AnyAuth{m.HTTP, auth}, router, m.Logger.With("component", "agentdesk"),
		agentdesk.WithAllowedOrigins(m.Config.Desk.AllowedOrigins...), agentdesk.WithStateLookup(stateLookup))
	if err := m.Desk.Open(ctx); err != nil {
		m.Desk = nil
		return fmt.Errorf("agent desk: %w", err)
	}
	// Desks show the agent's routing state live: every node hands the
	// site's agent-state events to its own desks (no bus round trip).
	events, err := router.SubscribeKinds(m.bg, "", ringdesk.EventAgentState)
	if err != nil {
		return fmt.Errorf("routing events: %w", err)
	}
	go m.relayAgentStates(events)
	return nil
}

// relayAgentStates hands the agent-state changes of the event stream to
// this node's desks, in stream order. Delivery is local and never blocks
// (a desk too slow to keep up is disconnected by the hub).
func (m *Main) relayAgentStates(events <-chan ringdesk.RoutingEvent) {
	for ev := range events {
		if ev.Kind != ringdesk.EventAgentState || ev.AgentID == "" {
			continue
		}
		st := &ringdesk.AgentStateChange{AgentID: ev.AgentID, State: ev.Fields["state"], Reason: ev.Fields["reason"], CallID: ev.CallID, Since: ev.Time}
		if err := m.Desk.SendAgentState(m.bg, st); err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			m.Logger.Debug("agent state to desk", "agent_id", st.AgentID, "error", err)
		}
	}
}

// openSIP loads the queues into the routing engine and starts the SIP
// listener with the registrar and the inbound call path.
func (m *Main) openSIP(ctx context.Context, node, site string) error {
	cfg := m.Config.SIP
	if cfg.ListenUDP == "" {
		m.Logger.Warn("no SIP UDP listen address: phones cannot register and no calls come in")
		return nil
	}
	queues, err := m.DB.FindQueues(ctx)
	if err != nil {
		return err
	}
	for _, q := range queues {
		if err := m.Router.PutQueue(ctx, q); err != nil {
			return fmt.Errorf("queue %s: %w", q.Name, err)
		}
	}
	trunkList, err := m.DB.FindTrunks(ctx)
	if err != nil {
		return err
	}
	trunks, err := telephony.NewTrunkMatcher(trunkList)
	if err != nil {
		return err
	}
	logger := m.Logger.With("component", "telephony")
	key, err := routing.SharedSecret(ctx, m.Redis, site, "sip-nonce")
	if err != nil {
		return fmt.Errorf("sip nonce key: %w", err)
	}
	auth, err := telephony.NewSharedDigestAuth(cfg.Realm, key, nil)
	if err != nil {
		return err
	}
	dids := telephony.NewDIDTable(func(ctx context.Context) (map[string]telephony.DIDRoute, error) {
		rs, err := m.DB.FindDIDRoutes(ctx)
		if err != nil {
			return nil, err
		}
		routes := make(map[string]telephony.DIDRoute, len(rs))
		for _, r := range rs {
			routes[r.Number] = telephony.DIDRoute{Queue: r.Queue, QueueID: r.QueueID}
		}
		return routes, nil
	}, m.DB.Normalizer(), logger)
	if err := dids.Refresh(ctx); err != nil {
		return err
	}
	go dids.Run(m.bg, 30*time.Second)
	m.Calls = telephony.NewCallLog(m.DB, m.Config.Calls.SpoolDir, logger,
		telephony.WithSpoolLimit(int64(m.Config.Calls.SpoolMaxBytes)), telephony.WithBatchGap(m.Config.Calls.BatchGap))
	if err := m.Calls.Open(); err != nil {
		return err
	}
	regs := routing.NewRegistrations(m.Redis, site)
	host, guessed := m.Config.SIPHost()
	if guessed {
		m.Logger.Warn("sip.advertise_host is not set: phones are told to reach this node at a guessed address", "host", host)
	}
	m.Inbound, err = telephony.NewInbound(telephony.InboundConfig{
		Node: node, Host: host, Router: m.Router, Desks: m.Desk, Registrations: regs, Customers: m.DB, Agents: m.DB,
		Calls: m.Calls, DIDs: dids, Normalizer: m.DB.Normalizer(), Logger: logger,
		Admission: telephony.NewAdmission(trunks, 0, 0, logger, nil, telephony.WithDigestAuth(auth)),
	})
	if err != nil {
		return err
	}
	srv, err := telephony.NewServer(logger, telephony.Config{ServerName: "Ringdesk", OnUnmatchedResponse: m.Inbound.HandleUnmatchedResponse})
	if err != nil {
		return err
	}
	// Handlers go on before Listen.
	m.Inbound.Register(srv)
	srv.SIP().OnRegister(telephony.NewRegistrar(auth, node, m.DB, regs, srv.Logger()).HandleRegister)
	m.SIP = srv
	if err := srv.Listen(ctx, cfg.ListenUDP, cfg.ListenTCP); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	if cfg.ListenTLS != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("sip tls: %w", err)
		}
		if err := srv.ListenTLS(ctx, cfg.ListenTLS, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("sip tls: %w", err)
		}
	}
	if err := m.Inbound.Open(ctx); err != nil {
		return err
	}
	m.Logger.Info("sip listening", "udp", srv.UDPAddr(), "tcp", srv.TCPAddr(), "realm", cfg.Realm,
		"advertise", host, "queues", len(queues), "trunks", len(trunkList))
	return nil
}

// Close stops the parts in reverse order, letting requests drain first.
func (m *Main) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	// Calls drain first, while desks and routing still work: new INVITEs
	// get 503, live calls end by themselves or are hung up at the deadline.
	if m.Inbound != nil {
		errs = append(errs, m.Inbound.Close(ctx))
	}
	if m.SIP != nil {
		errs = append(errs, m.SIP.Close())
	}
	if m.Calls != nil {
		errs = append(errs, m.Calls.Close(ctx))
	}
	if m.HTTP != nil {
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.Pprof != nil {
		// A CPU profile in progress would hold Shutdown for its length.
		errs = append(errs, m.Pprof.Close())
	}
	// The hub after HTTP: Shutdown does not track hijacked WebSockets.
	if m.Desk != nil {
		errs = append(errs, m.Desk.Close(ctx))
	}
	if m.stop != nil {
		m.stop()
	}
	if m.Router != nil {
		errs = append(errs, m.Router.Close())
	}
	if m.Redis != nil {
		errs = append(errs, m.Redis.Close())
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	// Lines go out together (logWriter); the deferred Close writes the
	// last ones before the process exits.
	logs := newLogWriter(env.stderr, logFlushEvery)
	defer logs.Close()
	m := &Main{Config: cfg, Logger: slog.New(logHandler{newLogger(cfg, logs).Handler(), logs})}
	// The Go runtime has read GOGC already; an operator's GOGC wins.
	if v := env.getenv("GOGC"); v != "" {
		m.Logger.Info("GOGC is set: runtime.gc_percent is not used", "gogc", v)
	} else {
		debug.SetGCPercent(cfg.Runtime.GCPercent)
	}
	if n := cfg.Runtime.MaxProcs; n > 0 {
		if v := env.getenv("GOMAXPROCS"); v != "" {
			m.Logger.Info("GOMAXPROCS is set: runtime.max_procs is not used", "gomaxprocs", v)
		} else {
			runtime.GOMAXPROCS(n)
		}
	}
	// sipgo's transaction timers are process-wide: set before any server.
	if err := telephony.SetTransactionLinger(cfg.SIP.TransactionLinger); err != nil {
		return fmt.Errorf("sip.transaction_linger: %w", err)
	}
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	m.Logger.Info("ringdesk is running", "node", cfg.NodeID(), "http", m.HTTP.Addr(), "region", cfg.Phone.DefaultRegion)
	<-ctx.Done()
	m.Logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	if err := m.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

func runMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "migrate")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(env.stdout, "schema is up to date (version %d)\n", v)
		return nil
	}
	fmt.Fprintf(env.stdout, "applied %d migration(s); schema version %d\n", len(applied), v)
	return nil
}

// userMessage is the text shown for an error: a domain error's message, or
// the wrapped chain for anything else.
func userMessage(err error) string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var e *ringdesk.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
