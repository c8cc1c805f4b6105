package routing

import (
	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
)

// parseEvent turns a stream entry written by the scripts' emit into a
// RoutingEvent: k kind, t time (ms), c call, a agent, q queue, n node, and
// any other field into Fields.
func parseEvent(m redis.XMessage) ringdesk.RoutingEvent {
	ev := ringdesk.RoutingEvent{ID: m.ID}
	for k, v := range m.Values {
		s, _ := v.(string)
		switch k {
		case "k":
			ev.Kind = s
		case "t":
			ev.Time = msTime(s)
		case "c":
			ev.CallID = s
		case "a":
			ev.AgentID = s
		case "q":
			ev.Queue = s
		case "n":
			ev.Node = s
		default:
			if ev.Fields == nil {
				ev.Fields = make(map[string]string)
			}
			ev.Fields[k] = s
		}
	}
	return ev
}
