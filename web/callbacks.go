package web

import (
	"math"
	"net/http"

	"github.com/ringdesk/ringdesk"
)

// CloseCallbackRequest is the body of POST /api/callbacks/{id}/close.
type CloseCallbackRequest struct {
	Status string `json:"status"` // done or cancelled
	Note   string `json:"note"`
}

// handleCallbacks lists the callback worklist: GET /api/callbacks with
// optional status (open by default, done, cancelled, all), queue_id and
// limit. Open requests come oldest first, the order callers asked in.
func (s *Server) handleCallbacks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ringdesk.CallbackFilter{Status: q.Get("status")}
	queue, err := queryInt(q, "queue_id", 1, math.MaxInt, 0)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f.QueueID = int64(queue)
	if f.Limit, err = queryInt(q, "limit", 1, 500, 50); err != nil {
		s.Error(w, r, err)
		return
	}
	list, err := s.Callbacks.FindCallbacks(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// handleCloseCallback marks a callback request done or cancelled by the
// logged-in user. Of two people closing the same request, the second is
// told (409) and nothing is overwritten.
func (s *Server) handleCloseCallback(w http.ResponseWriter, r *http.Request) {
	var req CloseCallbackRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	sess := SessionFrom(r.Context())
	if err := s.Callbacks.CloseCallback(r.Context(), r.PathValue("id"), sess.User.ID, req.Status, req.Note); err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
