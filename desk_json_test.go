package ringdesk_test

import (
	"bytes"
	"encoding/json"
	"testing"

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
	})
}
