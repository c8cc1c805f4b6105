package routing

import (
	"math"
	"time"

	"github.com/ringdesk/ringdesk"
)

// scoreBand separates the parts of a composite sorted-set score: times in
// milliseconds since 1970 stay below it until the year 2286, and 99 bands
// on top still fit a float64 exactly.
const scoreBand = 1e13

// CallScore is a waiting call's score in a queue's waiting set: lowest is
// served first, so higher priority first, then earlier enqueue. ZRANK on
// it is the call's position. The Lua scripts compute the same.
func CallScore(priority int, enqueued time.Time) float64 {
	return float64(ringdesk.MaxPriority-priority)*scoreBand + float64(enqueued.UnixMilli())
}

// AgentScore is an available agent's score in a queue's available set:
// lowest is offered first. position is the 1-based member order (for
// round-robin), tier the skills tier. The Lua scripts compute the same
// (lua_lib.lua: ascore).
func AgentScore(s ringdesk.Strategy, tier, position, callsToday int, idleSince time.Time) float64 {
	idle := float64(idleSince.UnixMilli())
	switch s {
	case ringdesk.StrategyRoundRobin:
		return float64(position)
	case ringdesk.StrategyFewestCalls:
		return float64(min(callsToday, 800))*scoreBand + idle
	case ringdesk.StrategySkills:
		return float64(min(tier, 800))*scoreBand + idle
	}
	return idle
}

// NextRoundRobin returns which of the available members' positions a
// round-robin queue offers next after the one offered last: the first
// position after last, wrapping around. ok is false when none is available.
func NextRoundRobin(available []int, last int) (pos int, ok bool) {
	first, next := math.MaxInt, math.MaxInt
	for _, p := range available {
		first = min(first, p)
		if p > last {
			next = min(next, p)
		}
	}
	switch {
	case next != math.MaxInt:
		return next, true
	case first != math.MaxInt:
		return first, true
	}
	return 0, false
}

// MaxEligibleTier returns the highest skills tier a call may be offered to
// after waiting wait: the queue's best tier, plus one per widen. A zero
// widen opens every tier at once.
func MaxEligibleTier(bestTier int, wait, widen time.Duration) int {
	if widen <= 0 {
		return math.MaxInt
	}
	if wait < 0 {
		wait = 0
	}
	return bestTier + int(wait/widen)
}

// DefaultHandleTime stands in for a queue's average handle time until it
// has handled a call.
const DefaultHandleTime = 3 * time.Minute

// EstimateWait estimates how long the call at position (1-based) will wait
// with staffed agents logged in, available of them free, and an average
// handle time aht: the calls ahead of it that free agents cannot take at
// once are worked off by all staffed agents in parallel. It returns 0 when
// an agent is free for it and -1 when nobody is logged in (unknown).
func EstimateWait(position int, aht time.Duration, staffed, available int) time.Duration {
	if position <= 0 {
		return 0
	}
	if staffed <= 0 {
		return -1
	}
	if available >= position {
		return 0
	}
	if aht <= 0 {
		aht = DefaultHandleTime
	}
	ahead := position - available
	return aht * time.Duration(ahead) / time.Duration(staffed)
}
