package ringdesk

import "net/netip"

// Trunk is a carrier or PBX allowed to send calls in. A request is taken to
// come from a trunk when its source address falls in one of Sources; when
// Username is set the trunk must also pass digest authentication.
type Trunk struct {
	Name     string         `json:"name"`
	Sources  []netip.Prefix `json:"sources"` // IPv4 and IPv6 CIDRs; a single address is a /32 or /128
	Username string         `json:"username,omitempty"`
	Password string         `json:"-"`
	// HA1 = MD5(username:realm:password) may stand in for Password, so a
	// stored trunk keeps no plaintext secret.
	HA1 string `json:"-"`
	// TrustPAI is true when the trunk is in Ringdesk's trust domain (RFC
	// 3325): its P-Asserted-Identity is believed. Never set it for a source
	// that forwards P-Asserted-Identity from arbitrary callers.
	TrustPAI bool `json:"trust_pai"`
}
