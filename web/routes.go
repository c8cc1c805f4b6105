package web

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one list of what the server answers. Every route but the
// public few (login, health, metrics unless a token is set, assets, the
// desk socket, which checks its own credentials) requires a role:
// withSession refuses requests without a session and state-changing
// requests without the CSRF token before any of these run.
func (s *Server) routes() {
	s.handle("GET /healthz", s.handleHealth)
	s.mux.Handle("GET /metrics", s.metricsAuth(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
	s.mux.Handle("GET /static/", staticHandler())
	s.mux.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))

	s.handle("GET /login", s.handleLoginForm)
	s.handle("POST /login", s.handleLogin)
	s.handle("POST /logout", s.require(anyRole...)(s.handleLogout))

	s.handle("GET /{$}", s.require(anyRole...)(s.handleIndex))
	s.handle("GET /api/me", s.require(anyRole...)(s.handleMe))
	s.handle("GET /desk", s.require(deskRole...)(s.handleDesk))
	s.handle("POST /api/calls/{id}/link", s.require(deskRole...)(s.handleLinkCustomer))
	s.handle("POST /api/calls/{id}/customer", s.require(deskRole...)(s.handleCreateCaller))
	s.handle("POST /api/calls/{id}/wrapup", s.require(deskRole...)(s.handleWrapUp))
	s.handle("GET /api/callbacks", s.require(deskRole...)(s.handleCallbacks))
	s.handle("POST /api/callbacks/{id}/close", s.require(deskRole...)(s.handleCloseCallback))
	s.handle("GET /supervisor", s.require(supRole...)(s.handleSupervisor))
	s.handle("GET /admin", s.require(adminRole...)(s.handleAdmin))

	// Customer records (customer.go) and the CSV import (import.go).
	s.handle("GET /customers", s.require(anyRole...)(s.handleCustomersPage))
	s.handle("GET /customers/{id}", s.require(anyRole...)(s.handleCustomerPage))
	s.handle("GET /api/customers", s.require(anyRole...)(s.handleCustomerSearch))
	s.handle("POST /api/customers", s.require(anyRole...)(s.handleCustomerCreate))
	s.handle("GET /api/customers/{id}", s.require(anyRole...)(s.handleCustomerGet))
	s.handle("PATCH /api/customers/{id}", s.require(anyRole...)(s.handleCustomerUpdate))
	s.handle("GET /api/customers/{id}/history", s.require(anyRole...)(s.handleCustomerHistory))
	s.handle("POST /api/customers/{id}/notes", s.require(anyRole...)(s.handleNoteCreate))
	s.handle("POST /api/customers/{id}/cases", s.require(anyRole...)(s.handleCaseCreate))
	s.handle("PATCH /api/cases/{id}", s.require(anyRole...)(s.handleCaseUpdate))
	s.handle("GET /admin/import", s.require(adminRole...)(s.handleImportPage))
	s.handle("POST /admin/import", s.require(adminRole...)(s.handleImport))
}

// metricsAuth lets a request through to next only with the bearer token of
// Settings.MetricsToken, when one is set.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := s.Settings.MetricsToken; want != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ringdesk metrics"`)
				http.Error(w, "A bearer token is required.", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
