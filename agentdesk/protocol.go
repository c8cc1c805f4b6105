package agentdesk

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/ringdesk/ringdesk"
)

// Version is the desk protocol version carried in every message's "v".
// Adding a message type or an optional field keeps the version; removing or
// renaming a field, or changing what one means, makes a new version. See
// PROTOCOL.md, the one place where the messages are documented.
const Version = 1

// Message types, server → desk.
const (
	TypeHello = "hello" // first message on every connection
	TypePop   = "pop"   // payload ringdesk.Pop
	TypeCall  = "call"  // payload ringdesk.CallProgress
	TypeState = "state" // payload ringdesk.AgentStateChange
	TypeAck   = "ack"   // payload Ack; id = the command's id
	TypeError = "error" // payload ErrorPayload; id = the bad message's id if it had one
)

// Message types, desk → server (commands).
const (
	TypePopAck    = "pop-ack"    // payload {"call_id"}
	TypeReady     = "ready"      // no payload
	TypeAway      = "away"       // payload {"reason"}
	TypeEndWrapUp = "end-wrapup" // no payload
	TypeLogin     = "login"      // payload {"ready": bool}
	TypeLogout    = "logout"     // no payload
	TypePing      = "ping"       // no payload; answered by an ack
)

// Hello is the payload of the first message on a connection.
type Hello struct {
	AgentID        string    `json:"agent_id"`
	Username       string    `json:"username"`
	Role           string    `json:"role"`
	Node           string    `json:"node"`
	ServerTime     time.Time `json:"server_time"`
	Protocol       int       `json:"protocol"`
	PingIntervalMS int64     `json:"ping_interval_ms"`
}

// Ack is the payload of the answer to a command.
type Ack struct {
	Command string `json:"command"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`    // a ringdesk error code when not OK
	Message string `json:"message,omitempty"` // safe to show to the agent
}

// ErrorPayload is the payload of an error message: a message the server
// could not take, or a problem the desk should show.
type ErrorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Command is a parsed desk → server message.
type Command struct {
	Type   string // one of the desk → server types
	ID     string // the desk's request id, echoed in the ack; may be empty
	CallID string // pop-ack
	Reason string // away
	Ready  bool   // login
}

// Limits on commands.
const (
	maxRequestID = 64
	maxReason    = 32
)

// ParseCommand parses one message from a desk. It returns EINVALID, with a
// message fit for the desk, for anything that is not a well-formed command
// of this protocol version. The command's id is returned with the error when
// it could be read, so the error can answer the right request.
func ParseCommand(data []byte) (*Command, error) {
	var env struct {
		Type    *string         `json:"type"`
		V       *int            `json:"v"`
		ID      string          `json:"id"`
		Payload json.RawMessage `json:"payload"`
	}
	// json.Unmarshal takes exactly one value (a json.Decoder's buffer was
	// a kilobyte allocated per command); a Decoder only says what was wrong.
	if err := json.Unmarshal(data, &env); err != nil {
		var first json.RawMessage
		if dec := json.NewDecoder(bytes.NewReader(data)); dec.Decode(&first) == nil && dec.More() {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "One JSON object per message.")
		}
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "A message must be a JSON object {\"type\",\"v\",\"payload\"}.")
	}
	cmd := &Command{ID: env.ID}
	if len(env.ID) > maxRequestID {
		cmd.ID = ""
		return cmd, ringdesk.Errorf(ringdesk.EINVALID, "A request id is at most %d characters.", maxRequestID)
	}
	if env.Type == nil || *env.Type == "" {
		return cmd, ringdesk.Errorf(ringdesk.EINVALID, "A message needs a type.")
	}
	if env.V == nil || *env.V != Version {
		return cmd, ringdesk.Errorf(ringdesk.EINVALID, "This server speaks desk protocol version %d.", Version)
	}
	payload := env.Payload
	if len(payload) == 0 || string(payload) == "null" {
		payload = json.RawMessage("{}")
	}
	if payload[0] != '{' {
		return cmd, ringdesk.Errorf(ringdesk.EINVALID, "A payload must be a JSON object.")
	}
	switch t := *env.Type; t {
	case TypeReady, TypeEndWrapUp, TypeLogout, TypePing:
		cmd.Type = t
	case TypePopAck:
		var p struct {
			CallID string `json:"call_id"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || !ringdesk.ValidDeskID(p.CallID) {
			return cmd, ringdesk.Errorf(ringdesk.EINVALID, "pop-ack needs the call_id of the pop.")
		}
		cmd.Type, cmd.CallID = t, p.CallID
	case TypeAway:
		var p struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(payload, &p); err != nil || !validReason(p.Reason) {
			return cmd, ringdesk.Errorf(ringdesk.EINVALID, "away needs a reason code of 1–%d lowercase letters, digits or '-'.", maxReason)
		}
		cmd.Type, cmd.Reason = t, p.Reason
	case TypeLogin:
		var p struct {
			Ready bool `json:"ready"`
		}
		if err := json.Unmarshal(payload, &p); err != nil {
			return cmd, ringdesk.Errorf(ringdesk.EINVALID, "login takes {\"ready\": true|false}.")
		}
		cmd.Type, cmd.Ready = t, p.Ready
	default:
		return cmd, ringdesk.Errorf(ringdesk.EINVALID, "Unknown message type %.32q.", t)
	}
	return cmd, nil
}

func validReason(s string) bool {
	if s == "" || len(s) > maxReason {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// encode builds an envelope, sealed (encoded once: it is kept, published
// and sent as it is); payload marshalling of our own types does not fail.
func encode(typ, id string, payload any) ringdesk.DeskMessage {
	// The payloads of every call (progress, agent states) encode
	// themselves, without reflection.
	if a, ok := payload.(interface{ AppendJSON([]byte) ([]byte, bool) }); ok {
		size := 256
		if _, pop := payload.(*ringdesk.Pop); pop {
			size = 2048 // a known caller's pop, with recent calls and cases
		}
		if m, ok := ringdesk.SealedDeskMessage(typ, Version, id, size, a.AppendJSON); ok {
			return m
		}
	}
	p, err := json.Marshal(payload)
	if err != nil {
		p = []byte("{}")
	}
	return ringdesk.DeskMessage{Type: typ, V: Version, ID: id, Payload: p}.Seal()
}
