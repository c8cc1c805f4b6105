package routing_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

func TestRouter_Snapshot(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "sales", RingTimeout: long, WrapUp: long, Members: members("a1", "a2", "a3", "a4")}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "support", RingTimeout: long, Members: members("a4", "a5")}))
	must(t, r.Login(ctx, "a1", true))
	must(t, r.Login(ctx, "a2", true))
	must(t, r.Login(ctx, "a3", false))
	enqueue(t, r, "c1", 0, "sales") // a1 rings
	enqueue(t, r, "c2", 0, "sales") // a2 rings
	must(t, r.Answer(ctx, "c2", "a2"))
	enqueue(t, r, "c3", 0, "support") // nobody logged in: waits
	time.Sleep(50 * time.Millisecond)
	enqueue(t, r, "c4", 9, "support") // higher priority, younger

	s, err := r.Snapshot(ctx)
	must(t, err)
	if len(s.Queues) != 2 || len(s.Agents) != 5 {
		t.Fatalf("snapshot = %+v", s)
	}
	sales, support := s.Queues[0], s.Queues[1]
	if sales.Name != "sales" || sales.Waiting != 0 || sales.LongestWait != 0 {
		t.Fatalf("sales = %+v", sales)
	}
	want := map[ringdesk.AgentState]int{ringdesk.AgentRinging: 1, ringdesk.AgentOnCall: 1, ringdesk.AgentAway: 1, ringdesk.AgentLoggedOut: 1}
	for st, n := range want {
		if sales.Agents[st] != n {
			t.Fatalf("sales agents = %v, want %v", sales.Agents, want)
		}
	}
	if support.Waiting != 2 || support.LongestWait < 50*time.Millisecond || support.Agents[ringdesk.AgentLoggedOut] != 2 {
		t.Fatalf("support = %+v (longest wait is the oldest call, not the head)", support)
	}
	a1 := s.Agents[0]
	if a1.ID != "a1" || a1.State != ringdesk.AgentRinging || a1.CallID != "c1" || a1.Queue != "sales" || a1.TimeInState <= 0 {
		t.Fatalf("a1 = %+v", a1)
	}
	if a3 := s.Agents[2]; a3.State != ringdesk.AgentAway || a3.Reason != ringdesk.ReasonNotReady {
		t.Fatalf("a3 = %+v", a3)
	}
}

func TestRouter_SubscribeResume(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	events, err := r.Subscribe(ctx, "")
	must(t, err)
	states, err := r.SubscribeKinds(ctx, "", ringdesk.EventAgentState)
	must(t, err)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	must(t, r.Login(ctx, "a1", true))
	enqueue(t, r, "c1", 3, "q")
	must(t, r.Answer(ctx, "c1", "a1"))
	must(t, r.End(ctx, "c1"))

	var kinds []string
	var afterLogin, afterEnqueued string
	var stateEvents []ringdesk.RoutingEvent
	for ev := range events {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == ringdesk.EventAgentState {
			stateEvents = append(stateEvents, ev)
		}
		if ev.Time.IsZero() || ev.ID == "" {
			t.Fatalf("event without id or time: %+v", ev)
		}
		if ev.Kind == ringdesk.EventAgentState && ev.Fields["from"] == "logged-out" {
			afterLogin = ev.ID
		}
		if ev.Kind == ringdesk.EventEnqueued {
			afterEnqueued = ev.ID
		}
		if ev.Kind == ringdesk.EventEnded {
			if ev.CallID != "c1" || ev.AgentID != "a1" || ev.Queue != "q" || ev.Node != "n1" || ev.Fields["result"] != ringdesk.ResultCompleted || ev.Fields["talk_ms"] == "" {
				t.Fatalf("ended = %+v", ev)
			}
			break
		}
	}
	want := []string{"agent-state", "enqueued", "agent-state", "offer", "agent-state", "answered", "ended"}
	if len(kinds) != len(want) {
		t.Fatalf("kinds = %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("kinds = %v, want %v", kinds, want)
		}
	}
	// Resuming after an event id replays exactly what followed it.
	again, err := r.Subscribe(ctx, afterLogin)
	must(t, err)
	if ev := <-again; ev.Kind != ringdesk.EventEnqueued || ev.CallID != "c1" || ev.Fields["priority"] != "3" {
		t.Fatalf("first event after resume = %+v", ev)
	}
	// The enqueue script wrote enqueued, the agent's ringing and the offer
	// as one stream entry: resuming after its first event replays the
	// other two, then what followed.
	if !strings.Contains(afterEnqueued, "#") {
		t.Fatalf("enqueued's id %q does not point inside its entry", afterEnqueued)
	}
	inside, err := r.Subscribe(ctx, afterEnqueued)
	must(t, err)
	for _, want := range []string{ringdesk.EventAgentState, ringdesk.EventOffer, ringdesk.EventAgentState, ringdesk.EventAnswered} {
		if ev := <-inside; ev.Kind != want || ev.CallID != "c1" {
			t.Fatalf("after resuming inside an entry got %+v, want %s", ev, want)
		}
	}
	for _, bad := range []string{"1-0#x", "1-0#-1"} {
		if _, err := r.Subscribe(ctx, bad); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Fatalf("Subscribe(%q) = %v, want EINVALID", bad, err)
		}
	}
	// A subscription to one kind gets the same events of that kind, with
	// the same IDs; resuming inside an entry skips by the entry's count.
	for i, want := range stateEvents {
		if ev := <-states; !reflect.DeepEqual(ev, want) {
			t.Fatalf("agent state %d = %+v, want %+v", i, ev, want)
		}
	}
	statesAfter, err := r.SubscribeKinds(ctx, afterEnqueued, ringdesk.EventAgentState)
	must(t, err)
	if ev := <-statesAfter; !reflect.DeepEqual(ev, stateEvents[1]) {
		t.Fatalf("agent state after resuming inside an entry = %+v, want %+v", ev, stateEvents[1])
	}
	if _, err := r.SubscribeKinds(ctx, ""); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("SubscribeKinds without kinds = %v, want EINVALID", err)
	}
}

// TestSubscribePaced: a subscription reads the event stream at most once
// per EventPace, so events that keep coming arrive in batches, all of
// them and in order; notices are not paced.
func TestSubscribePaced(t *testing.T) {
	e := newEnv(t)
	const pace = 400 * time.Millisecond
	r := e.router("n1", func(c *routing.Config) { c.EventPace = pace })
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	events, err := r.Subscribe(ctx, "")
	must(t, err)
	// Let the subscription's first read block, then change states every
	// 60 ms: 30 script runs, each its own stream entry.
	time.Sleep(50 * time.Millisecond)
	must(t, r.Login(ctx, "a1", false))
	const changes = 30
	go func() {
		for i := range changes - 1 {
			time.Sleep(60 * time.Millisecond)
			if i%2 == 0 {
				_ = r.SetReady(ctx, "a1")
			} else {
				_ = r.SetAway(ctx, "a1", "break")
			}
		}
	}()
	var arrivals []time.Time
	var states []string
	timeout := time.After(10 * time.Second)
	for len(states) < changes {
		select {
		case ev := <-events:
			if ev.Kind == ringdesk.EventAgentState && ev.AgentID == "a1" {
				arrivals = append(arrivals, time.Now())
				states = append(states, ev.Fields["state"])
			}
		case <-timeout:
			t.Fatalf("%d of %d state changes arrived", len(states), changes)
		}
	}
	for i, s := range states {
		want := "away" // login not ready, then ready/away in turn
		if i%2 == 1 {
			want = "available"
		}
		if s != want {
			t.Fatalf("state change %d is %s, want %s (order: %v)", i, s, want, states)
		}
	}
	// Events of one read arrive back to back; unpaced, each change would
	// come on its own, 60 ms after the last.
	reads := 1
	for i := 1; i < len(arrivals); i++ {
		if arrivals[i].Sub(arrivals[i-1]) > 30*time.Millisecond {
			reads++
		}
	}
	if reads > 12 {
		t.Fatalf("%d changes over %v came in %d reads, want about one per %v", changes, arrivals[len(arrivals)-1].Sub(arrivals[0]), reads, pace)
	}
	t.Logf("%d state changes in %d reads", changes, reads)
}
