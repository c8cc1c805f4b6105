package web

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the one list of what the server answers. Every route but the
// public few (login, health, metrics, assets, the desk socket, which checks
// its own credentials) requires a role: withSession refuses requests without
// a session and state-changing requests without the CSRF token before any
// of these run.
func (s *Server) routes() {
	s.handle("GET /healthz", s.handleHealth)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
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
	s.handle("GET /supervisor", s.require(supRole...)(s.handleSupervisor))
	s.handle("GET /admin", s.require(adminRole...)(s.handleAdmin))
}
