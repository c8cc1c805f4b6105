package telephony

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/ringdesk/ringdesk"
)

// DefaultNonceTTL is how long a digest nonce is good for; an older one is
// answered with a fresh challenge marked stale.
const DefaultNonceTTL = 5 * time.Minute

// DigestAuth checks digest credentials (RFC 3261 22.4, RFC 2617/7616
// arithmetic via github.com/icholy/digest) of requests from trunks that have
// a Username. Nonces are stateless: a timestamp and an HMAC under a key
// drawn at start, so any request can be checked without a nonce table.
// Consequence: a captured Authorization can be replayed for the same method
// and URI within the nonce TTL, from an address inside the trunk's CIDRs
// only; nc is not tracked.
type DigestAuth struct {
	realm string
	key   []byte
	ttl   time.Duration
	now   func() time.Time
}

// NewDigestAuth returns a checker for realm; now nil means time.Now.
func NewDigestAuth(realm string, now func() time.Time) (*DigestAuth, error) {
	if realm == "" || strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "digest realm %q is empty or has quotes, backslashes or line breaks", realm)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("digest nonce key: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &DigestAuth{realm: realm, key: key, ttl: DefaultNonceTTL, now: now}, nil
}

// Challenge is a WWW-Authenticate value with a fresh nonce.
func (a *DigestAuth) Challenge(stale bool) string {
	c := digest.Challenge{Realm: a.realm, Nonce: a.nonce(), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

func (a *DigestAuth) nonce() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(a.now().Unix()))
	copy(b[8:], a.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *DigestAuth) mac(ts []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write(ts)
	m.Write([]byte(a.realm))
	return m.Sum(nil)[:16]
}

// checkNonce reports whether n is one of ours, and whether it has expired.
func (a *DigestAuth) checkNonce(n string) (valid, stale bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 24 {
		return false, false
	}
	if !hmac.Equal(b[8:], a.mac(b[:8])) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := a.now().Sub(issued)
	if age < -time.Minute || age > a.ttl {
		return true, true
	}
	return true, false
}

// AuthResult is the outcome of DigestAuth.Check.
type AuthResult int

// Outcomes of a digest check.
const (
	AuthOK      AuthResult = iota
	AuthMissing            // no Authorization for our realm: challenge
	AuthStale              // our nonce, expired: challenge with stale=true
	AuthFailed             // wrong user, response, URI or a forged nonce
)

// Realm is the digest realm of the challenges.
func (a *DigestAuth) Realm() string { return a.realm }

// credentials returns req's Authorization for our realm, nil if none.
func (a *DigestAuth) credentials(req *sip.Request) *digest.Credentials {
	for _, h := range req.GetHeaders("Authorization") {
		c, err := digest.ParseCredentials(h.Value())
		if err == nil && c.Realm == a.realm {
			return c
		}
	}
	return nil
}

// Username returns the user name req authenticates as in our realm, so
// that a registrar can look up that user's HA1 before CheckHA1.
func (a *DigestAuth) Username(req *sip.Request) (string, bool) {
	if c := a.credentials(req); c != nil {
		return c.Username, true
	}
	return "", false
}

// Check verifies req's Authorization against trunk's credentials.
func (a *DigestAuth) Check(req *sip.Request, trunk *ringdesk.Trunk) AuthResult {
	if trunk.HA1 != "" {
		return a.check(req, trunk.Username, "", strings.ToLower(trunk.HA1))
	}
	return a.check(req, trunk.Username, trunk.Password, "")
}

// CheckHA1 verifies req's Authorization against a stored HA1 =
// MD5(username:realm:password) (store.SIPHA1), for the registrar. Only MD5
// can be checked against an HA1; the realm must be the one it was made for.
func (a *DigestAuth) CheckHA1(req *sip.Request, username, ha1 string) AuthResult {
	if ha1 == "" {
		return AuthFailed
	}
	return a.check(req, username, "", strings.ToLower(ha1))
}

func (a *DigestAuth) check(req *sip.Request, username, password, ha1 string) AuthResult {
	cred := a.credentials(req)
	if cred == nil {
		return AuthMissing
	}
	valid, stale := a.checkNonce(cred.Nonce)
	if !valid {
		return AuthFailed
	}
	// RFC 3261 22.4 / RFC 2617 3.2.2: uri is the Request-URI (sipp needs
	// -auth_uri for that; by default it sends sip:remote_ip:remote_port).
	if cred.Username != username || cred.URI != req.Recipient.String() {
		return AuthFailed
	}
	switch strings.ToUpper(cred.Algorithm) {
	case "", "MD5":
	case "SHA-256":
		if ha1 != "" {
			return AuthFailed
		}
	default:
		return AuthFailed
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	switch cred.QOP {
	case "":
	case "auth":
		chal.QOP = []string{"auth"}
	default:
		return AuthFailed
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: string(req.Method), URI: cred.URI,
		Username: username, Password: password, A1: ha1,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
		return AuthFailed
	}
	if stale {
		return AuthStale
	}
	return AuthOK
}
