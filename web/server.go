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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ringdesk/ringdesk"
)

// Server serves Ringdesk over HTTP.
type Server struct {
	addr   string
	logger *slog.Logger
	health map[string]ringdesk.Pinger
	reg    *prometheus.Registry
	srv    *http.Server
	ln     net.Listener
	mux    *http.ServeMux

	requests *prometheus.CounterVec

	serveWG sync.WaitGroup
}

// NewServer returns a server for addr (":8080"; ":0" picks a free port)
// that reports the health of the named dependencies at /healthz. Metrics
// registered on reg are served at /metrics.
func NewServer(addr string, logger *slog.Logger, health map[string]ringdesk.Pinger, reg *prometheus.Registry) *Server {
	s := &Server{addr: addr, logger: logger, health: health, reg: reg}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ringdesk_http_requests_total",
		Help: "HTTP requests by route and status class.",
	}, []string{"route", "code"})
	reg.MustRegister(s.requests, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	s.mux = mux
	s.handle(mux, "GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.handle(mux, "GET /{$}", s.handleIndex)
	s.srv = &http.Server{
		Handler:           mux,
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

// handle registers h and counts its responses by status class.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
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

// Open listens and serves in the background.
func (s *Server) Open() error {
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

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><html lang="en"><meta charset="utf-8"><title>Ringdesk</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto">
<h1>Ringdesk</h1>
<p>Ringdesk is running. The agent desk and customer pages arrive with the web issue;
until then: <a href="/healthz">health</a> · <a href="/metrics">metrics</a>.</p>
</body></html>`)
}
