package ringdesk

import (
	"context"
	"time"
)

// Call priorities: higher is served first. Calls of equal priority are
// served in the order they were enqueued.
const (
	MinPriority = 0
	MaxPriority = 99
)

// WaitingCall is a call handed to the routing engine.
type WaitingCall struct {
	ID string `json:"id"`
	// Queues the call waits in, in order of preference: the call is offered
	// to whichever queue first has an agent for it. The first queue's
	// overflow, ring and max-wait settings govern the call.
	Queues     []string `json:"queues"`
	Priority   int      `json:"priority"`   // MinPriority..MaxPriority
	CallerE164 string   `json:"callerE164"` // for callback requests; may be empty
	// Node is the node that owns the call (the one holding its SIP
	// transaction): offers and notices for the call go to that node only.
	// Router.Enqueue fills it with its own node when empty.
	Node string `json:"node"`

	// Set by the engine.
	EnqueuedAt time.Time `json:"enqueuedAt"`
}

// CallStatus is where a call is in the routing engine.
type CallStatus string

// Call statuses.
const (
	CallWaiting CallStatus = "waiting" // in one or more queues
	CallRinging CallStatus = "ringing" // reserved with an agent whose phone rings
	CallOnCall  CallStatus = "on-call" // answered
	CallEnded   CallStatus = "ended"   // see RoutedCall.Result
)

// Call results, set when a call ends.
const (
	ResultCompleted = "completed" // answered, then ended
	ResultAbandoned = "abandoned" // caller hung up before an answer
	ResultCallback  = "callback"  // overflowed to a callback request
	ResultTimeout   = "timeout"   // max wait reached with no overflow configured
	ResultNodeLost  = "node-lost" // the owning node died
)

// RoutedCall is the engine's view of a call.
type RoutedCall struct {
	ID         string     `json:"id"`
	Status     CallStatus `json:"status"`
	Result     string     `json:"result,omitempty"`
	Queues     []string   `json:"queues"`
	Queue      string     `json:"queue,omitempty"`   // queue it was offered from
	AgentID    string     `json:"agentId,omitempty"` // reserved or answering agent
	Node       string     `json:"node"`
	Priority   int        `json:"priority"`
	CallerE164 string     `json:"callerE164,omitempty"`
	Offers     int        `json:"offers"` // how many times it was offered
	EnqueuedAt time.Time  `json:"enqueuedAt"`
	OfferedAt  time.Time  `json:"offeredAt"`
	AnsweredAt time.Time  `json:"answeredAt"`
	EndedAt    time.Time  `json:"endedAt"`
}

// Placement is the outcome of Router.Enqueue.
type Placement struct {
	// Status is CallWaiting, CallRinging (an agent was reserved at once:
	// AgentID and RingTimeout say whom and for how long; unless the
	// Router was told the reply suffices (routing.Config.OfferInReply),
	// the offer, with attempt 1, is also on its way to the owning node's
	// notices, which the owner, when it acted on this reply, skips) or CallEnded
	// (overflowed to a callback request: Result says so).
	Status   CallStatus `json:"status"`
	Result   string     `json:"result,omitempty"`
	Queue    string     `json:"queue"`    // the queue the call ended up in (differs after overflow)
	AgentID  string     `json:"agentId"`  // the reserved agent when Status is CallRinging
	Position int        `json:"position"` // 1-based while waiting, else 0
	// RingTimeout is how long the reserved agent's phone may ring when
	// Status is CallRinging (the offer's ring_ms).
	RingTimeout time.Duration `json:"ringTimeout,omitempty"`
}

// Event kinds published by the routing engine.
const (
	EventAgentState   = "agent-state"    // agent changed state: Fields from, state, reason
	EventEnqueued     = "enqueued"       // call entered queue(s): Fields queues, priority
	EventOffer        = "offer"          // call reserved with an agent: Fields wait_ms, ring_ms, attempt
	EventAnswered     = "answered"       // Fields wait_ms
	EventRingNoAnswer = "ring-no-answer" // offer released: Fields reason (timeout|rejected|node-lost)
	EventAbandoned    = "abandoned"      // Fields wait_ms
	EventEnded        = "ended"          // call left the engine: Fields result, talk_ms, wait_ms
	EventOverflow     = "overflow"       // Fields reason (max-wait|full|no-agents), to (queue) or result
	EventRequeued     = "requeued"       // call of a dead node taken over: Fields from_node
	EventNodeLost     = "node-lost"      // a node's heartbeat expired; Node is the dead node
)

// RoutingEvent is one entry of the routing engine's event stream. It is
// shaped so the store can record it as a call event as is: Kind is the event
// type, CallID/AgentID/Queue the foreign keys (any may be empty), Time the
// engine's clock, and Fields the kind-specific details.
type RoutingEvent struct {
	ID      string            `json:"id"` // stream position; pass it back to resume after it
	Kind    string            `json:"kind"`
	Time    time.Time         `json:"time"`
	CallID  string            `json:"callId,omitempty"`
	AgentID string            `json:"agentId,omitempty"`
	Queue   string            `json:"queue,omitempty"`
	Node    string            `json:"node,omitempty"` // node owning the call
	Fields  map[string]string `json:"fields,omitempty"`
}

// Snapshot is the live state of every queue and agent for supervisors.
type Snapshot struct {
	Time   time.Time       `json:"time"`
	Queues []QueueSnapshot `json:"queues"`
	Agents []AgentSnapshot `json:"agents"`
}

// QueueSnapshot is one queue in a Snapshot.
type QueueSnapshot struct {
	Name        string             `json:"name"`
	Waiting     int                `json:"waiting"`
	LongestWait time.Duration      `json:"longestWait"`
	Agents      map[AgentState]int `json:"agents"` // members by state
}

// AgentSnapshot is one agent in a Snapshot.
type AgentSnapshot struct {
	ID          string        `json:"id"`
	State       AgentState    `json:"state"`
	Reason      string        `json:"reason,omitempty"`
	TimeInState time.Duration `json:"timeInState"`
	CallID      string        `json:"callId,omitempty"`
	Queue       string        `json:"queue,omitempty"`
}

// Router is the automatic call distributor: agent states, queues and the
// matching of waiting calls to available agents. Every method is safe for
// concurrent use, from any number of goroutines and nodes sharing one store.
//
// Errors carry codes: EINVALID for malformed input, ENOTFOUND for an unknown
// queue or call, ECONFLICT for an operation the current state does not allow
// (illegal agent transitions included; nothing is changed), EUNAVAILABLE when
// the backing store cannot be reached. Anything else is EINTERNAL.
type Router interface {
	// PutQueue creates or replaces a queue and its members. Agents that are
	// available join or leave the queue's available set at once.
	// Returns EINVALID.
	PutQueue(ctx context.Context, q *Queue) error

	// FindQueue returns a queue's configuration. Returns ENOTFOUND.
	FindQueue(ctx context.Context, name string) (*Queue, error)

	// Login logs an agent in, available when ready is true, else away with
	// ReasonNotReady. Returns ECONFLICT unless the agent is logged out.
	Login(ctx context.Context, agentID string, ready bool) error

	// SetReady makes an away or wrapping-up agent available (and ends
	// wrap-up early). Returns ECONFLICT from any other state.
	SetReady(ctx context.Context, agentID string) error

	// SetAway sets an available, wrapping-up or away agent away with a
	// reason code. Returns EINVALID without a reason, ECONFLICT from any
	// other state.
	SetAway(ctx context.Context, agentID, reason string) error

	// Logout logs an available, away or wrapping-up agent out. Returns
	// ECONFLICT while ringing or on a call.
	Logout(ctx context.Context, agentID string) error

	// EndWrapUp ends an agent's wrap-up. Returns ECONFLICT unless the agent
	// is in wrap-up.
	EndWrapUp(ctx context.Context, agentID string) error

	// FindAgent returns an agent's state. An agent never seen is returned
	// logged out, not as an error. Returns EINVALID for a malformed id.
	FindAgent(ctx context.Context, agentID string) (*Agent, error)

	// Enqueue puts a call in its queues and offers it at once if an agent
	// is free. Returns EINVALID, ENOTFOUND for an unknown queue, ECONFLICT
	// when the call id is already known.
	Enqueue(ctx context.Context, c *WaitingCall) (*Placement, error)

	// Answer confirms an offer: the agent's phone answered. Returns
	// ENOTFOUND for an unknown call and ECONFLICT when the call is not
	// ringing at that agent (for instance, the ring timeout already
	// released it: the caller must then cancel the agent's leg).
	Answer(ctx context.Context, callID, agentID string) error

	// RingNoAnswer releases an offer that the agent rejected or let ring
	// out: the call goes back to its queues ahead of later calls, the agent
	// to away/missed-call or available as the queue says. Returns ENOTFOUND
	// and ECONFLICT like Answer. The engine does the same by itself when a
	// ring timeout passes, whichever node is alive.
	RingNoAnswer(ctx context.Context, callID, agentID string) error

	// Abandon records that the caller hung up while waiting or ringing; the
	// wait time goes into the event. Returns ENOTFOUND, and ECONFLICT when
	// the call was answered or has ended.
	Abandon(ctx context.Context, callID string) error

	// End ends an answered call and starts the agent's wrap-up. Returns
	// ENOTFOUND, and ECONFLICT unless the call is on-call.
	End(ctx context.Context, callID string) error

	// FindCall returns a call's routing state; ended calls are kept for a
	// while. Returns ENOTFOUND.
	FindCall(ctx context.Context, callID string) (*RoutedCall, error)

	// Position returns the 1-based place of a waiting call (its best place
	// among its queues). Returns ENOTFOUND, ECONFLICT when not waiting.
	Position(ctx context.Context, callID string) (int, error)

	// EstimatedWait estimates how long a waiting call will still wait, from
	// recent handle times and staffed agents. Returns like Position.
	EstimatedWait(ctx context.Context, callID string) (time.Duration, error)

	// Snapshot returns every queue and agent for the wallboard.
	Snapshot(ctx context.Context) (*Snapshot, error)

	// Subscribe streams every routing event after the given event id ("" =
	// from now on) until ctx ends; the channel is then closed. A slow
	// reader only slows its own subscription, and reconnects resume where
	// they stopped; the stream keeps a bounded number of recent events, so
	// a reader that falls further behind than that misses the oldest.
	Subscribe(ctx context.Context, after string) (<-chan RoutingEvent, error)

	// Notices delivers the events that the node owning a call must act on:
	// EventOffer (ring AgentID's phone), EventRingNoAnswer (stop ringing),
	// EventOverflow and EventEnded (the engine moved or ended the call).
	// Only events for calls owned by this node are delivered.
	Notices() <-chan RoutingEvent
}

// ProgressTeller is a Router that also keeps and sends a call's progress to
// the agent's desks (what DeskBus.SetCurrentProgress does with msg for ttl)
// in the same step as the call's answer or end: routing.Router runs both in
// one script, one Redis round trip where Answer and then
// DeskService.SendProgress took two. The call path uses it when both its
// Router and its DeskService (a ProgressEncoder) can.
type ProgressTeller interface {
	// AnswerAndTell is Answer, then, only when the answer succeeded, the
	// progress. It returns Answer's error.
	AnswerAndTell(ctx context.Context, callID, agentID string, msg DeskMessage, ttl time.Duration) error
	// EndAndTell is End, then, whatever End's outcome, the progress. It
	// returns End's error.
	EndAndTell(ctx context.Context, callID, agentID string, msg DeskMessage, ttl time.Duration) error
}
