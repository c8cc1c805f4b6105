package ringdesk

import (
	"context"
	"time"
)

// Binding is one registered contact of an agent's phone (RFC 3261 §10).
// Bindings live in shared storage with their expiry so that any node can
// reach any phone.
type Binding struct {
	// AOR is the SIP user name the phone registered as.
	AOR string `json:"aor"`
	// Contact is the Contact URI the phone asked to be reached at.
	Contact string `json:"contact"`
	// Source is the address the REGISTER came from ("ip:port") and
	// Transport its transport ("udp", "tcp"): behind NAT, the phone is
	// reached there rather than at the Contact's host.
	Source    string    `json:"source"`
	Transport string    `json:"transport"`
	Node      string    `json:"node"` // node that took the registration
	UserAgent string    `json:"user_agent,omitempty"`
	CallID    string    `json:"call_id"`
	CSeq      uint32    `json:"cseq"`
	Expires   time.Time `json:"expires"`
}

// Registrations keeps phone bindings.
type Registrations interface {
	// PutBinding adds or refreshes the binding for (b.AOR, b.Contact).
	PutBinding(ctx context.Context, b Binding) error
	// RemoveBinding removes one contact of an AOR; removing a missing one is not an error.
	RemoveBinding(ctx context.Context, aor, contact string) error
	// RemoveBindings removes every contact of an AOR.
	RemoveBindings(ctx context.Context, aor string) error
	// Bindings returns the unexpired bindings of an AOR, soonest expiry last.
	Bindings(ctx context.Context, aor string) ([]Binding, error)
}
