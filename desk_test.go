package ringdesk_test

import (
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
)

func TestValidDeskID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"42", true},
		{"c-01HZX.9_a", true},
		{strings.Repeat("1", 64), true},
		{"", false},
		{strings.Repeat("1", 65), false},
		{"a b", false},
		{"a\tb", false},
		{"a:b", false},
		{"{site}", false},
		{"a\x7f", false},
	} {
		if got := ringdesk.ValidDeskID(tt.id); got != tt.want {
			t.Errorf("ValidDeskID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestPop_Validate(t *testing.T) {
	cust := &ringdesk.Customer{ID: 1, Name: "Ada"}
	for _, tt := range []struct {
		name string
		pop  ringdesk.Pop
		ok   bool
	}{
		{"One", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchOne, Customer: cust}, true},
		{"OneWithoutCustomer", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchOne}, false},
		{"Several", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchSeveral, Candidates: []*ringdesk.Customer{cust, cust}}, true},
		{"SeveralWithOne", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchSeveral, Candidates: []*ringdesk.Customer{cust}}, false},
		{"Unknown", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchUnknown}, true},
		{"Unavailable", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: ringdesk.MatchUnavailable}, true},
		{"BadMatch", ringdesk.Pop{CallID: "c1", AgentID: "7", Match: "maybe"}, false},
		{"NoCall", ringdesk.Pop{AgentID: "7", Match: ringdesk.MatchUnknown}, false},
		{"BadAgent", ringdesk.Pop{CallID: "c1", AgentID: "x:y", Match: ringdesk.MatchUnknown}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pop.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if !tt.ok && ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Fatalf("Validate() = %v, want EINVALID", err)
			}
		})
	}
}

func TestCallProgress_Validate(t *testing.T) {
	p := ringdesk.CallProgress{CallID: "c1", AgentID: "7", State: ringdesk.ProgressRinging}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	p.State = "exploded"
	if err := p.Validate(); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("Validate() with a bad state = %v, want EINVALID", err)
	}
}
