package routing_test

import (
	"testing"

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
