package routing_test

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

func TestCallScore(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	type c struct {
		name string
		prio int
		at   time.Time
	}
	calls := []c{
		{"low-early", 0, t0},
		{"high-late", 9, t0.Add(time.Minute)},
		{"low-late", 0, t0.Add(time.Second)},
		{"max-latest", ringdesk.MaxPriority, t0.Add(time.Hour)},
		{"high-early", 9, t0.Add(-time.Hour)},
	}
	sort.Slice(calls, func(i, j int) bool {
		return routing.CallScore(calls[i].prio, calls[i].at) < routing.CallScore(calls[j].prio, calls[j].at)
	})
	want := []string{"max-latest", "high-early", "high-late", "low-early", "low-late"}
	for i := range want {
		if calls[i].name != want[i] {
			t.Fatalf("order = %v, want %v", calls, want)
		}
	}
	// Exact in float64 up to the highest band.
	s := routing.CallScore(0, time.UnixMilli(1<<42))
	if s != math.Trunc(s) || s >= 1<<53 {
		t.Fatalf("score %v not an exact integer", s)
	}
}

func TestAgentScore(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	type a struct {
		name      string
		tier, pos int
		calls     int
		idleSince time.Time
	}
	agents := []a{
		{"tier1-idle-long-calls5", 1, 1, 5, t0.Add(-time.Hour)},
		{"tier0-idle-short-calls1", 0, 2, 1, t0},
		{"tier0-idle-mid-calls3", 0, 3, 3, t0.Add(-time.Minute)},
		{"tier2-idle-mid-calls1", 2, 4, 1, t0.Add(-2 * time.Minute)},
	}
	for _, tt := range []struct {
		s    ringdesk.Strategy
		want []string
	}{
		{ringdesk.StrategyLongestIdle, []string{"tier1-idle-long-calls5", "tier2-idle-mid-calls1", "tier0-idle-mid-calls3", "tier0-idle-short-calls1"}},
		{"", []string{"tier1-idle-long-calls5", "tier2-idle-mid-calls1", "tier0-idle-mid-calls3", "tier0-idle-short-calls1"}},
		{ringdesk.StrategyFewestCalls, []string{"tier2-idle-mid-calls1", "tier0-idle-short-calls1", "tier0-idle-mid-calls3", "tier1-idle-long-calls5"}},
		{ringdesk.StrategySkills, []string{"tier0-idle-mid-calls3", "tier0-idle-short-calls1", "tier1-idle-long-calls5", "tier2-idle-mid-calls1"}},
		{ringdesk.StrategyRoundRobin, []string{"tier1-idle-long-calls5", "tier0-idle-short-calls1", "tier0-idle-mid-calls3", "tier2-idle-mid-calls1"}},
	} {
		t.Run(string(tt.s), func(t *testing.T) {
			got := append([]a(nil), agents...)
			sort.Slice(got, func(i, j int) bool {
				si := routing.AgentScore(tt.s, got[i].tier, got[i].pos, got[i].calls, got[i].idleSince)
				sj := routing.AgentScore(tt.s, got[j].tier, got[j].pos, got[j].calls, got[j].idleSince)
				return si < sj
			})
			for i := range tt.want {
				if got[i].name != tt.want[i] {
					t.Fatalf("order[%d] = %s, want %s", i, got[i].name, tt.want[i])
				}
			}
		})
	}
}

func TestNextRoundRobin(t *testing.T) {
	for _, tt := range []struct {
		avail  []int
		last   int
		want   int
		wantOK bool
	}{
		{[]int{1, 2, 3}, -1, 1, true},
		{[]int{1, 2, 3}, 1, 2, true},
		{[]int{1, 2, 3}, 3, 1, true},
		{[]int{1, 3}, 2, 3, true},
		{[]int{3, 1}, 5, 1, true},
		{nil, 1, 0, false},
	} {
		got, ok := routing.NextRoundRobin(tt.avail, tt.last)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NextRoundRobin(%v, %d) = %d, %v; want %d, %v", tt.avail, tt.last, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestMaxEligibleTier(t *testing.T) {
	for _, tt := range []struct {
		best        int
		wait, widen time.Duration
		want        int
	}{
		{0, 0, 10 * time.Second, 0},
		{0, 9 * time.Second, 10 * time.Second, 0},
		{0, 10 * time.Second, 10 * time.Second, 1},
		{1, 25 * time.Second, 10 * time.Second, 3},
		{2, -time.Second, 10 * time.Second, 2},
		{0, 0, 0, math.MaxInt},
	} {
		if got := routing.MaxEligibleTier(tt.best, tt.wait, tt.widen); got != tt.want {
			t.Errorf("MaxEligibleTier(%d, %v, %v) = %d, want %d", tt.best, tt.wait, tt.widen, got, tt.want)
		}
	}
}

func TestEstimateWait(t *testing.T) {
	for _, tt := range []struct {
		name           string
		pos            int
		aht            time.Duration
		staffed, avail int
		want           time.Duration
	}{
		{"NotWaiting", 0, time.Minute, 3, 0, 0},
		{"Nobody", 1, time.Minute, 0, 0, -1},
		{"FreeAgent", 2, time.Minute, 3, 2, 0},
		{"FirstOfOne", 1, time.Minute, 1, 0, time.Minute},
		{"ThirdOfTwo", 3, time.Minute, 2, 0, 90 * time.Second},
		{"AheadOfFree", 4, time.Minute, 4, 1, 45 * time.Second},
		{"NoHistory", 1, 0, 1, 0, routing.DefaultHandleTime},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := routing.EstimateWait(tt.pos, tt.aht, tt.staffed, tt.avail); got != tt.want {
				t.Fatalf("EstimateWait = %v, want %v", got, tt.want)
			}
		})
	}
}
