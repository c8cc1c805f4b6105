package web

import (
	"net/http"

	"github.com/ringdesk/ringdesk"
)

// Me is the body of GET /api/me: who is logged in, and the CSRF token that
// scripts send back in X-CSRF-Token.
type Me struct {
	User *ringdesk.User `json:"user"`
	CSRF string         `json:"csrf"`
}

// handleMe tells scripts who is logged in; the desk calls it now and then,
// which also keeps the session from going idle while the desk is open.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	sess := SessionFrom(r.Context())
	writeJSON(w, http.StatusOK, Me{User: sess.User, CSRF: sess.CSRF})
}

// handleSupervisor is the supervisors' home; the wallboard comes with the
// supervisor issue.
func (s *Server) handleSupervisor(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "supervisor", Titled{Title: "Supervisor"})
}

// handleAdmin is the administrators' home: the users, for now.
func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	users, err := s.Users.FindUsers(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.render(w, r, "admin", Titled{Title: "Admin", Data: users})
}
