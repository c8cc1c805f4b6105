package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ringdesk/ringdesk"
)

// SessionCookie is the cookie that carries the session id.
const SessionCookie = "rd_session"

// SessionStore keeps sessions and login-attempt counters where every node
// sees them (routing.WebStore implements it on Redis). Values are opaque to
// the store. Errors: ENOTFOUND from GetSession for a missing or expired
// session, EUNAVAILABLE when the store cannot be reached.
type SessionStore interface {
	GetSession(ctx context.Context, id string) ([]byte, error)
	PutSession(ctx context.Context, id string, data []byte, ttl time.Duration) error
	DeleteSession(ctx context.Context, id string) error
	// CountAttempt adds one to the counter key, which expires window after
	// its first hit, and returns the new count.
	CountAttempt(ctx context.Context, key string, window time.Duration) (int64, error)
	// Attempts returns the counter's value, 0 when it does not exist.
	Attempts(ctx context.Context, key string) (int64, error)
	ResetAttempts(ctx context.Context, key string) error
}

// Session is a logged-in browser. Only its id travels in the cookie; the
// rest stays on the server. User is loaded fresh on every request, so a
// disabled user or a changed role takes effect at once.
type Session struct {
	ID        string         `json:"-"`
	UserID    int64          `json:"uid"`
	CSRF      string         `json:"csrf"` // the token every state-changing request must carry
	CreatedAt time.Time      `json:"created"`
	SeenAt    time.Time      `json:"seen"`
	User      *ringdesk.User `json:"-"`
}

type sessionKey struct{}

// SessionFrom returns the session of the request's context, or nil when
// the request is not logged in.
func SessionFrom(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// newContextWithSession returns ctx carrying sess and its user.
func newContextWithSession(ctx context.Context, sess *Session) context.Context {
	ctx = context.WithValue(ctx, sessionKey{}, sess)
	return ringdesk.NewContextWithUser(ctx, sess.User)
}

// randomToken returns 32 random bytes in base64url: session ids and CSRF
// tokens (256 bits, beyond guessing).
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// itself); never fall back to a weak id.
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is the name a session is kept under: a hash of its id, so that
// whoever reads the store (a Redis dump, MONITOR) cannot take over sessions.
func storeKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// validSessionID rejects cookie values that cannot be one of our ids before
// any store round trip.
func validSessionID(id string) bool {
	if len(id) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil
}

// ttl is how long the store keeps sess from now: until it is idle too long
// or reaches its absolute lifetime, whichever comes first.
func (s *Server) sessionTTL(sess *Session, now time.Time) time.Duration {
	idle := sess.SeenAt.Add(s.Settings.SessionIdle).Sub(now)
	abs := sess.CreatedAt.Add(s.Settings.SessionMax).Sub(now)
	return min(idle, abs)
}

func (s *Server) saveSession(ctx context.Context, sess *Session) error {
	ttl := s.sessionTTL(sess, s.now())
	if ttl <= 0 {
		return ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "The session has expired: log in again.")
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	return s.Sessions.PutSession(ctx, storeKey(sess.ID), data, ttl)
}

// createSession starts a session for u and sets its cookie.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request, u *ringdesk.User) (*Session, error) {
	now := s.now()
	sess := &Session{ID: randomToken(), UserID: u.ID, CSRF: randomToken(), CreatedAt: now, SeenAt: now, User: u}
	if err := s.saveSession(r.Context(), sess); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	s.setCookie(w, r, SessionCookie, sess.ID, s.Settings.SessionMax)
	return sess, nil
}

// loadSession returns the live session the request's cookie names, with
// its user, or nil when there is none (no cookie, unknown, expired, or its
// user disabled or deleted). An error means the store or MySQL failed.
func (s *Server) loadSession(r *http.Request) (*Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !validSessionID(c.Value) {
		return nil, nil
	}
	ctx := r.Context()
	data, err := s.Sessions.GetSession(ctx, storeKey(c.Value))
	if ringdesk.ErrorCode(err) == ringdesk.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(data, &sess); err != nil || sess.UserID <= 0 || sess.CSRF == "" {
		s.logger.Warn("dropping an unreadable session", "error", err)
		_ = s.Sessions.DeleteSession(ctx, storeKey(c.Value))
		return nil, nil
	}
	sess.ID = c.Value
	now := s.now()
	// The store expires sessions itself; checking here too keeps the
	// limits exact whatever the store's clock or a stale replica says.
	if now.Sub(sess.SeenAt) >= s.Settings.SessionIdle || now.Sub(sess.CreatedAt) >= s.Settings.SessionMax {
		_ = s.Sessions.DeleteSession(ctx, storeKey(sess.ID))
		return nil, nil
	}
	u, err := s.Users.FindUserByID(ctx, sess.UserID)
	if ringdesk.ErrorCode(err) == ringdesk.ENOTFOUND || (err == nil && u.Disabled) {
		_ = s.Sessions.DeleteSession(ctx, storeKey(sess.ID))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session user: %w", err)
	}
	sess.User = u
	// Refresh the idle deadline, but write at most once a minute (or a
	// tenth of the idle time), not on every request.
	if now.Sub(sess.SeenAt) >= min(time.Minute, s.Settings.SessionIdle/10) {
		sess.SeenAt = now
		if err := s.saveSession(ctx, &sess); err != nil {
			s.logger.Warn("refresh session", "error", err)
		}
	}
	return &sess, nil
}

// destroySession ends sess (if any) and clears the cookie.
func (s *Server) destroySession(w http.ResponseWriter, r *http.Request, sess *Session) error {
	s.setCookie(w, r, SessionCookie, "", -1)
	if sess == nil {
		return nil
	}
	return s.Sessions.DeleteSession(r.Context(), storeKey(sess.ID))
}

// setCookie sets (maxAge > 0), or deletes (maxAge < 0), one of Ringdesk's
// cookies: HttpOnly, SameSite=Lax, Path=/, and Secure whenever the request
// came over TLS or the configuration says the site is served over HTTPS
// (behind a TLS-terminating proxy).
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || s.Settings.SecureCookies,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// tokensEqual compares two secrets in constant time.
func tokensEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
