package ringdesk

import (
	"context"
	"time"
)

// Call directions.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Call states, as stored on the call row.
const (
	CallStateOffered    = "offered"
	CallStateQueued     = "queued"
	CallStateRinging    = "ringing"
	CallStateAnswered   = "answered"
	CallStateEnded      = "ended"
	CallStateAbandoned  = "abandoned"
	CallStateOverflowed = "overflowed"
	CallStateFailed     = "failed"
)

// Call is one call, inbound or outbound, as logged against a customer.
// Its ID is made by the node that takes the call, before any write, so the
// call can be logged even while MySQL is unreachable.
type Call struct {
	ID            string     `json:"id" db:"id"`
	Direction     string     `json:"direction" db:"direction"`
	SIPCallID     string     `json:"sip_call_id" db:"sip_call_id"`
	CallerRaw     string     `json:"caller_raw" db:"caller_raw"`
	CallerE164    string     `json:"caller_e164" db:"caller_e164"`
	CallerName    string     `json:"caller_name" db:"caller_name"`
	Callee        string     `json:"callee" db:"callee"`
	CustomerID    int64      `json:"customer_id,omitempty" db:"customer_id"`
	QueueID       int64      `json:"queue_id,omitempty" db:"queue_id"`
	AgentID       int64      `json:"agent_id,omitempty" db:"agent_id"`
	State         string     `json:"state" db:"state"`
	OfferedAt     time.Time  `json:"offered_at" db:"offered_at"`
	AnsweredAt    *time.Time `json:"answered_at,omitempty" db:"answered_at"`
	EndedAt       *time.Time `json:"ended_at,omitempty" db:"ended_at"`
	WrapupEndedAt *time.Time `json:"wrapup_ended_at,omitempty" db:"wrapup_ended_at"`
	WaitMS        int64      `json:"wait_ms" db:"wait_ms"`
	TalkMS        int64      `json:"talk_ms" db:"talk_ms"`
	EndReason     string     `json:"end_reason" db:"end_reason"`
	Disposition   string     `json:"disposition" db:"disposition"`
	Notes         string     `json:"notes" db:"notes"`
}

// CallService logs calls.
type CallService interface {
	// CreateCall writes a new call row. Writing the same ID twice is an
	// ECONFLICT, so a replay can tell what is already logged.
	CreateCall(ctx context.Context, c *Call) error
	// FindCallByID returns ENOTFOUND for an unknown call.
	FindCallByID(ctx context.Context, id string) (*Call, error)
}

// CallUpdate is a state transition of a call row. Nil fields are left as
// they are, so an update can be applied twice (a replay) with one outcome.
type CallUpdate struct {
	State      string     `json:"state,omitempty"`
	QueueID    *int64     `json:"queue_id,omitempty"`
	AgentID    *int64     `json:"agent_id,omitempty"`
	CustomerID *int64     `json:"customer_id,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	WaitMS     *int64     `json:"wait_ms,omitempty"`
	TalkMS     *int64     `json:"talk_ms,omitempty"`
	EndReason  *string    `json:"end_reason,omitempty"`
}

// CallEvent is one step of a call (the queue_log of Ringdesk). Seq is
// per call and makes writing an event twice a no-op.
type CallEvent struct {
	CallID  string    `json:"call_id"`
	Seq     int       `json:"seq"`
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	QueueID int64     `json:"queue_id,omitempty"`
	AgentID int64     `json:"agent_id,omitempty"`
	Data    string    `json:"data,omitempty"`
}
