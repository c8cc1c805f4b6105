package agentdesk_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
)

func TestDeskProtocol_ParseCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want agentdesk.Command // Type "" means invalid
		id   string            // id returned with an error
	}{
		{"Ready", `{"type":"ready","v":1,"id":"r1"}`, agentdesk.Command{Type: "ready", ID: "r1"}, ""},
		{"ReadyNullPayload", `{"type":"ready","v":1,"payload":null}`, agentdesk.Command{Type: "ready"}, ""},
		{"Away", `{"type":"away","v":1,"payload":{"reason":"lunch"}}`, agentdesk.Command{Type: "away", Reason: "lunch"}, ""},
		{"PopAck", `{"type":"pop-ack","v":1,"id":"7","payload":{"call_id":"c-1"}}`, agentdesk.Command{Type: "pop-ack", ID: "7", CallID: "c-1"}, ""},
		{"Login", `{"type":"login","v":1,"payload":{"ready":true}}`, agentdesk.Command{Type: "login", Ready: true}, ""},
		{"UnknownFieldsIgnored", `{"type":"ping","v":1,"extra":[1,2],"payload":{"x":1}}`, agentdesk.Command{Type: "ping"}, ""},
		{"EndWrapUp", `{"type":"end-wrapup","v":1}`, agentdesk.Command{Type: "end-wrapup"}, ""},
		{"Logout", `{"type":"logout","v":1}`, agentdesk.Command{Type: "logout"}, ""},

		{"NotJSON", `hello`, agentdesk.Command{}, ""},
		{"Empty", ``, agentdesk.Command{}, ""},
		{"Array", `[]`, agentdesk.Command{}, ""},
		{"Null", `null`, agentdesk.Command{}, ""},
		{"TwoObjects", `{"type":"ping","v":1}{"type":"ping","v":1}`, agentdesk.Command{}, ""},
		{"TrailingBracket", `{"type":"ping","v":1}]`, agentdesk.Command{}, ""},
		{"TrailingSpace", `{"type":"ping","v":1} ` + "\n", agentdesk.Command{Type: "ping"}, ""},
		{"NoType", `{"v":1,"id":"a"}`, agentdesk.Command{}, "a"},
		{"NoVersion", `{"type":"ping","id":"a"}`, agentdesk.Command{}, "a"},
		{"FutureVersion", `{"type":"ping","v":2,"id":"a"}`, agentdesk.Command{}, "a"},
		{"UnknownType", `{"type":"pop","v":1,"id":"a"}`, agentdesk.Command{}, "a"},
		{"PayloadNotObject", `{"type":"ready","v":1,"payload":"x"}`, agentdesk.Command{}, ""},
		{"AwayNoReason", `{"type":"away","v":1}`, agentdesk.Command{}, ""},
		{"AwayBadReason", `{"type":"away","v":1,"payload":{"reason":"<script>"}}`, agentdesk.Command{}, ""},
		{"AwayLongReason", `{"type":"away","v":1,"payload":{"reason":"` + strings.Repeat("a", 33) + `"}}`, agentdesk.Command{}, ""},
		{"PopAckNoCall", `{"type":"pop-ack","v":1,"payload":{}}`, agentdesk.Command{}, ""},
		{"PopAckBadCall", `{"type":"pop-ack","v":1,"payload":{"call_id":"a:b"}}`, agentdesk.Command{}, ""},
		{"LoginBadReady", `{"type":"login","v":1,"payload":{"ready":"yes"}}`, agentdesk.Command{}, ""},
		{"LongID", `{"type":"ping","v":1,"id":"` + strings.Repeat("i", 65) + `"}`, agentdesk.Command{}, ""},
		{"TypeNotString", `{"type":1,"v":1}`, agentdesk.Command{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := agentdesk.ParseCommand([]byte(tt.in))
			if tt.want.Type == "" {
				if ringdesk.ErrorCode(err) != ringdesk.EINVALID {
					t.Fatalf("ParseCommand = %+v, %v; want EINVALID", got, err)
				}
				if ringdesk.ErrorMessage(err) == "" {
					t.Error("no message for the desk")
				}
				if got != nil && got.ID != tt.id {
					t.Errorf("id with the error = %q, want %q", got.ID, tt.id)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand: %v", err)
			}
			if *got != tt.want {
				t.Errorf("ParseCommand = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// TestDeskProtocol_ParseCommandSaysWhy: two objects in one message are
// told apart from a message that is no object.
func TestDeskProtocol_ParseCommandSaysWhy(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"ping","v":1}{"type":"ping","v":1}`: "One JSON object per message.",
		`{"type":"ping","v":1}]`:                     "A message must be a JSON object",
		`hello`:                                      "A message must be a JSON object",
	} {
		_, err := agentdesk.ParseCommand([]byte(in))
		if got := ringdesk.ErrorMessage(err); !strings.HasPrefix(got, want) {
			t.Errorf("ParseCommand(%s): %q, want %q", in, got, want)
		}
	}
}

// FuzzDeskParseCommand: the parser of what browsers send never panics,
// fails only with EINVALID, and what it accepts survives a round trip.
func FuzzDeskParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"type":"ready","v":1,"id":"r1"}`,
		`{"type":"away","v":1,"payload":{"reason":"lunch"}}`,
		`{"type":"pop-ack","v":1,"payload":{"call_id":"c-1"}}`,
		`{"type":"login","v":1,"payload":{"ready":true}}`,
		`{"type":"ping","v":1,"payload":null}`,
		`{"type":"ready","v":2}`,
		`{"type":"x","v":1,"payload":[]}`,
		`[]`, `null`, `"s"`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := agentdesk.ParseCommand(data)
		if err != nil {
			if ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		switch cmd.Type {
		case agentdesk.TypePopAck, agentdesk.TypeReady, agentdesk.TypeAway, agentdesk.TypeEndWrapUp,
			agentdesk.TypeLogin, agentdesk.TypeLogout, agentdesk.TypePing:
		default:
			t.Fatalf("accepted unknown type %q", cmd.Type)
		}
		if len(cmd.ID) > 64 {
			t.Fatalf("accepted a %d-byte id", len(cmd.ID))
		}
		payload := map[string]any{}
		switch cmd.Type {
		case agentdesk.TypePopAck:
			if !ringdesk.ValidDeskID(cmd.CallID) {
				t.Fatalf("accepted call id %q", cmd.CallID)
			}
			payload["call_id"] = cmd.CallID
		case agentdesk.TypeAway:
			payload["reason"] = cmd.Reason
		case agentdesk.TypeLogin:
			payload["ready"] = cmd.Ready
		}
		again, _ := json.Marshal(map[string]any{"type": cmd.Type, "v": agentdesk.Version, "id": cmd.ID, "payload": payload})
		cmd2, err := agentdesk.ParseCommand(again)
		if err != nil || *cmd2 != *cmd {
			t.Fatalf("round trip of %+v: %+v, %v", *cmd, cmd2, err)
		}
	})
}
