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

// popFromFuzz builds a pop from fuzzed parts: which parts are present, nil
// or empty is chosen by the bits of shape.
func popFromFuzz(s1, s2, s3 string, at int64, zone int32, n int64, shape uint16) *ringdesk.Pop {
	loc := time.FixedZone("z", int(zone%(48*3600)))
	tm := func(i int64) time.Time { return time.Unix(0, i).In(loc) }
	tp := func(i int64) *time.Time { t := tm(i); return &t }
	bit := func(i uint) bool { return shape&(1<<i) != 0 }
	customer := func(id int64) *ringdesk.Customer {
		c := &ringdesk.Customer{ID: id, Name: s1, Company: s2, Email: s3, AccountNumber: s1 + s2, Status: s3,
			Address: s2, Notes: s3 + s1, Version: n, CreatedAt: tm(at), UpdatedAt: tm(at + 1e9)}
		if bit(0) {
			c.Tags = []string{}
			if bit(1) {
				c.Tags = append(c.Tags, s1, s3)
			}
		}
		if bit(2) {
			c.Phones = []ringdesk.Phone{{ID: n, Label: s1, Raw: s2, E164: s3}}
			if bit(3) {
				c.Phones = append(c.Phones, ringdesk.Phone{ID: -n, Raw: s1, Extension: s2, Invalid: true})
			}
		}
		if bit(4) {
			c.DeletedAt = tp(at - 1e9)
		}
		return c
	}
	p := &ringdesk.Pop{CallID: s1, AgentID: s2, Queue: s3, CallerRaw: s2 + s3, CallerE164: s3, CallerName: s1,
		Match: s2, WaitMS: n, OfferedAt: tm(at), SentAt: tm(at + 5e6)}
	if bit(5) {
		p.Customer = customer(n)
	}
	if bit(6) {
		p.Candidates = []*ringdesk.Customer{customer(1), customer(2)}
		if bit(7) {
			p.Candidates = append(p.Candidates, nil)
		}
	} else if bit(7) {
		p.Candidates = []*ringdesk.Customer{}
	}
	if bit(8) {
		p.RecentCalls = []ringdesk.HistoryItem{{Kind: "call", ID: s1, At: tm(at - 3e9), Title: s2, Status: s3, Body: s1},
			{Kind: s3, ID: s2, At: tm(at), Author: s1}}
	} else if bit(9) {
		p.RecentCalls = []ringdesk.HistoryItem{}
	}
	if bit(10) {
		c := ringdesk.Case{ID: n, CustomerID: n + 1, Subject: s1, Description: s2, Status: s3, Priority: s1,
			Version: n, CreatedAt: tm(at), UpdatedAt: tm(at + 2e9)}
		p.OpenCases = []ringdesk.Case{c}
		if bit(11) {
			c.CallID, c.OwnerID, c.ClosedAt = s2, n, tp(at+3e9)
			p.OpenCases = append(p.OpenCases, c)
		}
	}
	return p
}

func TestPopAppendJSON(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 123456789, time.UTC).UnixNano()
	for _, p := range []*ringdesk.Pop{
		popFromFuzz("c1", "7", "sales", now, 0, 1500, 0),
		popFromFuzz("Ada Lovelace", "one", "+442079460958", now, 3600, 42, 0b0000_0101_0010_0111),
		popFromFuzz("<b>&\"x\"", "ä\u2028\x00", "\xff\xfe", now, -19800, -1, 0xffff),
		popFromFuzz("", "", "", 0, 0, 0, 0b0000_1010_1100_0001),
		// Years json.Marshal refuses, deep inside: refused as a whole.
		popFromFuzz("x", "y", "z", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()-2e9, 0, 1, 0b0000_0101_0110_0000),
		{CallID: "c", AgentID: "a", Match: ringdesk.MatchOne, Customer: &ringdesk.Customer{ID: 1,
			DeletedAt: func() *time.Time { t := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC); return &t }()}},
	} {
		checkAppendJSON(t, p)
	}
}

func FuzzPopAppendJSON(f *testing.F) {
	f.Add("c1", "7", "sales", int64(1795868782036713000), int32(0), int64(1500), uint16(0x0527))
	f.Add("<c>", "a\"1", "\u2028", int64(-62135596800000000), int32(-3600), int64(-7), uint16(0xffff))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, at int64, zone int32, n int64, shape uint16) {
		checkAppendJSON(t, popFromFuzz(s1, s2, s3, at, zone, n, shape))
	})
}

// A sealed message is the same message, encoded once.
func TestDeskMessageSeal(t *testing.T) {
	for _, m := range []ringdesk.DeskMessage{
		{Type: "pop", V: 1, Payload: []byte(`{"call_id":"c1","caller_name":"\u003cb\u003e"}`)},
		{Type: "ack", V: 1, ID: "r17", Payload: []byte(`{"command":"ready","ok":true}`)},
		{Type: "hello", V: 12},
	} {
		want := m.JSON()
		s := m.Seal()
		if m.Sealed() || !s.Sealed() {
			t.Fatalf("Sealed: %v before, %v after", m.Sealed(), s.Sealed())
		}
		if got := s.JSON(); !bytes.Equal(got, want) {
			t.Fatalf("sealed JSON %s, want %s", got, want)
		}
		if !bytes.Equal(s.Payload, m.Payload) || s.Type != m.Type || s.V != m.V || s.ID != m.ID {
			t.Fatalf("sealed message %+v, want %+v", s, m)
		}
		// The encoding is not copied again, and appending to what JSON
		// returns cannot write into it.
		if a, b := s.JSON(), s.JSON(); &a[0] != &b[0] || cap(a) != len(a) {
			t.Fatalf("sealed JSON copied or with spare room (len %d cap %d)", len(a), cap(a))
		}
		if len(s.Payload) > 0 && cap(s.Payload) != len(s.Payload) {
			t.Fatalf("sealed payload has spare room (len %d cap %d): an append would overwrite the message", len(s.Payload), cap(s.Payload))
		}
	}
}

// A message sealed as it is written is the message sealed after.
func TestSealedDeskMessage(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		typ, id string
		p       interface{ AppendJSON([]byte) ([]byte, bool) }
	}{
		{"pop", "", popFromFuzz("Ada", "one", "+442079460958", now.UnixNano(), 0, 42, 0x0527)},
		{"call", "r1", progressFromFuzz("c1", "a1", ringdesk.Inbound, "", ringdesk.ProgressRinging, "", now.UnixNano(), 0, 1)},
		{"st<a>te", "x\"y", &ringdesk.AgentStateChange{AgentID: "7", State: "available", Since: now}},
	} {
		for _, size := range []int{0, 16, 4096} {
			m, ok := ringdesk.SealedDeskMessage(c.typ, 3, c.id, size, c.p.AppendJSON)
			payload, _ := c.p.AppendJSON(nil)
			want := ringdesk.DeskMessage{Type: c.typ, V: 3, ID: c.id, Payload: payload}
			if !ok || !m.Sealed() || !bytes.Equal(m.JSON(), want.JSON()) || !bytes.Equal(m.Payload, payload) ||
				m.Type != c.typ || m.V != 3 || m.ID != c.id {
				t.Fatalf("SealedDeskMessage(%s, size %d) = %s (payload %s, ok %v), want %s", c.typ, size, m.JSON(), m.Payload, ok, want.JSON())
			}
			if cap(m.Payload) != len(m.Payload) || cap(m.JSON()) != len(m.JSON()) {
				t.Fatalf("sealed slices with spare room")
			}
		}
	}
	empty := func(b []byte) ([]byte, bool) { return b, true }
	if m, ok := ringdesk.SealedDeskMessage("hello", 1, "", 0, empty); !ok || string(m.JSON()) != `{"type":"hello","v":1}` || m.Payload != nil {
		t.Fatalf("empty payload: %s %q %v", m.JSON(), m.Payload, ok)
	}
	refuse := func(b []byte) ([]byte, bool) { return b, false }
	if m, ok := ringdesk.SealedDeskMessage("x", 1, "", 0, refuse); ok || m.Sealed() {
		t.Fatalf("refused payload: %+v %v", m, ok)
	}
}
