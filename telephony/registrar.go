package telephony

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// Registration limits (RFC 3261 §10.3: a registrar may shorten an expiry
// and must reject one shorter than its minimum with 423).
const (
	DefaultExpires = 3600 * time.Second
	MaxExpires     = 3600 * time.Second
	MinExpires     = 60 * time.Second
	// Wrong credentials allowed per source address per window before the
	// source is refused without a check.
	authFailLimit  = 10
	authFailWindow = time.Minute
)

// SIPUsers finds the agent a phone registers as.
type SIPUsers interface {
	// FindUserBySIPUsername returns ENOTFOUND for an unknown SIP user.
	FindUserBySIPUsername(ctx context.Context, sipUsername string) (*ringdesk.User, error)
}

// Registrar answers REGISTER: digest authentication against the users'
// stored HA1, bindings kept in shared storage with their expiry.
type Registrar struct {
	realm  string
	node   string
	users  SIPUsers
	regs   ringdesk.Registrations
	logger *slog.Logger
	now    func() time.Time

	auth  *DigestAuth
	fails *failCounter
}

// NewRegistrar returns a registrar on this node. auth must sign nonces with
// a key every node of the site shares (NewSharedDigestAuth), since a phone's
// next REGISTER may reach another node.
func NewRegistrar(auth *DigestAuth, node string, users SIPUsers, regs ringdesk.Registrations, logger *slog.Logger) *Registrar {
	return &Registrar{realm: auth.Realm(), node: node, users: users, regs: regs, logger: logger, now: time.Now,
		auth: auth, fails: newFailCounter(authFailLimit, authFailWindow)}
}

// NewSharedDigestAuth is NewDigestAuth with a given nonce key rather than
// one drawn at start, so that nonces issued by one node check on another.
func NewSharedDigestAuth(realm string, key []byte, now func() time.Time) (*DigestAuth, error) {
	if len(key) < 16 {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "digest nonce key is shorter than 16 bytes")
	}
	a, err := NewDigestAuth(realm, now)
	if err != nil {
		return nil, err
	}
	a.key = append([]byte(nil), key...)
	return a, nil
}

// HandleRegister is the sipgo handler for REGISTER.
func (r *Registrar) HandleRegister(req *sip.Request, tx sip.ServerTransaction) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := r.register(ctx, req)
	if err := tx.Respond(res); err != nil {
		r.logger.Debug("register: respond", "error", err)
	}
}

func (r *Registrar) respond(req *sip.Request, code int, reason string, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

func sourceIP(req *sip.Request) string {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return req.Source()
	}
	return host
}

// register decides the response to one REGISTER.
func (r *Registrar) register(ctx context.Context, req *sip.Request) *sip.Response {
	ip := sourceIP(req)
	if r.fails.blocked(ip) {
		return r.respond(req, 403, "Forbidden")
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		return r.respond(req, 400, "Bad Request (no user in To)")
	}
	aor := to.Address.User

	sipUser, ok := r.auth.Username(req)
	if !ok {
		return r.challenge(req, false)
	}
	user, err := r.users.FindUserBySIPUsername(ctx, sipUser)
	if err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		r.logger.Warn("register: user lookup failed", "error", err)
		return r.respond(req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
	}
	result := AuthFailed
	if user != nil && !user.Disabled && user.SIPRealm == r.realm && sipUser == aor {
		result = r.auth.CheckHA1(req, sipUser, user.SIPHA1)
	}
	switch result {
	case AuthMissing:
		return r.challenge(req, false)
	case AuthStale:
		return r.challenge(req, true)
	case AuthFailed:
		r.fails.fail(ip)
		r.logger.Info("register: wrong credentials", "sip_user", sipUser, "aor", aor, "source", req.Source())
		return r.respond(req, 403, "Forbidden")
	}

	expires := DefaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return r.respond(req, 400, "Bad Request (Expires)")
		}
		expires = time.Duration(n) * time.Second
	}
	contacts := req.GetHeaders("Contact")
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return r.respond(req, 400, "Bad Request (Contact)")
		}
		if c.Address.Wildcard {
			// "Contact: *" must be alone and with Expires: 0 (§10.3 step 6).
			if len(contacts) != 1 || expires != 0 || c.Params.Has("expires") {
				return r.respond(req, 400, "Bad Request (wildcard Contact needs Expires: 0)")
			}
			if err := r.regs.RemoveBindings(ctx, aor); err != nil {
				return r.unavailable(req, err)
			}
			return r.ok(ctx, req, aor)
		}
	}
	now := r.now()
	for _, h := range contacts {
		c := h.(*sip.ContactHeader)
		exp := expires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return r.respond(req, 400, "Bad Request (Contact expires)")
			}
			exp = time.Duration(n) * time.Second
		}
		contact := c.Address.String()
		if exp == 0 {
			if err := r.regs.RemoveBinding(ctx, aor, contact); err != nil {
				return r.unavailable(req, err)
			}
			continue
		}
		if exp < MinExpires {
			return r.respond(req, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(int(MinExpires.Seconds()))))
		}
		if exp > MaxExpires {
			exp = MaxExpires
		}
		b := ringdesk.Binding{AOR: aor, Contact: contact, Source: req.Source(), Transport: strings.ToLower(req.Transport()),
			Node: r.node, CallID: req.CallID().Value(), Expires: now.Add(exp)}
		if cseq := req.CSeq(); cseq != nil {
			b.CSeq = cseq.SeqNo
		}
		if ua := req.GetHeader("User-Agent"); ua != nil {
			b.UserAgent = ua.Value()
		}
		if err := r.regs.PutBinding(ctx, b); err != nil {
			return r.unavailable(req, err)
		}
	}
	r.fails.reset(ip)
	return r.ok(ctx, req, aor)
}

func (r *Registrar) unavailable(req *sip.Request, err error) *sip.Response {
	r.logger.Warn("register: bindings unavailable", "error", err)
	return r.respond(req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
}

// ok answers 200 with every current binding of the AOR (§10.3 step 8).
func (r *Registrar) ok(ctx context.Context, req *sip.Request, aor string) *sip.Response {
	bs, err := r.regs.Bindings(ctx, aor)
	if err != nil {
		r.logger.Warn("register: bindings unavailable", "error", err)
		return r.respond(req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
	}
	res := r.respond(req, 200, "OK")
	now := r.now()
	for _, b := range bs {
		secs := int(b.Expires.Sub(now).Round(time.Second).Seconds())
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", b.Contact, secs)))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(http1123)))
	return res
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func (r *Registrar) challenge(req *sip.Request, stale bool) *sip.Response {
	return r.respond(req, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", r.auth.Challenge(stale)))
}

// failCounter counts authentication failures per source in fixed windows.
type failCounter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	start time.Time
	n     map[string]int
}

func newFailCounter(limit int, window time.Duration) *failCounter {
	return &failCounter{limit: limit, window: window, now: time.Now, n: map[string]int{}}
}

func (f *failCounter) roll() {
	if now := f.now(); now.Sub(f.start) >= f.window {
		f.start, f.n = now, map[string]int{}
	}
}

func (f *failCounter) fail(src string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll()
	f.n[src]++
}

func (f *failCounter) reset(src string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.n, src)
}

func (f *failCounter) blocked(src string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll()
	return f.n[src] >= f.limit
}
