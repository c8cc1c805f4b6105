package telephony

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// TrunkMatcher finds the trunk a request comes from by its source address.
// It is immutable and safe for concurrent use.
type TrunkMatcher struct {
	entries []trunkEntry // most specific prefix first
}

type trunkEntry struct {
	prefix netip.Prefix
	trunk  *ringdesk.Trunk
}

// NewTrunkMatcher checks trunks (unique non-empty names, at least one valid
// source each, no source shared by two trunks) and builds a matcher.
// Returns EINVALID naming the trunk at fault.
func NewTrunkMatcher(trunks []ringdesk.Trunk) (*TrunkMatcher, error) {
	m := &TrunkMatcher{}
	names := make(map[string]bool)
	owner := make(map[netip.Prefix]string)
	for i := range trunks {
		t := trunks[i] // copy: callers may reuse their slice
		t.Sources = slices.Clone(t.Sources)
		name := strings.TrimSpace(t.Name)
		if name == "" {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunk %d has no name", i+1)
		}
		if names[name] {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunk %q is configured twice", name)
		}
		names[name] = true
		if len(t.Sources) == 0 {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunk %q has no source address", name)
		}
		if t.Username == "" && t.Password != "" {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunk %q has a password but no username", name)
		}
		tp := &t
		for _, p := range t.Sources {
			if !p.IsValid() {
				return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunk %q has an invalid source", name)
			}
			p = unmapPrefix(p).Masked()
			if other, ok := owner[p]; ok {
				return nil, ringdesk.Errorf(ringdesk.EINVALID, "trunks %q and %q share source %s", other, name, p)
			}
			owner[p] = name
			m.entries = append(m.entries, trunkEntry{prefix: p, trunk: tp})
		}
	}
	slices.SortStableFunc(m.entries, func(a, b trunkEntry) int { return b.prefix.Bits() - a.prefix.Bits() })
	return m, nil
}

// ParseSources parses CIDRs or bare addresses ("203.0.113.0/24",
// "2001:db8::1") for Trunk.Sources.
func ParseSources(list ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, ringdesk.Errorf(ringdesk.EINVALID, "source %q is not an address or CIDR", s)
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "source %q is not an address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Match returns the trunk whose most specific source contains addr.
func (m *TrunkMatcher) Match(addr netip.Addr) (*ringdesk.Trunk, bool) {
	if m == nil || !addr.IsValid() {
		return nil, false
	}
	addr = addr.Unmap().WithZone("")
	for _, e := range m.entries {
		if e.prefix.Contains(addr) {
			return e.trunk, true
		}
	}
	return nil, false
}

// sourceAddr is the IP a request was received from.
func sourceAddr(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// SourceLimiter is a token bucket per source IP: rate tokens a second up to
// burst. Safe for concurrent use; Sweep forgets full (idle) buckets.
type SourceLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[netip.Addr]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// maxLimiterSources bounds the table under a spoofed-source flood; when it
// is full, unknown sources share one bucket.
const maxLimiterSources = 100_000

// NewSourceLimiter returns a limiter; now nil means time.Now.
func NewSourceLimiter(rate float64, burst int, now func() time.Time) *SourceLimiter {
	if now == nil {
		now = time.Now
	}
	if burst < 1 {
		burst = 1
	}
	return &SourceLimiter{rate: rate, burst: float64(burst), now: now, buckets: make(map[netip.Addr]*tokenBucket)}
}

// Allow takes a token for ip, reporting false when its bucket is empty.
func (l *SourceLimiter) Allow(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= maxLimiterSources {
			ip = netip.Addr{}
			b = l.buckets[ip]
		}
		if b == nil {
			b = &tokenBucket{tokens: l.burst, last: now}
			l.buckets[ip] = b
		}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Sweep forgets sources whose bucket has refilled.
func (l *SourceLimiter) Sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
}

// scannerAgents are User-Agent substrings of well-known SIP scanners; their
// requests are dropped without a reply so that they learn nothing.
var scannerAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sundayddr",
	"iwar", "vaxsipuseragent", "pplsip", "sipsak", "smap", "voipsniff",
}

// IsScanner reports whether a User-Agent belongs to a well-known SIP scanner.
func IsScanner(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	for _, s := range scannerAgents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// Admission lets in requests from configured trunks only. Use it first in
// the INVITE handler:
//
//	trunk, ok := adm.Admit(req, tx)
//	if !ok {
//		return // answered 403, or dropped
//	}
type Admission struct {
	trunks  *TrunkMatcher
	rejects *SourceLimiter
	auth    *DigestAuth
	log     *slog.Logger
}

// AdmissionOption configures an Admission.
type AdmissionOption func(*Admission)

// WithDigestAuth makes trunks with a Username pass digest authentication.
// Without it, requests from such trunks are refused (403): credentials that
// are configured are never ignored.
func WithDigestAuth(a *DigestAuth) AdmissionOption {
	return func(adm *Admission) { adm.auth = a }
}

// Default budget of 403s per unknown source.
const (
	DefaultRejectsPerMinute = 10
	DefaultRejectsBurst     = 5
)

// NewAdmission answers requests from unknown sources 403 up to rejectBurst
// times and then perMinute a minute per source IP, and drops the rest
// silently, like requests from known scanners. logger should be the
// Server's rate-limited logger.
func NewAdmission(trunks *TrunkMatcher, perMinute float64, rejectBurst int, logger *slog.Logger, now func() time.Time, opts ...AdmissionOption) *Admission {
	if perMinute <= 0 {
		perMinute = DefaultRejectsPerMinute
	}
	if rejectBurst <= 0 {
		rejectBurst = DefaultRejectsBurst
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Admission{trunks: trunks, rejects: NewSourceLimiter(perMinute/60, rejectBurst, now), log: logger}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Decision is the outcome of Admission.Check.
type Decision struct {
	Trunk     *ringdesk.Trunk // the admitted trunk; nil when refused
	Status    int             // 0 when admitted; 401 or 403 to answer; -1 to drop silently
	Reason    string
	Challenge string // WWW-Authenticate value of a 401
}

// Check decides about a request without answering it (pure but for the
// per-source budget).
func (a *Admission) Check(req *sip.Request) Decision {
	if ua := req.GetHeader("User-Agent"); ua != nil && IsScanner(ua.Value()) {
		return Decision{Status: -1, Reason: "scanner user agent"}
	}
	src := sourceAddr(req)
	t, ok := a.trunks.Match(src)
	if !ok {
		return a.refuse(src, sip.StatusForbidden, "unknown source", "")
	}
	if t.Username == "" {
		return Decision{Trunk: t}
	}
	if a.auth == nil {
		return a.refuse(src, sip.StatusForbidden, "trunk has credentials but digest auth is not configured", "")
	}
	switch a.auth.Check(req, t) {
	case AuthOK:
		return Decision{Trunk: t}
	case AuthMissing:
		// The normal first round: not a failure.
		return Decision{Status: sip.StatusUnauthorized, Reason: reasonAuthRequired, Challenge: a.auth.Challenge(false)}
	case AuthStale:
		return Decision{Status: sip.StatusUnauthorized, Reason: "trunk nonce expired", Challenge: a.auth.Challenge(true)}
	default:
		return a.refuse(src, sip.StatusUnauthorized, "trunk authentication failed", a.auth.Challenge(false))
	}
}

// reasonAuthRequired is the first round of digest authentication: a
// challenge, not a failure worth logging at INFO.
const reasonAuthRequired = "trunk authentication required"

// refuse answers within the source's budget, then drops silently.
func (a *Admission) refuse(src netip.Addr, status int, reason, challenge string) Decision {
	if !a.rejects.Allow(src) {
		return Decision{Status: -1, Reason: reason + "; over the source's reject budget"}
	}
	return Decision{Status: status, Reason: reason, Challenge: challenge}
}

// Admit checks req and, when it is refused, answers it (403; 401 with a
// challenge for a trunk with credentials) or drops it. It returns the trunk
// and true when the request may proceed.
func (a *Admission) Admit(req *sip.Request, tx sip.ServerTransaction) (*ringdesk.Trunk, bool) {
	d := a.Check(req)
	if d.Trunk != nil {
		return d.Trunk, true
	}
	if d.Reason == reasonAuthRequired {
		a.log.Debug("sip request challenged", "method", string(req.Method), "source", req.Source())
	} else {
		a.log.Info("sip request refused", "method", string(req.Method), "source", req.Source(), "reason", d.Reason)
	}
	if d.Status > 0 && tx != nil {
		reason := "Forbidden"
		if d.Status == sip.StatusUnauthorized {
			reason = "Unauthorized"
		}
		res := sip.NewResponseFromRequest(req, d.Status, reason, nil)
		if d.Challenge != "" {
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", d.Challenge))
		}
		if err := tx.Respond(res); err != nil {
			a.log.Debug("respond 403", "error", fmt.Errorf("respond: %w", err))
		}
	}
	return nil, false
}

// Sweep forgets idle per-source counters; call it now and then.
func (a *Admission) Sweep() { a.rejects.Sweep() }
