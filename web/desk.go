package web

import "net/http"

// handleDesk is the agent desk page.
func (s *Server) handleDesk(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "desk", Titled{Title: "Desk"})
}
