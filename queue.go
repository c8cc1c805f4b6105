package ringdesk

import "time"

// Strategy is how a queue picks an agent among the available ones.
type Strategy string

// Strategies. The zero value means StrategyLongestIdle.
const (
	// StrategyLongestIdle offers to the agent idle the longest (default).
	StrategyLongestIdle Strategy = "longest-idle"
	// StrategyRoundRobin offers to the next member after the one offered
	// last, in member order (Asterisk's rrmemory).
	StrategyRoundRobin Strategy = "round-robin"
	// StrategyFewestCalls offers to the agent with the fewest answered calls
	// today, then the longest idle.
	StrategyFewestCalls Strategy = "fewest-calls"
	// StrategySkills offers to the best tier (lowest QueueMember.Tier) that
	// has an available agent, longest idle first within a tier. A call may
	// only reach tier best+n after waiting n×Queue.TierWiden.
	StrategySkills Strategy = "skills"
)

// Valid reports whether s is a known strategy ("" counts as longest-idle).
func (s Strategy) Valid() bool {
	switch s {
	case "", StrategyLongestIdle, StrategyRoundRobin, StrategyFewestCalls, StrategySkills:
		return true
	}
	return false
}

// Overflow kinds.
const (
	OverflowNone     = ""         // no overflow: wait on; at MaxWait the call ends "timeout"
	OverflowQueue    = "queue"    // move the call to Overflow.Queue, keeping its age and priority
	OverflowCallback = "callback" // end the call with a callback request for the caller
)

// Overflow says where a call goes when it waits longer than the queue's
// MaxWait, when the queue is full, or when no agent is logged in to it.
type Overflow struct {
	Kind  string `json:"kind"`
	Queue string `json:"queue,omitempty"` // for OverflowQueue
}

// QueueMember is an agent's membership in one queue.
type QueueMember struct {
	AgentID string `json:"agentId"`
	// Tier is the skill level for StrategySkills: 0 is the best tier, higher
	// tiers are offered calls only after widening (like Asterisk's penalty or
	// FreeSWITCH's tier level). Ignored by the other strategies.
	Tier int `json:"tier"`
}

// Queue is a call queue and its routing configuration.
type Queue struct {
	Name     string   `json:"name"`
	Strategy Strategy `json:"strategy"`

	RingTimeout time.Duration `json:"ringTimeout"` // an offer not answered in time is a ring-no-answer; 0 = 20 s
	WrapUp      time.Duration `json:"wrapUp"`      // after-call work; 0 = agent is available at once
	MaxWait     time.Duration `json:"maxWait"`     // 0 = no limit
	TierWiden   time.Duration `json:"tierWiden"`   // skills: wait per extra tier; 0 = all tiers at once
	MaxLen      int           `json:"maxLen"`      // waiting calls beyond this overflow; 0 = no limit
	Overflow    Overflow      `json:"overflow"`
	// MissedAway sends an agent who let an offer ring out to away with
	// ReasonMissedCall; otherwise the agent stays available.
	MissedAway bool `json:"missedAway"`

	// Members in round-robin order.
	Members []QueueMember `json:"members"`
}

// DefaultRingTimeout applies when Queue.RingTimeout is zero.
const DefaultRingTimeout = 20 * time.Second

// Validate returns EINVALID if the queue cannot be used as configured.
func (q *Queue) Validate() error {
	switch {
	case !validName(q.Name):
		return Errorf(EINVALID, "Queue name %q must be 1-64 characters without spaces, braces or commas.", q.Name)
	case !q.Strategy.Valid():
		return Errorf(EINVALID, "Queue %s: unknown strategy %q.", q.Name, q.Strategy)
	case q.RingTimeout < 0 || q.WrapUp < 0 || q.MaxWait < 0 || q.TierWiden < 0:
		return Errorf(EINVALID, "Queue %s: durations must not be negative.", q.Name)
	case q.MaxLen < 0:
		return Errorf(EINVALID, "Queue %s: max length must not be negative.", q.Name)
	}
	switch q.Overflow.Kind {
	case OverflowNone, OverflowCallback:
	case OverflowQueue:
		if !validName(q.Overflow.Queue) || q.Overflow.Queue == q.Name {
			return Errorf(EINVALID, "Queue %s: overflow queue %q is not another queue.", q.Name, q.Overflow.Queue)
		}
	default:
		return Errorf(EINVALID, "Queue %s: unknown overflow kind %q.", q.Name, q.Overflow.Kind)
	}
	seen := make(map[string]bool, len(q.Members))
	for _, m := range q.Members {
		if !validName(m.AgentID) {
			return Errorf(EINVALID, "Queue %s: agent id %q is not valid.", q.Name, m.AgentID)
		}
		if seen[m.AgentID] {
			return Errorf(EINVALID, "Queue %s: agent %s is listed twice.", q.Name, m.AgentID)
		}
		if m.Tier < 0 || m.Tier > MaxTier {
			return Errorf(EINVALID, "Queue %s: tier of agent %s must be 0-%d.", q.Name, m.AgentID, MaxTier)
		}
		seen[m.AgentID] = true
	}
	return nil
}

// MaxTier is the highest skills tier.
const MaxTier = 99

// validName accepts ids and names that are safe inside Redis key names and
// comma-separated lists.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '{' || r == '}' || r == ',' || r == 0x7f {
			return false
		}
	}
	return true
}

// ValidID reports whether s can be used as an agent, call or queue id.
func ValidID(s string) bool { return validName(s) }
