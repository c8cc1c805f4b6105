package agentdesk

import (
	"encoding/json"
	"testing"
)

// TestPopOf: a pop this hub is sending is known by its payload's identity,
// not decoded again; any other payload (a copy, as the bus brings from
// another node) is decoded, and bad JSON is an error.
func TestPopOf(t *testing.T) {
	h := &Hub{}
	payload := json.RawMessage(`{"call_id":"c1","agent_id":"7","sent_at":"2026-11-29T01:00:00Z"}`)
	var p popInfo
	if err := h.popOf(payload, &p); err != nil || p.CallID != "c1" || p.AgentID != "7" || p.SentAt.IsZero() {
		t.Fatalf("decoded pop = %+v, %v", p, err)
	}
	// What SendPop knew, deliberately unlike the bytes: proof they were not read.
	h.sending.Store(&payload[0], popInfo{CallID: "c2", AgentID: "8"})
	if err := h.popOf(payload, &p); err != nil || p.CallID != "c2" || p.AgentID != "8" {
		t.Errorf("pop being sent = %+v, %v; want SendPop's", p, err)
	}
	copied := append(json.RawMessage(nil), payload...)
	if err := h.popOf(copied, &p); err != nil || p.CallID != "c1" {
		t.Errorf("copy of a pop being sent = %+v, %v; want it decoded", p, err)
	}
	h.sending.Delete(&payload[0])
	if err := h.popOf(json.RawMessage(`{"call_id":`), &p); err == nil {
		t.Errorf("bad JSON decoded without error")
	}
	if err := h.popOf(nil, &p); err == nil {
		t.Errorf("empty payload decoded without error")
	}
}
