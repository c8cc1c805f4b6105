package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ringdesk/ringdesk"
)

// This file holds what every handler uses to answer: the JSON helpers and
// the one mapping from Ringdesk's error codes to HTTP statuses.

// MaxJSONBody is the largest JSON request body readJSON accepts.
const MaxJSONBody = 1 << 20

// APIError is the JSON body of every API error.
type APIError struct {
	Code    string `json:"code"`    // a ringdesk error code: invalid, not_found, conflict…
	Message string `json:"message"` // safe to show to the user
}

// errorStatus maps a Ringdesk error code to its HTTP status.
func errorStatus(code string) int {
	switch code {
	case ringdesk.EINVALID:
		return http.StatusBadRequest
	case ringdesk.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case ringdesk.EFORBIDDEN:
		return http.StatusForbidden
	case ringdesk.ENOTFOUND:
		return http.StatusNotFound
	case ringdesk.ECONFLICT:
		return http.StatusConflict
	case ringdesk.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// isAPI reports whether the request wants JSON rather than a page: every
// path under /api/, and the desk socket.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/desk/ws"
}

// writeJSON writes v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The status is out; all that is left is to stop.
		return
	}
}

// readJSON decodes the request's JSON body into v: at most MaxJSONBody
// bytes, one JSON value, no unknown fields. Every failure is an EINVALID
// whose message says what is wrong, for a 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return ringdesk.Errorf(ringdesk.EINVALID, "The body must be JSON (Content-Type: application/json), not %q.", ct)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ringdesk.Errorf(ringdesk.EINVALID, "%s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ringdesk.Errorf(ringdesk.EINVALID, "The body must hold one JSON value; more follows it.")
	}
	return nil
}

// jsonProblem says in words what is wrong with a JSON body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "The body is empty; a JSON object was expected."
	case errors.As(err, &big):
		return fmt.Sprintf("The body is larger than %d bytes.", big.Limit)
	case errors.As(err, &syn):
		return fmt.Sprintf("The body is not valid JSON (at byte %d).", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "The body is not valid JSON: it ends too early."
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("Field %q must be %s, not %s.", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("The body must be %s, not %s.", typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Sprintf("Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return "The body is not valid JSON: " + err.Error()
	}
}

// Error answers a failed request: the status from the error's code, a JSON
// body for the API or an error page otherwise. Only internal errors are
// logged (the others are the user's to fix), once, here.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := ringdesk.ErrorCode(err)
	status := errorStatus(code)
	msg := ringdesk.ErrorMessage(err)
	if code == ringdesk.EINTERNAL || code == ringdesk.EUNAVAILABLE {
		s.logger.Error("request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("client_ip", clientIP(r)), slog.Any("error", err))
	}
	s.errorStatus(w, r, status, code, msg)
}

// errorStatus answers with a status and a message, as JSON or as a page.
func (s *Server) errorStatus(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if isAPI(r) {
		writeJSON(w, status, APIError{Code: code, Message: msg})
		return
	}
	s.renderStatus(w, r, status, "error", errorPage{Status: status, Title: http.StatusText(status), Message: msg})
}

type errorPage struct {
	Status  int
	Title   string
	Message string
}

// queryInt reads the query parameter name as a whole number from lo to hi,
// def when it is absent. Anything else is an EINVALID naming the range.
func queryInt(q url.Values, name string, lo, hi, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return def, ringdesk.Errorf(ringdesk.EINVALID, "%s must be a number from %d to %d.", name, lo, hi)
	}
	return n, nil
}
