package agentdesk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// Authenticator says who opens a desk connection.
type Authenticator interface {
	// AuthenticateDesk returns the user behind the request. Returns
	// EUNAUTHORIZED when the request carries no valid credentials. The hub
	// checks the role itself.
	AuthenticateDesk(r *http.Request) (*ringdesk.User, error)
}

// CookieName is the cookie that carries a desk token.
const CookieName = "rd_desk"

// MinTokenKeyLen is the shortest HMAC key TokenAuth accepts.
const MinTokenKeyLen = 32

const (
	tokenPrefix = "v1."
	maxTokenLen = 2048
)

// TokenAuth authenticates desks by a signed token: "v1." + base64url(claims
// JSON) + "." + base64url(HMAC-SHA256(key, "v1."+claims)). The claims are the
// user id, username, role and expiry. The token comes from the rd_desk
// cookie, else from the token query parameter (for clients that cannot set
// cookies; it may end up in access logs, so keep tokens short-lived). The web
// login issues the same tokens with Issue, so the key is shared between the
// two through main.
type TokenAuth struct {
	key []byte
}

var _ Authenticator = (*TokenAuth)(nil)

// NewTokenAuth returns a TokenAuth signing with key, which must be at least
// MinTokenKeyLen random bytes. Returns EINVALID for a short key.
func NewTokenAuth(key []byte) (*TokenAuth, error) {
	if len(key) < MinTokenKeyLen {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "A desk token key needs at least %d bytes.", MinTokenKeyLen)
	}
	return &TokenAuth{key: append([]byte(nil), key...)}, nil
}

type tokenClaims struct {
	UserID   int64  `json:"uid"`
	Username string `json:"usr"`
	Role     string `json:"role"`
	Expires  int64  `json:"exp"` // Unix seconds
}

// Issue returns a token for u that is valid until expires.
// Returns EINVALID for a user without an id, username or known role.
func (a *TokenAuth) Issue(u *ringdesk.User, expires time.Time) (string, error) {
	if u.ID <= 0 || !ringdesk.ValidUsername(u.Username) || !validRole(u.Role) {
		return "", ringdesk.Errorf(ringdesk.EINVALID, "A desk token needs a user id, a username and a role.")
	}
	claims, err := json.Marshal(tokenClaims{UserID: u.ID, Username: u.Username, Role: u.Role, Expires: expires.Unix()})
	if err != nil {
		return "", err
	}
	signed := tokenPrefix + base64.RawURLEncoding.EncodeToString(claims)
	return signed + "." + base64.RawURLEncoding.EncodeToString(a.sign(signed)), nil
}

func (a *TokenAuth) sign(s string) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Verify returns the user a token names. Returns EUNAUTHORIZED for a
// malformed, tampered or expired token, without saying which.
func (a *TokenAuth) Verify(token string) (*ringdesk.User, error) {
	bad := ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "The desk token is invalid or expired: log in again.")
	if len(token) > maxTokenLen || !strings.HasPrefix(token, tokenPrefix) {
		return nil, bad
	}
	i := strings.LastIndexByte(token, '.')
	if i < len(tokenPrefix) {
		return nil, bad
	}
	signed, sig := token[:i], token[i+1:]
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(mac, a.sign(signed)) {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(signed[len(tokenPrefix):])
	if err != nil {
		return nil, bad
	}
	var c tokenClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, bad
	}
	if c.UserID <= 0 || !ringdesk.ValidUsername(c.Username) || !validRole(c.Role) || time.Now().Unix() >= c.Expires {
		return nil, bad
	}
	return &ringdesk.User{ID: c.UserID, Username: c.Username, Role: c.Role}, nil
}

// AuthenticateDesk implements Authenticator.
func (a *TokenAuth) AuthenticateDesk(r *http.Request) (*ringdesk.User, error) {
	token := ""
	if c, err := r.Cookie(CookieName); err == nil {
		token = c.Value
	} else {
		token = r.URL.Query().Get("token")
	}
	if token == "" {
		return nil, ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "Log in to open the desk.")
	}
	return a.Verify(token)
}

func validRole(role string) bool {
	switch role {
	case ringdesk.RoleAgent, ringdesk.RoleSupervisor, ringdesk.RoleAdmin:
		return true
	}
	return false
}

// deskRole reports whether a role may open a desk: agents, and supervisors
// (who take calls too). Admins manage the system but take no calls.
func deskRole(role string) bool {
	return role == ringdesk.RoleAgent || role == ringdesk.RoleSupervisor
}

// AnyAuth tries each Authenticator in turn and takes the first user one
// returns: the web session, then a desk token, say. When none accepts the
// request it returns the first error that is not EUNAUTHORIZED (a store
// that is down must show as such), else the last EUNAUTHORIZED.
type AnyAuth []Authenticator

var _ Authenticator = AnyAuth(nil)

// AuthenticateDesk implements Authenticator.
func (a AnyAuth) AuthenticateDesk(r *http.Request) (*ringdesk.User, error) {
	var unauthorized, failure error
	for _, auth := range a {
		u, err := auth.AuthenticateDesk(r)
		if err == nil {
			return u, nil
		}
		if ringdesk.ErrorCode(err) == ringdesk.EUNAUTHORIZED {
			unauthorized = err
		} else if failure == nil {
			failure = err
		}
	}
	if failure != nil {
		return nil, failure
	}
	if unauthorized == nil {
		unauthorized = ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "Log in to open the desk.")
	}
	return nil, unauthorized
}
