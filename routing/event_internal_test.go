package routing

import (
	"encoding/json"
	"reflect"
	"testing"
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
		`["agent-state","01a221de-fa65-799b-9338-03cf4e63fb73","21","support","","from","available","state","ringing","reason",""],` +
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
