package ringdesk_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
)

// marshaled is payload as json.Marshal writes it: compact, with <, > and &
// escaped.
func marshaled(payload []byte) ([]byte, bool) {
	var compact, escaped bytes.Buffer
	if json.Compact(&compact, payload) != nil {
		return nil, false
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes(), true
}

// AppendJSON must write what json.Marshal writes, for a payload that
// json.Marshal wrote.
func TestDeskMessageAppendJSON(t *testing.T) {
	pop, _ := json.Marshal(map[string]any{"call_id": "c1", "customer": map[string]string{"name": "Ada <Lovelace> & co"}})
	for _, m := range []ringdesk.DeskMessage{
		{Type: "pop", V: 1, Payload: pop},
		{Type: "ack", V: 1, ID: "r-17"},
		{Type: "state", V: 0},
		{Type: "call", V: 2, ID: "id \"quoted\" \\ <b> &amp; é \x01 \u2028", Payload: json.RawMessage(`[1,2,3]`)},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("AppendJSON(%+v) = %s, want prefix%s", m, got, want)
		}
		// JSON writes the same into a buffer it did not have to grow
		// (but for escapes in the type or id).
		got := m.JSON()
		if !bytes.Equal(got, want) {
			t.Errorf("JSON(%+v) = %s, want %s", m, got, want)
		}
		if !strings.ContainsAny(m.Type+m.ID, "\\\"<>&\x01\u2028") && cap(got) != len(m.Payload)+len(m.Type)+len(m.ID)+40 {
			t.Errorf("JSON(%+v) grew its buffer to %d for %d bytes", m, cap(got), len(got))
		}
	}
}

func FuzzDeskMessageAppendJSON(f *testing.F) {
	f.Add("pop", "", 1, []byte(`{"a":"b"}`))
	f.Add("x\"<>&\u2028", "\xff\x00", -3, []byte(`"s"`))
	f.Fuzz(func(t *testing.T, typ, id string, v int, payload []byte) {
		var p []byte
		if len(payload) > 0 {
			var ok bool
			if p, ok = marshaled(payload); !ok {
				return // not JSON: AppendJSON's callers never pass that
			}
		}
		m := ringdesk.DeskMessage{Type: typ, V: v, ID: id, Payload: p}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON = %s, want %s", got, want)
		}
		if got := m.JSON(); !bytes.Equal(got, want) {
			t.Fatalf("JSON = %s, want %s", got, want)
		}
	})
}

// progressFromFuzz builds a CallProgress from fuzz inputs: times as unix
// nanoseconds in a fixed zone, the optional ones present by bit.
func progressFromFuzz(call, agent, dir, leg, state, reason string, at int64, zone int32, optional uint8) *ringdesk.CallProgress {
	loc := time.FixedZone("z", int(zone%(48*3600)))
	tm := func(i int64) time.Time { return time.Unix(0, i).In(loc) }
	p := &ringdesk.CallProgress{CallID: call, AgentID: agent, Direction: dir, Leg: leg, State: state, Reason: reason, At: tm(at)}
	for i, f := range []**time.Time{&p.OfferedAt, &p.AnsweredAt, &p.EndedAt} {
		if optional&(1<<i) != 0 {
			t := tm(at + int64(i+1)*1e9)
			*f = &t
		}
	}
	return p
}

// checkAppendJSON requires AppendJSON to write what json.Marshal writes,
// or to refuse (ok false, nothing appended) what json.Marshal refuses.
func checkAppendJSON(t *testing.T, v interface{ AppendJSON([]byte) ([]byte, bool) }) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, ok := v.AppendJSON([]byte("x"))
	if werr != nil {
		if ok || string(got) != "x" {
			t.Fatalf("json.Marshal refuses %+v (%v) but AppendJSON wrote %s", v, werr, got)
		}
		return
	}
	if !ok || string(got) != "x"+string(want) {
		t.Fatalf("AppendJSON(%+v) = %s (ok %t), json.Marshal gives %s", v, got, ok, want)
	}
}

func TestCallProgressAndStateAppendJSON(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC).UnixNano()
	for _, p := range []*ringdesk.CallProgress{
		progressFromFuzz("c1", "a1", ringdesk.Inbound, "", ringdesk.ProgressRinging, "", now, 0, 0),
		progressFromFuzz("c1", "a1", ringdesk.Outbound, "agent", ringdesk.ProgressEnded, "caller-hangup", now, 3600, 7),
		progressFromFuzz("<c&\"1\">", "ä\u2028", "in\nbound", "", "x", "\xff", now, -19800, 5),
		progressFromFuzz("c", "a", "", "", "", "", 0, 0, 2),
	} {
		checkAppendJSON(t, p)
	}
	for _, s := range []*ringdesk.AgentStateChange{
		{AgentID: "7", State: "available", Since: time.Unix(0, now)},
		{AgentID: "<7>", State: "away", Reason: "lunch & \"tea\"", CallID: "c9", Since: time.Unix(0, now).In(time.FixedZone("x", 5400))},
		{AgentID: "7", State: "ringing", Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		checkAppendJSON(t, s)
	}
}

func FuzzCallProgressAppendJSON(f *testing.F) {
	f.Add("c1", "a1", "inbound", "", "ringing", "", int64(1795868782036713000), int32(0), uint8(0))
	f.Add("c<1>", "a\"1", "outbound", "agent", "ended", "abandoned", int64(-62135596800000000), int32(-3600), uint8(7))
	f.Fuzz(func(t *testing.T, call, agent, dir, leg, state, reason string, at int64, zone int32, optional uint8) {
		checkAppendJSON(t, progressFromFuzz(call, agent, dir, leg, state, reason, at, zone, optional))
		checkAppendJSON(t, &ringdesk.AgentStateChange{AgentID: agent, State: state, Reason: reason, CallID: call,
			Since: time.Unix(0, at).In(time.FixedZone("z", int(zone%(48*3600))))})
	})
}
