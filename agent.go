package ringdesk

import "time"

// AgentState is where an agent is in the routing engine's state machine.
type AgentState string

// Agent states. The legal moves between them are listed by
// AgentTransitions; anything else is refused by the routing engine.
const (
	AgentLoggedOut AgentState = "logged-out" // not working; in no queue
	AgentAvailable AgentState = "available"  // ready: may be offered a call
	AgentRinging   AgentState = "ringing"    // reserved for one call; the phone rings
	AgentOnCall    AgentState = "on-call"    // talking
	AgentWrapUp    AgentState = "wrap-up"    // after a call; ends by timer or by the agent
	AgentAway      AgentState = "away"       // logged in but not ready, with a reason code
)

// Away reason codes the engine itself uses or that desks commonly offer.
// Any short non-empty code is accepted.
const (
	ReasonNotReady   = "not-ready"   // logged in without going ready
	ReasonBreak      = "break"       // short break
	ReasonLunch      = "lunch"       // meal
	ReasonTraining   = "training"    // coaching or training
	ReasonMissedCall = "missed-call" // set by the engine after ring-no-answer
	ReasonNoDesk     = "no-desk"     // set by the engine: offered a call with no desk connected
)

// Valid reports whether s is one of the known agent states.
func (s AgentState) Valid() bool {
	switch s {
	case AgentLoggedOut, AgentAvailable, AgentRinging, AgentOnCall, AgentWrapUp, AgentAway:
		return true
	}
	return false
}

// AgentStates lists every agent state, in the order a wallboard shows them.
func AgentStates() []AgentState {
	return []AgentState{AgentAvailable, AgentRinging, AgentOnCall, AgentWrapUp, AgentAway, AgentLoggedOut}
}

// AgentTransitions returns the legal state changes: to is legal from from
// when AgentTransitions()[from][to] is true. It returns a new map each time,
// so callers may not change the engine's rules by accident.
//
// The moves and who makes them:
//
//	logged-out → available | away        agent logs in (ready or not)
//	available  → ringing                 engine reserves the agent for a call
//	available  → away | logged-out       agent; or the engine (no-desk) when desks are required
//	ringing    → on-call                 phone answered
//	ringing    → away                    ring-no-answer (missed-call) when the queue says so
//	ringing    → available               ring-no-answer otherwise, caller abandoned, node lost
//	on-call    → wrap-up                 call ended
//	on-call    → available               call ended in a queue without wrap-up time
//	wrap-up    → available               wrap-up timer or the agent
//	wrap-up    → away | logged-out       agent
//	away       → available | logged-out  agent
//	away       → away                    agent changes the reason code
//
// Ringing and on-call agents cannot log out or go away: the call must end
// first, so no call is ever left holding an agent that has gone.
func AgentTransitions() map[AgentState]map[AgentState]bool {
	return map[AgentState]map[AgentState]bool{
		AgentLoggedOut: {AgentAvailable: true, AgentAway: true},
		AgentAvailable: {AgentRinging: true, AgentAway: true, AgentLoggedOut: true},
		AgentRinging:   {AgentOnCall: true, AgentAway: true, AgentAvailable: true},
		AgentOnCall:    {AgentWrapUp: true, AgentAvailable: true},
		AgentWrapUp:    {AgentAvailable: true, AgentAway: true, AgentLoggedOut: true},
		AgentAway:      {AgentAvailable: true, AgentLoggedOut: true, AgentAway: true},
	}
}

// CanTransition reports whether an agent may move from one state to another.
func CanTransition(from, to AgentState) bool {
	return AgentTransitions()[from][to]
}

// Agent is an agent as the routing engine sees it.
type Agent struct {
	ID     string     `json:"id"`
	State  AgentState `json:"state"`
	Reason string     `json:"reason,omitempty"` // away reason code
	Since  time.Time  `json:"since"`            // when State was entered (zero if never seen)

	// CallID and Queue are set while ringing, on-call and in wrap-up.
	CallID string `json:"callId,omitempty"`
	Queue  string `json:"queue,omitempty"`

	CallsToday int       `json:"callsToday"` // answered calls since 00:00 UTC
	IdleSince  time.Time `json:"idleSince"`  // last time the agent became available
	Queues     []string  `json:"queues"`     // queues the agent is a member of
}

// TimeInState returns how long the agent has been in its state at now.
func (a *Agent) TimeInState(now time.Time) time.Duration {
	if a.Since.IsZero() || now.Before(a.Since) {
		return 0
	}
	return now.Sub(a.Since)
}
