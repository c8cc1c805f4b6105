package routing

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
)

// decodeEvents must read every entry exactly as json.Unmarshal into
// [][]string does: the same events, or an error for the same inputs.
func checkDecodeEvents(t *testing.T, raw string) {
	t.Helper()
	got, err := decodeEvents(raw)
	var want [][]string
	werr := json.Unmarshal([]byte(raw), &want)
	if (err != nil) != (werr != nil) {
		t.Fatalf("decodeEvents(%q) error %v, json.Unmarshal error %v", raw, err, werr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeEvents(%q) = %#v, json.Unmarshal gives %#v", raw, got, want)
	}
}

var eventEntries = []string{
	`[["offer","c1","a1","q","n1","wait_ms","12","ring_ms","20000","attempt","1"]]`,
	`[["answered","c1","a1","q","n1","wait_ms","3"],["agent-state","c1","a1","q","","from","ringing","state","on-call","reason",""]]`,
	`[]`, `[[]]`, `[[],["x"]]`, `[[""]]`,
	`[["with \"quote\"","back\\slash","\u00e9t\u00e9","\/"]]`,
	`[["été","naïve"]]`, "[[\"\xff\"]]",
	` [["a"]]`, `[["a"] ]`, `[["a"]`, `[["a"],]`, `[["a",]]`, `[[1]]`, `[[null]]`, `[null]`, `null`,
	`[["a"]]x`, `[`, ``, `[["a]]`, `[["a"]]]`, `{"a":1}`, `[["a"],["b","c"]]`,
}

func TestDecodeEvents(t *testing.T) {
	for _, raw := range eventEntries {
		checkDecodeEvents(t, raw)
	}
	// The plain shape takes the direct path.
	if _, ok := decodeEventsPlain(eventEntries[1]); !ok {
		t.Errorf("the scripts' shape went to encoding/json")
	}
}

func FuzzDecodeEvents(f *testing.F) {
	for _, raw := range eventEntries {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) { checkDecodeEvents(t, raw) })
}

// BenchmarkDecodeEvents reads a typical entry (one enqueue matched at
// once: three events).
func BenchmarkDecodeEvents(b *testing.B) {
	raw := `[["enqueued","01a221de-fa65-799b-9338-03cf4e63fb73","","support","n1","queues","support","priority","0"],` +
		`["as","01a221de-fa65-799b-9338-03cf4e63fb73","21","support","available","ringing"],` +
		`["offer","01a221de-fa65-799b-9338-03cf4e63fb73","21","support","n1","wait_ms","0","ring_ms","20000","attempt","1"]]`
	b.Run("decodeEvents", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeEvents(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var evs [][]string
			if err := json.Unmarshal([]byte(raw), &evs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestParseEntry reads both forms of event the scripts write: the general
// one and emit_state's short agent state change, which reads as the
// agent-state event it stands for.
func TestParseEntry(t *testing.T) {
	at := msTime("1795912820842")
	entry := func(e string) redis.XMessage {
		return redis.XMessage{ID: "1-0", Values: map[string]any{"t": "1795912820842", "e": e}}
	}
	const three = `[["offer","c1","a1","q","n1","wait_ms","0"],["as","c1","a1","q","available","ringing"],` +
		`["as","","a2","","available","away","break"]]`
	evs, err := parseEntry(entry(three), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ringdesk.RoutingEvent{
		{ID: "1-0#0", Kind: "offer", Time: at, CallID: "c1", AgentID: "a1", Queue: "q", Node: "n1",
			Fields: map[string]string{"wait_ms": "0"}},
		{ID: "1-0#1", Kind: ringdesk.EventAgentState, Time: at, CallID: "c1", AgentID: "a1", Queue: "q",
			Fields: map[string]string{"from": "available", "state": "ringing", "reason": ""}},
		{ID: "1-0", Kind: ringdesk.EventAgentState, Time: at, AgentID: "a2",
			Fields: map[string]string{"from": "available", "state": "away", "reason": "break"}},
	}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("parseEntry =\n%+v\nwant\n%+v", evs, want)
	}
	// A reader resuming inside the entry, or taking one kind, gets the
	// same events with the same IDs, minus the others.
	states := func(kind string) bool { return kind == ringdesk.EventAgentState }
	offers := func(kind string) bool { return kind == ringdesk.EventOffer }
	for _, c := range []struct {
		name string
		from int
		keep func(string) bool
		want []ringdesk.RoutingEvent
	}{
		{"from 1", 1, nil, want[1:]},
		{"from 3", 3, nil, nil},
		{"agent states", 0, states, want[1:]},
		{"agent states from 2", 2, states, want[2:]},
		{"offers", 0, offers, want[:1]},
		{"offers from 1", 1, offers, nil},
	} {
		got, err := parseEntry(entry(three), c.from, c.keep)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: parseEntry = %+v, %v\nwant %+v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{`[["as","c1","a1","q","available"]]`, `[["as","c1","a1","q","available","ringing","","x"]]`,
		`[["offer","c1","a1","q"]]`, `[["as"`, `[["offer","c1","a1","q","n1"],["as","c1","a1","q","available"]]`} {
		// An entry not written by the scripts is an error whatever the
		// reader takes of it.
		for _, keep := range []func(string) bool{nil, offers} {
			if _, err := parseEntry(entry(bad), 0, keep); err == nil {
				t.Errorf("parseEntry(%s) took it", bad)
			}
		}
	}
}
