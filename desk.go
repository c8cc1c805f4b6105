package ringdesk

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Pop match outcomes: how the caller's number matched customer records.
// Every one is a valid pop; an unknown caller is not an error.
const (
	MatchOne         = "one"         // one customer: Customer is set
	MatchSeveral     = "several"     // a shared number: Candidates lists them
	MatchUnknown     = "unknown"     // no customer: the desk offers a new-customer form
	MatchUnavailable = "unavailable" // the lookup failed (MySQL down or slow): route anyway
)

// Pop is the screen-pop for one offer of a call to one agent. It is built by
// the call path from the lookup and sent to that agent's desk alone, before
// the agent's phone rings.
type Pop struct {
	CallID     string `json:"call_id"`
	AgentID    string `json:"agent_id"` // the user's decimal ID
	Queue      string `json:"queue"`
	CallerRaw  string `json:"caller_raw"`  // as received (may be "anonymous")
	CallerE164 string `json:"caller_e164"` // empty when it could not be normalised or is withheld
	CallerName string `json:"caller_name"` // display name from the caller ID, if any

	// Match says which of Customer and Candidates is set.
	Match      string      `json:"match"`
	Customer   *Customer   `json:"customer,omitempty"`
	Candidates []*Customer `json:"candidates,omitempty"`
	// RecentCalls and OpenCases belong to Customer (MatchOne only).
	RecentCalls []HistoryItem `json:"recent_calls,omitempty"`
	OpenCases   []Case        `json:"open_cases,omitempty"`

	WaitMS    int64     `json:"wait_ms"`    // time the caller waited in the queue so far
	OfferedAt time.Time `json:"offered_at"` // when routing offered the call to the agent
	// SentAt is set by the desk service when it sends the pop; the pop's
	// acknowledgement latency is measured from it.
	SentAt time.Time `json:"sent_at"`
}

// Validate checks that a pop can be sent. Returns EINVALID.
func (p *Pop) Validate() error {
	if !ValidDeskID(p.CallID) {
		return Errorf(EINVALID, "A pop needs a call id of 1–64 characters without spaces, ':', '{' or '}'.")
	}
	if !ValidDeskID(p.AgentID) {
		return Errorf(EINVALID, "A pop needs an agent id of 1–64 characters without spaces, ':', '{' or '}'.")
	}
	switch p.Match {
	case MatchOne:
		if p.Customer == nil {
			return Errorf(EINVALID, "A pop that matched one customer carries that customer.")
		}
	case MatchSeveral:
		if len(p.Candidates) < 2 {
			return Errorf(EINVALID, "A pop for a shared number carries its candidates.")
		}
	case MatchUnknown, MatchUnavailable:
	default:
		return Errorf(EINVALID, "Pop match %q is not one of one, several, unknown, unavailable.", p.Match)
	}
	return nil
}

// Call progress states shown on the desk. Inbound calls go ringing →
// connected → ended; click-to-call adds dialing and failed, per leg.
const (
	ProgressDialing   = "dialing"   // click-to-call: the leg is being set up
	ProgressRinging   = "ringing"   // the agent's (or the customer's) phone rings
	ProgressConnected = "connected" // answered: talking
	ProgressHeld      = "held"      // on hold
	ProgressEnded     = "ended"     // hung up after an answer, or never answered: Reason says why
	ProgressFailed    = "failed"    // could not be set up: Reason is busy, no-answer, rejected, invalid-number…
)

// Call legs for click-to-call progress; inbound calls leave Leg empty.
const (
	LegAgent    = "agent"    // Ringdesk → the agent's phone
	LegCustomer = "customer" // Ringdesk → the customer
)

// CallProgress is a change in a call that an agent's desk shows: the phone
// rings, the call is answered, it ends, a click-to-call leg fails.
type CallProgress struct {
	CallID     string     `json:"call_id"`
	AgentID    string     `json:"agent_id"`
	Direction  string     `json:"direction"` // Inbound or Outbound
	Leg        string     `json:"leg,omitempty"`
	State      string     `json:"state"`            // a Progress* state
	Reason     string     `json:"reason,omitempty"` // why it ended or failed: abandoned, missed, busy, caller-hangup…
	At         time.Time  `json:"at"`               // when this change happened
	OfferedAt  *time.Time `json:"offered_at,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
}

// Validate checks that progress can be sent. Returns EINVALID.
func (p *CallProgress) Validate() error {
	if !ValidDeskID(p.CallID) || !ValidDeskID(p.AgentID) {
		return Errorf(EINVALID, "Call progress needs a call id and an agent id of 1–64 characters without spaces, ':', '{' or '}'.")
	}
	switch p.State {
	case ProgressDialing, ProgressRinging, ProgressConnected, ProgressHeld, ProgressEnded, ProgressFailed:
	default:
		return Errorf(EINVALID, "Call progress state %q is unknown.", p.State)
	}
	return nil
}

// AgentStateChange tells a desk that its agent's routing state changed (for
// instance to away/missed-call after a ring-no-answer, or by a supervisor).
// State and Reason carry the routing engine's values as strings.
type AgentStateChange struct {
	AgentID string    `json:"agent_id"`
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	CallID  string    `json:"call_id,omitempty"`
	Since   time.Time `json:"since"`
}

// DeskMessage is the versioned envelope of every message between Ringdesk
// and a desk, on the WebSocket and on the DeskBus alike:
// {"type":"pop","v":1,"id":"…","payload":{…}}. ID is the desk's request id
// on commands and their acks; it is empty otherwise. The types, payloads and
// version rule are documented in agentdesk/PROTOCOL.md.
type DeskMessage struct {
	Type    string          `json:"type"`
	V       int             `json:"v"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`

	// sealed is the whole message as JSON once Seal has built it; Payload
	// is then a slice of it.
	sealed []byte
}

// Seal returns m encoded once: JSON returns that encoding without copying
// it, and Sealed reports the payload as known JSON. m's payload must be
// valid JSON as json.Marshal writes it (an AppendJSON method's output),
// and a sealed message must not be changed. A pop is kept, published and
// handed to each of the agent's desks: each took a copy of its kilobytes,
// and the bus checked them again.
func (m DeskMessage) Seal() DeskMessage {
	b := m.JSON()
	if len(m.Payload) > 0 {
		// The payload is the end of the message, before its closing brace.
		end := len(b) - 1
		m.Payload = b[end-len(m.Payload) : end : end]
	}
	m.sealed = b[:len(b):len(b)]
	return m
}

// SealedDeskMessage is DeskMessage{Type: typ, V: v, ID: id, Payload: p}.Seal()
// where appendPayload appends p (valid JSON, as json.Marshal writes it) to
// the buffer it is given, written straight into the sealed encoding (no
// copy of the payload). size is the payload's expected size. ok is false,
// and the message zero, when appendPayload refuses (ok false).
func SealedDeskMessage(typ string, v int, id string, size int, appendPayload func([]byte) ([]byte, bool)) (_ DeskMessage, ok bool) {
	m := DeskMessage{Type: typ, V: v, ID: id}
	b := m.AppendJSON(make([]byte, 0, size+len(typ)+len(id)+40)) // {"type":…,"v":…,"id":…}
	b = append(b[:len(b)-1], `,"payload":`...)
	start := len(b)
	b, ok = appendPayload(b)
	if !ok {
		return DeskMessage{}, false
	}
	if len(b) == start {
		// No payload: the message has no payload field.
		return m.Seal(), true
	}
	b = append(b, '}')
	end := len(b) - 1
	m.Payload = b[start:end:end]
	m.sealed = b[:len(b):len(b)]
	return m, true
}

// Sealed reports whether m was built by Seal.
func (m DeskMessage) Sealed() bool { return m.sealed != nil }

// AppendJSON appends m as json.Marshal would write it, taking the payload
// as it is: it must be valid JSON (as json.Marshal wrote it). json.Marshal
// would scan and compact the payload again on every hop (a pop is kept,
// published in an envelope and sent to each desk), and pops are on the
// call path.
func (m DeskMessage) AppendJSON(b []byte) []byte {
	b = appendStringField(b, `{"type":`, m.Type)
	b = appendIntField(b, `,"v":`, int64(m.V))
	if m.ID != "" {
		b = appendStringField(b, `,"id":`, m.ID)
	}
	if len(m.Payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, m.Payload...)
	}
	return append(b, '}')
}

// JSON returns m as AppendJSON writes it, in a buffer sized for it: a pop
// is a few kilobytes, and growing a slice to that took several copies
// (~4 % of the call path's allocations, one pop kept and one sent each).
// A sealed message returns its encoding, which callers must not change.
func (m DeskMessage) JSON() []byte {
	if m.sealed != nil {
		return m.sealed
	}
	// The envelope around the payload: {"type":"","v":N,"id":"","payload":}
	// is 38 bytes with a three-digit version; escapes grow it if need be.
	return m.AppendJSON(make([]byte, 0, len(m.Payload)+len(m.Type)+len(m.ID)+40))
}

// AppendJSON appends p as json.Marshal would write it: three progress
// messages go to a desk per call, and reflection made json.Marshal a few
// per cent of the call path's CPU. ok is false (nothing appended) for a
// time json.Marshal refuses (a year outside 0–9999).
func (p *CallProgress) AppendJSON(b []byte) (_ []byte, ok bool) {
	for _, t := range []*time.Time{&p.At, p.OfferedAt, p.AnsweredAt, p.EndedAt} {
		if t != nil && (t.Year() < 0 || t.Year() > 9999) {
			return b, false
		}
	}
	b = appendStringField(b, `{"call_id":`, p.CallID)
	b = appendStringField(b, `,"agent_id":`, p.AgentID)
	b = appendStringField(b, `,"direction":`, p.Direction)
	if p.Leg != "" {
		b = appendStringField(b, `,"leg":`, p.Leg)
	}
	b = appendStringField(b, `,"state":`, p.State)
	if p.Reason != "" {
		b = appendStringField(b, `,"reason":`, p.Reason)
	}
	b = appendTimeField(b, `,"at":`, p.At)
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{`,"offered_at":`, p.OfferedAt}, {`,"answered_at":`, p.AnsweredAt}, {`,"ended_at":`, p.EndedAt}} {
		if f.t != nil {
			b = append(b, f.name...)
			b = appendJSONTime(b, *f.t)
		}
	}
	return append(b, '}'), true
}

// AppendJSON appends s as json.Marshal would write it (see CallProgress).
func (s *AgentStateChange) AppendJSON(b []byte) (_ []byte, ok bool) {
	if y := s.Since.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = appendStringField(b, `{"agent_id":`, s.AgentID)
	b = appendStringField(b, `,"state":`, s.State)
	if s.Reason != "" {
		b = appendStringField(b, `,"reason":`, s.Reason)
	}
	if s.CallID != "" {
		b = appendStringField(b, `,"call_id":`, s.CallID)
	}
	b = appendTimeField(b, `,"since":`, s.Since)
	return append(b, '}'), true
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it (the year
// checked by the caller).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendStringField appends name (`,"key":`) and v as a JSON string.
func appendStringField(b []byte, name, v string) []byte {
	return AppendJSONString(append(b, name...), v)
}

func appendIntField(b []byte, name string, v int64) []byte {
	return strconv.AppendInt(append(b, name...), v, 10)
}

func appendTimeField(b []byte, name string, t time.Time) []byte {
	return appendJSONTime(append(b, name...), t)
}

// AppendJSONString appends s as a JSON string, escaped as json.Marshal
// escapes it.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // rare: let encoding/json escape it
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ValidDeskID reports whether s may be an agent, call or node id on the desk
// bus: 1–64 bytes, no spaces or control characters, and none of ':', '{',
// '}' (they would break Redis key names and hash tags).
func ValidDeskID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == ':' || r == '{' || r == '}'
	})
}

// DeskBus delivers desk messages to an agent on whichever node its desk is
// connected to, and keeps what a desk needs to see again when it reconnects.
// The routing package implements it on Redis; agentdesk uses it.
//
// Every method is safe for concurrent use. Agent, node and call ids must
// satisfy ValidDeskID, else EINVALID. EUNAVAILABLE means the bus could not be
// reached; nothing else is expected.
type DeskBus interface {
	// Publish delivers msg to every desk of agentID, on every node where the
	// agent has a desk present, and to no other agent. It returns the number
	// of node subscriptions that received it: 0 when the agent has no desk
	// connected anywhere, which is not an error. Delivery is at most once:
	// a node that is reconnecting to the bus misses it (see Subscribe).
	Publish(ctx context.Context, agentID string, msg DeskMessage) (int, error)

	// Subscribe starts delivering the messages published to desks present
	// on node. It returns once the subscription is active. deliver is
	// called from one goroutine, in publish order, and must not block;
	// messages sent through the same bus (this process) are handed to
	// deliver by the sending goroutine instead, before the round trip to
	// Redis and whether or not the agent has a desk on node (deliver drops
	// those), so deliver must be safe for concurrent use. One bus
	// subscribes a node once.
	// resync (may be nil) is called after the bus reconnected on its own:
	// messages may have been lost meanwhile, so the node should resend what
	// its desks must see (their current calls). stop ends the subscription
	// and waits for deliver and resync to return.
	Subscribe(ctx context.Context, node string, deliver func(agentID string, msg DeskMessage), resync func()) (stop func(), err error)

	// SetPresence records that agentID has a desk connected on node, for
	// ttl; the node refreshes it while the desk stays connected. An agent
	// may be present on several nodes at once (two browser tabs).
	SetPresence(ctx context.Context, agentID, node string, ttl time.Duration) error

	// ClearPresence removes the agent's presence on node (its last desk
	// there disconnected). Clearing an absent presence is not an error.
	ClearPresence(ctx context.Context, agentID, node string) error

	// DeskConnected reports whether the agent has a desk present on any
	// node. Routing uses it so that no call is offered where nobody sees
	// who is calling.
	DeskConnected(ctx context.Context, agentID string) (bool, error)

	// SetCurrentPop makes msg (a pop for callID) the agent's current call,
	// replacing any earlier call and its progress, for ttl, and publishes
	// it as Publish does, at once (one round trip: a pop is on the call
	// path). It returns what Publish would.
	SetCurrentPop(ctx context.Context, agentID, callID string, msg DeskMessage, ttl time.Duration) (delivered int, err error)

	// SetCurrentProgress records msg as the latest progress of callID when
	// callID is the agent's current call or the agent has none (then the
	// call becomes current, without a pop), and refreshes the ttl. Progress
	// of any other call is not kept: saved reports which happened. Either
	// way msg is published as Publish does, in the same round trip.
	SetCurrentProgress(ctx context.Context, agentID, callID string, msg DeskMessage, ttl time.Duration) (saved bool, delivered int, err error)

	// ClearCurrent forgets the agent's current call when it is callID, or
	// whatever it is when callID is empty.
	ClearCurrent(ctx context.Context, agentID, callID string) error

	// Current returns what a desk that (re)connects must be shown: the
	// current call's pop, then its latest progress, either of which may be
	// missing. It is empty, not an error, when there is no current call.
	Current(ctx context.Context, agentID string) ([]DeskMessage, error)
}

// DeskService pushes calls and states to agents' desks, wherever they are
// connected. The call path (telephony) and the routing event feed use it;
// agentdesk.Hub implements it. Errors: EINVALID for a malformed pop or
// progress, ENOTFOUND when the agent has no desk connected (the pop or
// progress is still kept for a desk that connects later), EUNAVAILABLE when
// the bus is down.
type DeskService interface {
	// SendPop sends the pop to its agent's desks and makes it the agent's
	// current call. It sets pop.SentAt.
	SendPop(ctx context.Context, pop *Pop) error
	// SendProgress sends call progress to the agent's desks and keeps it
	// as the current call's state.
	SendProgress(ctx context.Context, p *CallProgress) error
	// SendAgentState tells the agent's desks connected to this node about a
	// state change, without the bus: every node relays the site's routing
	// events to its own desks, so each desk hears of each change once, from
	// its node. ENOTFOUND when none is connected here.
	SendAgentState(ctx context.Context, s *AgentStateChange) error
	// DeskConnected reports whether the agent has a desk connected anywhere.
	DeskConnected(ctx context.Context, agentID string) (bool, error)
}

// ProgressEncoder is a DeskService that hands out a call progress as the
// desk message it would send, with how long it keeps it as the agent's
// current call, for a ProgressTeller to send in one step with the answer
// or end it reports. agentdesk.Hub is one. Errors: EINVALID for a
// malformed progress.
type ProgressEncoder interface {
	ProgressMessage(p *CallProgress) (msg DeskMessage, ttl time.Duration, err error)
}
