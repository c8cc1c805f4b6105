package routing_test

import (
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
)

func TestRouter_CallFlow(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "sales", Members: members("a1")}))
	must(t, r.Login(ctx, "a1", true))

	p := enqueue(t, r, "c1", 0, "sales")
	if p.Status != ringdesk.CallRinging {
		t.Fatalf("placement = %+v, want ringing", p)
	}
	ev := nextNotice(t, r, ringdesk.EventOffer)
	if ev.CallID != "c1" || ev.AgentID != "a1" || ev.Queue != "sales" || ev.Node != "n1" {
		t.Fatalf("offer = %+v", ev)
	}
	if got := agentState(t, r, "a1"); got.State != ringdesk.AgentRinging || got.CallID != "c1" {
		t.Fatalf("agent = %+v", got)
	}
	must(t, r.Answer(ctx, "c1", "a1"))
	if got := agentState(t, r, "a1"); got.State != ringdesk.AgentOnCall || got.CallsToday != 1 {
		t.Fatalf("agent = %+v", got)
	}
	must(t, r.End(ctx, "c1"))
	if got := agentState(t, r, "a1"); got.State != ringdesk.AgentAvailable {
		t.Fatalf("agent = %+v", got)
	}
	if c := callOf(t, r, "c1"); c.Status != ringdesk.CallEnded || c.Result != ringdesk.ResultCompleted {
		t.Fatalf("call = %+v", c)
	}
	mustCode(t, r.End(ctx, "c1"), ringdesk.ECONFLICT)
	mustCode(t, r.Abandon(ctx, "c1"), ringdesk.ECONFLICT)
	mustCode(t, r.Answer(ctx, "nope", "a1"), ringdesk.ENOTFOUND)
	_, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c1", Queues: []string{"sales"}})
	mustCode(t, err, ringdesk.ECONFLICT)
	_, err = r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c2", Queues: []string{"nosuch"}})
	mustCode(t, err, ringdesk.ENOTFOUND)
}

// TestRouter_OfferGoesToOwningNode: whichever node runs the match, the
// offer is delivered to the node that owns the call, and only there.
func TestRouter_OfferGoesToOwningNode(t *testing.T) {
	e := newEnv(t)
	r1, r2 := e.router("n1"), e.router("n2")
	ctx := ctxT(t)
	must(t, r1.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	must(t, r1.Login(ctx, "a1", false))
	// Enqueued through n1 on behalf of n2 (which holds the SIP dialog).
	_, err := r1.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c1", Queues: []string{"q"}, Node: "n2"})
	must(t, err)
	// The agent goes ready through n1: n1's script makes the match.
	must(t, r1.SetReady(ctx, "a1"))
	ev := nextNotice(t, r2, ringdesk.EventOffer)
	if ev.CallID != "c1" || ev.AgentID != "a1" || ev.Node != "n2" {
		t.Fatalf("offer at n2 = %+v", ev)
	}
	must(t, r2.Answer(ctx, "c1", "a1"))
	must(t, r2.End(ctx, "c1"))
	// n1's inbox is ordered: had c1's offer gone there too, it would come
	// before the offer of n1's own call c2.
	enqueue(t, r1, "c2", 0, "q")
	select {
	case ev := <-r1.Notices():
		if ev.CallID != "c2" || ev.Kind != ringdesk.EventOffer {
			t.Fatalf("first notice at n1 = %+v, want the offer of its own call c2", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no offer at n1 for its own call")
	}
}
