package ringdesk_test

import (
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
)

func TestCanTransition(t *testing.T) {
	legal := map[[2]ringdesk.AgentState]bool{
		{ringdesk.AgentLoggedOut, ringdesk.AgentAvailable}: true,
		{ringdesk.AgentLoggedOut, ringdesk.AgentAway}:      true,
		{ringdesk.AgentAvailable, ringdesk.AgentRinging}:   true,
		{ringdesk.AgentAvailable, ringdesk.AgentAway}:      true,
		{ringdesk.AgentAvailable, ringdesk.AgentLoggedOut}: true,
		{ringdesk.AgentRinging, ringdesk.AgentOnCall}:      true,
		{ringdesk.AgentRinging, ringdesk.AgentAway}:        true,
		{ringdesk.AgentRinging, ringdesk.AgentAvailable}:   true,
		{ringdesk.AgentOnCall, ringdesk.AgentWrapUp}:       true,
		{ringdesk.AgentOnCall, ringdesk.AgentAvailable}:    true,
		{ringdesk.AgentWrapUp, ringdesk.AgentAvailable}:    true,
		{ringdesk.AgentWrapUp, ringdesk.AgentAway}:         true,
		{ringdesk.AgentWrapUp, ringdesk.AgentLoggedOut}:    true,
		{ringdesk.AgentAway, ringdesk.AgentAvailable}:      true,
		{ringdesk.AgentAway, ringdesk.AgentLoggedOut}:      true,
		{ringdesk.AgentAway, ringdesk.AgentAway}:           true,
	}
	states := ringdesk.AgentStates()
	if len(states) != 6 {
		t.Fatalf("AgentStates() = %v", states)
	}
	for _, from := range states {
		if !from.Valid() {
			t.Errorf("%s not valid", from)
		}
		for _, to := range states {
			if got, want := ringdesk.CanTransition(from, to), legal[[2]ringdesk.AgentState{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if ringdesk.AgentState("busy").Valid() || ringdesk.CanTransition("busy", ringdesk.AgentAvailable) {
		t.Error("unknown state accepted")
	}
	// The map handed out is a copy.
	ringdesk.AgentTransitions()[ringdesk.AgentOnCall][ringdesk.AgentLoggedOut] = true
	if ringdesk.CanTransition(ringdesk.AgentOnCall, ringdesk.AgentLoggedOut) {
		t.Error("transition table can be changed by a caller")
	}
}

func TestAgent_TimeInState(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		since time.Time
		want  time.Duration
	}{
		{time.Time{}, 0},
		{now.Add(-90 * time.Second), 90 * time.Second},
		{now.Add(time.Second), 0},
	} {
		a := &ringdesk.Agent{Since: tt.since}
		if got := a.TimeInState(now); got != tt.want {
			t.Errorf("TimeInState since %v = %v, want %v", tt.since, got, tt.want)
		}
	}
}

func TestQueue_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		q    ringdesk.Queue
		ok   bool
	}{
		{"OK", ringdesk.Queue{Name: "sales", Members: []ringdesk.QueueMember{{AgentID: "a1"}, {AgentID: "a2", Tier: 3}}}, true},
		{"AllStrategies", ringdesk.Queue{Name: "s", Strategy: ringdesk.StrategySkills, TierWiden: time.Second}, true},
		{"OverflowQueue", ringdesk.Queue{Name: "s", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "t"}}, true},
		{"OverflowCallback", ringdesk.Queue{Name: "s", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}}, true},
		{"NoName", ringdesk.Queue{}, false},
		{"BadName", ringdesk.Queue{Name: "a{b}"}, false},
		{"Comma", ringdesk.Queue{Name: "a,b"}, false},
		{"Space", ringdesk.Queue{Name: "a b"}, false},
		{"Strategy", ringdesk.Queue{Name: "s", Strategy: "random"}, false},
		{"NegativeRing", ringdesk.Queue{Name: "s", RingTimeout: -1}, false},
		{"NegativeMaxLen", ringdesk.Queue{Name: "s", MaxLen: -1}, false},
		{"OverflowSelf", ringdesk.Queue{Name: "s", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "s"}}, false},
		{"OverflowNoQueue", ringdesk.Queue{Name: "s", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue}}, false},
		{"OverflowKind", ringdesk.Queue{Name: "s", Overflow: ringdesk.Overflow{Kind: "voicemail"}}, false},
		{"DuplicateMember", ringdesk.Queue{Name: "s", Members: []ringdesk.QueueMember{{AgentID: "a"}, {AgentID: "a"}}}, false},
		{"BadTier", ringdesk.Queue{Name: "s", Members: []ringdesk.QueueMember{{AgentID: "a", Tier: 100}}}, false},
		{"BadAgent", ringdesk.Queue{Name: "s", Members: []ringdesk.QueueMember{{AgentID: ""}}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if !tt.ok && ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Fatalf("Validate() = %v, want EINVALID", err)
			}
		})
	}
}
