package ringdesk

import (
	"context"
	"time"
)

// EndReasonCallback is the end reason of a call that overflowed to a
// callback request: the caller asked (or the queue decided) to be called
// back instead of waiting.
const EndReasonCallback = "overflow-callback"

// Callback statuses. A request is open until someone marks it done or
// cancelled.
const (
	CallbackOpen      = "open"
	CallbackDone      = "done"      // the caller was called back
	CallbackCancelled = "cancelled" // no longer needed (called again, solved elsewhere)
)

// Callback is one entry of the callback worklist: a caller to call back,
// from the call that overflowed.
type Callback struct {
	CallID      string     `json:"call_id" db:"call_id"`
	CallerRaw   string     `json:"caller_raw" db:"caller_raw"`
	CallerE164  string     `json:"caller_e164" db:"caller_e164"`
	CallerName  string     `json:"caller_name" db:"caller_name"`
	CustomerID  int64      `json:"customer_id,omitempty" db:"customer_id"`
	QueueID     int64      `json:"queue_id,omitempty" db:"queue_id"`
	RequestedAt time.Time  `json:"requested_at" db:"requested_at"` // when the call overflowed
	WaitMS      int64      `json:"wait_ms" db:"wait_ms"`           // how long the caller had waited
	Status      string     `json:"status" db:"status"`
	Note        string     `json:"note,omitempty" db:"note"`
	DoneBy      int64      `json:"done_by,omitempty" db:"done_by"`
	DoneAt      *time.Time `json:"done_at,omitempty" db:"done_at"`
}

// CallbackFilter selects worklist entries.
type CallbackFilter struct {
	Status  string // CallbackOpen (default), CallbackDone, CallbackCancelled, or "all"
	QueueID int64  // 0: every queue
	Limit   int    // default 50, at most 500
}

// CallbackService is the callback worklist.
type CallbackService interface {
	// FindCallbacks lists requests, oldest first (open ones are worked in
	// the order callers asked). Returns EINVALID for an unknown status.
	FindCallbacks(ctx context.Context, f CallbackFilter) ([]*Callback, error)
	// CloseCallback marks a request done or cancelled by a user, with a
	// note. Returns ENOTFOUND when the call is not a callback request,
	// ECONFLICT when it is already closed (two agents took the same one),
	// EINVALID for a bad status or a note over 4,000 characters.
	CloseCallback(ctx context.Context, callID string, userID int64, status, note string) error
}
