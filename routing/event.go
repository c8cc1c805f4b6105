package routing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
)

// parseEntry turns a stream entry written by the scripts' flush into its
// events: t is the time (ms) they share, e a JSON array of events, each
// [kind, call, agent, queue, node, k1, v1, ...], or for an agent's state
// change (emit_state) ["as", call, agent, queue, from, to(, reason)]: the
// event agent-state with the fields from, state and reason.
//
// Each event's ID says where to resume after it: the entry's stream ID for
// the entry's last event, "<stream ID>#<index>" for the ones before it
// (see splitResume).
//
// Only the events from index from on, of a kind keep takes (nil: every
// kind), are returned: every node reads every entry of the site, and a
// reader that wants one kind need not build the others (their fields and
// IDs were ~5 % of what the call path allocated).
func parseEntry(m redis.XMessage, from int, keep func(kind string) bool) ([]ringdesk.RoutingEvent, error) {
	ts, _ := m.Values["t"].(string)
	raw, _ := m.Values["e"].(string)
	evs, err := decodeEvents(raw)
	if err != nil {
		return nil, fmt.Errorf("routing event entry %s: %w", m.ID, err)
	}
	at := msTime(ts)
	var out []ringdesk.RoutingEvent
	for i, e := range evs {
		if len(e) < 5 {
			return nil, fmt.Errorf("routing event entry %s: event %d has %d fields, want at least 5", m.ID, i, len(e))
		}
		kind := e[0]
		if kind == "as" {
			if len(e) != 6 && len(e) != 7 {
				return nil, fmt.Errorf("routing event entry %s: state change %d has %d fields, want 6 or 7", m.ID, i, len(e))
			}
			kind = ringdesk.EventAgentState
		}
		if i < from || (keep != nil && !keep(kind)) {
			continue
		}
		if out == nil {
			out = make([]ringdesk.RoutingEvent, 0, len(evs)-i)
		}
		id := m.ID
		if i < len(evs)-1 {
			id = m.ID + "#" + strconv.Itoa(i)
		}
		if e[0] == "as" {
			reason := ""
			if len(e) == 7 {
				reason = e[6]
			}
			out = append(out, ringdesk.RoutingEvent{ID: id, Kind: kind, Time: at, CallID: e[1], AgentID: e[2],
				Queue: e[3], Fields: map[string]string{"from": e[4], "state": e[5], "reason": reason}})
			continue
		}
		ev := ringdesk.RoutingEvent{ID: id, Kind: e[0], Time: at, CallID: e[1], AgentID: e[2], Queue: e[3], Node: e[4]}
		for j := 5; j+1 < len(e); j += 2 {
			if ev.Fields == nil {
				ev.Fields = make(map[string]string, (len(e)-5)/2)
			}
			ev.Fields[e[j]] = e[j+1]
		}
		out = append(out, ev)
	}
	return out, nil
}

// decodeEvents decodes an entry's e, a JSON array of arrays of strings, as
// json.Unmarshal into [][]string would. Every node decodes every entry of
// the site, so the shape the scripts write (cjson: no spaces, strings
// without escapes) is read directly, its strings slices of raw; anything
// else (an escape, a space, null, a number) goes to encoding/json.
func decodeEvents(raw string) ([][]string, error) {
	if evs, ok := decodeEventsPlain(raw); ok {
		return evs, nil
	}
	var evs [][]string
	if err := json.Unmarshal([]byte(raw), &evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// decodeEventsPlain decodes raw when it is exactly [["s",…],…] with no
// whitespace and no backslash in any string; ok is false otherwise.
func decodeEventsPlain(raw string) (evs [][]string, ok bool) {
	i, n := 0, len(raw)
	if n < 2 || raw[0] != '[' {
		return nil, false
	}
	i = 1
	if raw[i] == ']' {
		return [][]string{}, i+1 == n
	}
	for {
		if i >= n || raw[i] != '[' {
			return nil, false
		}
		i++
		ev := make([]string, 0, 12) // an event has 5 fields and up to 4 pairs
		if i < n && raw[i] == ']' {
			i++
		} else {
			for {
				if i >= n || raw[i] != '"' {
					return nil, false
				}
				j := i + 1
				for j < n && raw[j] != '"' {
					// An escape, a control character or a byte that is not
					// valid UTF-8 is left to encoding/json, which replaces
					// invalid bytes.
					if c := raw[j]; c == '\\' || c < 0x20 || c >= 0x80 {
						return nil, false
					}
					j++
				}
				if j >= n {
					return nil, false
				}
				ev = append(ev, raw[i+1:j])
				i = j + 1
				if i < n && raw[i] == ',' {
					i++
					continue
				}
				if i < n && raw[i] == ']' {
					i++
					break
				}
				return nil, false
			}
		}
		evs = append(evs, ev)
		if i < n && raw[i] == ',' {
			i++
			continue
		}
		if i < n && raw[i] == ']' && i+1 == n {
			return evs, true
		}
		return nil, false
	}
}

// splitResume splits an event ID into the stream entry to read from and
// how many of that entry's events were already seen. A plain stream ID
// means the whole entry was seen: reading resumes after it (skip 0, from
// the ID, exclusive). "<id>#<i>" means events 0..i of entry id were seen:
// the entry is read again (inclusive) and its first i+1 events skipped.
func splitResume(after string) (id string, skip int, inclusive bool, err error) {
	id, idx, ok := strings.Cut(after, "#")
	if !ok {
		return after, 0, false, nil
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 {
		return "", 0, false, ringdesk.Errorf(ringdesk.EINVALID, "Event position %q is not valid.", after)
	}
	return id, i + 1, true, nil
}
