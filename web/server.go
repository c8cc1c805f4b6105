// Package web is Ringdesk's HTTP side: pages, the JSON API, health and
// metrics. It takes the desk socket as a plain http.Handler so it never
// depends on the agentdesk package.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ringdesk/ringdesk"
)

// Server serves Ringdesk over HTTP. Set the exported services before Open.
type Server struct {
	// Users checks logins and loads the user of each session.
	Users ringdesk.UserService
	// Sessions keeps sessions and login-attempt counters for every node.
	Sessions SessionStore
	// Customers keeps the customer records.
	Customers ringdesk.CustomerService
	// DeskCalls links calls to customers and saves wrap-ups for the desk.
	DeskCalls ringdesk.DeskCallService
	// Callbacks is the worklist of callers waiting to be called back.
	Callbacks ringdesk.CallbackService
	// Settings tune sessions and logins; NewServer sets DefaultSettings.
	Settings Settings

	addr   string
	logger *slog.Logger
	health map[string]ringdesk.Pinger
	reg    *prometheus.Registry
	srv    *http.Server
	ln     net.Listener
	mux    *http.ServeMux
	tmpl   *templates
	now    func() time.Time

	requests *prometheus.CounterVec

	serveWG sync.WaitGroup
}

// Settings tune the web side.
type Settings struct {
	// SecureCookies marks cookies Secure even on plain-HTTP requests: set it
	// when a TLS-terminating proxy sits in front. Requests over TLS get
	// Secure cookies anyway.
	SecureCookies bool
	// SessionIdle ends a session unused this long; SessionMax ends any
	// session this long after its login.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LoginLimitUser is how many login attempts one user name gets per
	// LoginWindow (a success starts again); LoginLimitAddr how many failed
	// logins one source address gets per LoginWindow.
	LoginLimitUser int
	LoginLimitAddr int
	LoginWindow    time.Duration
	// Dispositions are what an agent picks from in wrap-up; AwayReasons
	// the reasons offered for going away (routing reason codes: 1–32 of
	// a-z, 0-9, '-', '_').
	Dispositions []string
	AwayReasons  []string
	// MetricsToken, when set, is the bearer token /metrics requires
	// (Prometheus: authorization.credentials); empty, /metrics answers
	// anyone who reaches the web port.
	MetricsToken string
}

// DefaultSettings are the settings of a new Server.
func DefaultSettings() Settings {
	return Settings{
		SessionIdle:    time.Hour,
		SessionMax:     12 * time.Hour,
		LoginLimitUser: 5,
		LoginLimitAddr: 50,
		LoginWindow:    15 * time.Minute,
		Dispositions:   []string{"resolved", "follow-up", "callback", "sale", "no-sale", "wrong-number", "other"},
		AwayReasons:    []string{"break", "lunch", "meeting", "training", "admin"},
	}
}

// NewServer returns a server for addr (":8080"; ":0" picks a free port)
// that reports the health of the named dependencies at /healthz. Metrics
// registered on reg are served at /metrics.
func NewServer(addr string, logger *slog.Logger, health map[string]ringdesk.Pinger, reg *prometheus.Registry) *Server {
	s := &Server{addr: addr, logger: logger, health: health, reg: reg, Settings: DefaultSettings(), now: time.Now}
	tmpl, err := parseTemplates()
	if err != nil {
		// The templates are embedded: a parse error is a bug caught by
		// every test, never a runtime condition.
		panic(fmt.Sprintf("web templates: %v", err))
	}
	s.tmpl = tmpl
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringdesk_http_requests_total",
		Help: "HTTP requests by route and status class.",
	}, []string{"route", "code"})
	reg.MustRegister(s.requests, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.mux = http.NewServeMux()
	s.routes()
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin):
	// cross-origin state-changing requests are refused before anything
	// else, on top of the per-session CSRF token.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorStatus(w, r, http.StatusForbidden, ringdesk.EFORBIDDEN, "Cross-origin request refused.")
	}))
	s.srv = &http.Server{
		Handler:           securityHeaders(cop.Handler(s.withSession(s.mux))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Mount serves h at pattern; main uses it for the parts web does not own,
// such as the agent desk's WebSocket. Call it before Open.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// securityHeaders keeps pages from being framed, sniffed or running any
// script but our own files: even if some value escaped escaping, the
// Content-Security-Policy keeps an injected script from running.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// handle registers h and counts its responses by status class.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		s.requests.WithLabelValues(pattern, fmt.Sprintf("%dxx", rec.status/100)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flush).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Open listens and serves in the background.
func (s *Server) Open() error {
	if s.Users == nil || s.Sessions == nil || s.Customers == nil || s.DeskCalls == nil {
		return fmt.Errorf("web: the server needs Users, Sessions, Customers and DeskCalls")
	}
	if len(s.Settings.Dispositions) == 0 || len(s.Settings.AwayReasons) == 0 {
		return fmt.Errorf("web: the desk needs dispositions and away reasons")
	}
	if s.Settings.SessionIdle <= 0 || s.Settings.SessionMax <= 0 || s.Settings.LoginWindow <= 0 ||
		s.Settings.LoginLimitUser <= 0 || s.Settings.LoginLimitAddr <= 0 {
		return fmt.Errorf("web: session and login settings must be positive")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen http %s: %w", s.addr, err)
	}
	s.ln = ln
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Close stops accepting requests and waits for those in flight until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.serveWG.Wait()
	return err
}

// HealthReport is the body of /healthz.
type HealthReport struct {
	Status string            `json:"status"` // "ok" or "unavailable"
	Checks map[string]string `json:"checks"` // dependency → "up" or why it is down
}

// handleHealth answers 200 only while every dependency answers, so a load
// balancer takes a node out while its MySQL or Redis is unreachable.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rep := HealthReport{Status: "ok", Checks: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	names := make([]string, 0, len(s.health))
	for name := range s.health {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		wg.Add(1)
		go func(name string, p ringdesk.Pinger) {
			defer wg.Done()
			err := p.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Status = "unavailable"
				rep.Checks[name] = "down: " + ringdesk.ErrorMessage(err)
				return
			}
			rep.Checks[name] = "up"
		}(name, s.health[name])
	}
	wg.Wait()
	code := http.StatusOK
	if rep.Status != "ok" {
		code = http.StatusServiceUnavailable
		s.logger.Warn("health check failed", "checks", rep.Checks)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(rep)
}

// handleIndex sends a logged-in user to their home page.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, homeFor(SessionFrom(r.Context()).User), http.StatusSeeOther)
}
