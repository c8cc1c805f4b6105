package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// loginCookie carries the login form's CSRF token (double submit: the
// cookie and the form field must match), so that no other site can log a
// browser in to an account of its choosing.
const loginCookie = "rd_login"

// publicPaths are served without a session; every other path needs one,
// even if its handler forgot to require a role.
func publicPath(p string) bool {
	switch p {
	case "/login", "/healthz", "/metrics", "/favicon.ico",
		"/desk/ws": // the hub authenticates by itself: session cookie or desk token
		return true
	}
	return strings.HasPrefix(p, "/static/")
}

// safeMethod reports whether a request changes nothing by definition.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// withSession loads the request's session into its context, sends requests
// without one to the login, and refuses any state-changing request that
// does not carry the session's CSRF token (header X-CSRF-Token, or form
// field "csrf"): 403, and the handler never runs.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets and probes need no session; the desk socket loads it
		// itself (AuthenticateDesk), once.
		if strings.HasPrefix(r.URL.Path, "/static/") || r.URL.Path == "/healthz" || r.URL.Path == "/metrics" || r.URL.Path == "/desk/ws" {
			next.ServeHTTP(w, r)
			return
		}
		sess, err := s.loadSession(r)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if sess != nil {
			r = r.WithContext(newContextWithSession(r.Context(), sess))
		}
		if publicPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if sess == nil {
			s.unauthenticated(w, r)
			return
		}
		if !safeMethod(r.Method) {
			token := r.Header.Get("X-CSRF-Token")
			if token == "" {
				token = formToken(w, r)
			}
			if !tokensEqual(token, sess.CSRF) {
				s.logger.Warn("csrf token missing or wrong", "method", r.Method, "path", r.URL.Path,
					"user", sess.User.Username, "client_ip", clientIP(r))
				s.errorStatus(w, r, http.StatusForbidden, ringdesk.EFORBIDDEN,
					"This request lacks its security token (CSRF). Reload the page and try again.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// unauthenticated answers a request that needs a login: 401 for the API, a
// redirect to the login page (back here afterwards) for pages.
func (s *Server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		writeJSON(w, http.StatusUnauthorized, APIError{Code: ringdesk.EUNAUTHORIZED, Message: "Log in first."})
		return
	}
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// require lets only the given roles through: no session → login (page) or
// 401 (API); another role → 403. Every route but the public ones goes
// through it, in the route list.
func (s *Server) require(roles ...string) func(http.HandlerFunc) http.HandlerFunc {
	if len(roles) == 0 {
		panic("web: require needs at least one role")
	}
	return func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			sess := SessionFrom(r.Context())
			if sess == nil {
				s.unauthenticated(w, r)
				return
			}
			if !slices.Contains(roles, sess.User.Role) {
				s.errorStatus(w, r, http.StatusForbidden, ringdesk.EFORBIDDEN,
					fmt.Sprintf("This needs the role %s; you are logged in as %s.", strings.Join(roles, " or "), sess.User.Role))
				return
			}
			h(w, r)
		}
	}
}

// Role sets for require.
var (
	anyRole   = []string{ringdesk.RoleAgent, ringdesk.RoleSupervisor, ringdesk.RoleAdmin}
	deskRole  = []string{ringdesk.RoleAgent, ringdesk.RoleSupervisor}
	supRole   = []string{ringdesk.RoleSupervisor, ringdesk.RoleAdmin}
	adminRole = []string{ringdesk.RoleAdmin}
)

// homeFor is where a user lands after logging in.
func homeFor(u *ringdesk.User) string {
	if u.Role == ringdesk.RoleAdmin {
		return "/admin"
	}
	return "/desk"
}

// safeNext keeps a post-login redirect on this site: a path, never
// "//evil.example" or "/\evil.example", which browsers treat as other hosts.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") || len(next) > 2000 {
		return ""
	}
	return next
}

type loginPage struct {
	Token    string // the login form's CSRF token (the layout puts it in .CSRF)
	Username string
	Next     string
	Error    string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if sess := SessionFrom(r.Context()); sess != nil {
		http.Redirect(w, r, homeFor(sess.User), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	p.Token = randomToken()
	s.setCookie(w, r, loginCookie, p.Token, time.Hour)
	s.renderStatus(w, r, status, "login", p)
}

// attemptKey names a login-attempt counter without putting raw user input
// in a Redis key.
func attemptKey(kind, v string) string {
	h := sha256.Sum256([]byte(v))
	return "login:" + kind + ":" + hex.EncodeToString(h[:16])
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, loginPage{Error: "The login form could not be read."})
		return
	}
	username := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	password := r.PostFormValue("password")
	p := loginPage{Username: username, Next: safeNext(r.PostFormValue("next"))}
	c, err := r.Cookie(loginCookie)
	if err != nil || !tokensEqual(c.Value, r.PostFormValue("csrf")) {
		p.Error = "The login form had expired. Please log in again."
		s.renderLogin(w, r, http.StatusForbidden, p)
		return
	}
	if username == "" || password == "" {
		p.Error = "Enter your user name and password."
		s.renderLogin(w, r, http.StatusBadRequest, p)
		return
	}
	ctx := r.Context()
	userKey, addrKey := attemptKey("user", username), attemptKey("addr", clientIP(r))
	// Per user: every attempt since the last success counts (atomic, so
	// parallel guesses cannot slip past the limit). Per address: failures
	// only, so a whole office behind one NAT can still log in at 9:00.
	n, err := s.Sessions.CountAttempt(ctx, userKey, s.Settings.LoginWindow)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	na, err := s.Sessions.Attempts(ctx, addrKey)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if n > int64(s.Settings.LoginLimitUser) || na >= int64(s.Settings.LoginLimitAddr) {
		s.logger.Warn("login rate-limited", "user", username, "client_ip", clientIP(r))
		w.Header().Set("Retry-After", fmt.Sprint(int(s.Settings.LoginWindow.Seconds())))
		p.Error = fmt.Sprintf("Too many failed logins. Wait %s and try again, or ask an administrator.", humanDuration(s.Settings.LoginWindow))
		s.renderLogin(w, r, http.StatusTooManyRequests, p)
		return
	}
	u, err := s.Users.Authenticate(ctx, username, password)
	if ringdesk.ErrorCode(err) == ringdesk.EUNAUTHORIZED {
		if _, err := s.Sessions.CountAttempt(ctx, addrKey, s.Settings.LoginWindow); err != nil {
			s.logger.Warn("count failed login", "error", err)
		}
		s.logger.Info("login failed", "user", username, "client_ip", clientIP(r))
		// The same words whether or not the user exists.
		p.Error = "Wrong user name or password."
		s.renderLogin(w, r, http.StatusUnauthorized, p)
		return
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.Sessions.ResetAttempts(ctx, userKey); err != nil {
		s.logger.Warn("reset login attempts", "error", err)
	}
	// A new session id at every login (never reuse one the browser had),
	// so a planted cookie cannot ride on the victim's login.
	if old := SessionFrom(ctx); old != nil {
		_ = s.destroySession(w, r, old)
	}
	if _, err := s.createSession(w, r, u); err != nil {
		s.Error(w, r, err)
		return
	}
	s.setCookie(w, r, loginCookie, "", -1)
	s.logger.Info("login", "user", u.Username, "role", u.Role, "client_ip", clientIP(r))
	next := p.Next
	if next == "" {
		next = homeFor(u)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess := SessionFrom(r.Context())
	if err := s.destroySession(w, r, sess); err != nil {
		s.Error(w, r, err)
		return
	}
	if isAPI(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// AuthenticateDesk says who opens the desk socket, from the web session's
// cookie: main hands it to the agent desk hub, beside the token check used
// by the CLI and tests. Returns EUNAUTHORIZED without a live session,
// EUNAVAILABLE when the session store cannot be read.
func (s *Server) AuthenticateDesk(r *http.Request) (*ringdesk.User, error) {
	sess, err := s.loadSession(r)
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return nil, ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "Log in to open the desk.")
	}
	return sess.User, nil
}

// clientIP is the address the request came from. Behind a reverse proxy
// every request comes from the proxy; Ringdesk does not trust
// X-Forwarded-For, which any client can set.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func humanDuration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		if m := int(d / time.Minute); m != 1 {
			return fmt.Sprintf("%d minutes", m)
		}
		return "a minute"
	}
	return d.String()
}

// formToken reads the csrf field of a form post. The form is parsed here,
// before any role check, so its size is bounded first: a form post at most
// maxFormBody, a multipart upload (only the admins' CSV import takes one)
// at most the import's limit, held in memory up to 1 MiB and in temporary
// files beyond (removed when the request ends).
func formToken(w http.ResponseWriter, r *http.Request) string {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, maxImportUpload+1<<20)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return ""
		}
	case "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	default:
		return ""
	}
	return r.PostFormValue("csrf")
}

// maxFormBody bounds a plain form post.
const maxFormBody = 1 << 20
