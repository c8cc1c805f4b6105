package routing_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// TestAnswerAndEndTell: the call's progress rides with Answer and End in
// one script run. It is kept as the desk's current call, reaches desks on
// another node through Redis and this node's desks directly, only after an
// answer that succeeded, and after an end whatever its outcome.
func TestAnswerAndEndTell(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	bus := routing.NewDeskBus(e.rdb, e.site)
	r := e.router("a", func(c *routing.Config) { c.DeskBus = bus })
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members("1")}))
	must(t, r.Login(ctx, "1", true))

	// Agent 1's desk is on both nodes (two tabs): a here, b elsewhere.
	here := subscribeDesk(t, bus, "a")
	here.only("1")
	elsewhere := subscribeDesk(t, routing.NewDeskBus(e.rdb, e.site), "b")
	for _, node := range []string{"a", "b"} {
		must(t, bus.SetPresence(ctx, "1", node, time.Minute))
	}
	current := func(agent string) string {
		t.Helper()
		return deskCurrent(t, bus, agent)
	}
	heard := func(in *deskInbox, want ...string) {
		t.Helper()
		deskEventually(t, "desk messages "+strings.Join(want, " "), func() bool { return slices.Equal(in.texts(), want) })
	}

	p := enqueue(t, r, "c1", 0, "q")
	if p.AgentID != "1" {
		t.Fatalf("c1 not offered to agent 1: %+v", p)
	}
	_, err := bus.SetCurrentPop(ctx, "1", "c1", deskMsg("pop", "p1"), time.Minute)
	must(t, err)

	// An answer refused (not this agent's call, no such call) changes
	// nothing and tells nobody.
	mustCode(t, r.AnswerAndTell(ctx, "c1", "2", deskMsg("call", "wrong agent"), time.Minute), ringdesk.ECONFLICT)
	mustCode(t, r.AnswerAndTell(ctx, "c0", "1", deskMsg("call", "wrong call"), time.Minute), ringdesk.ENOTFOUND)
	if got := current("2"); got != "" {
		t.Errorf("after a refused answer, agent 2's current = %q, want none", got)
	}

	must(t, r.AnswerAndTell(ctx, "c1", "1", deskMsg("call", "connected"), time.Minute))
	if got := callOf(t, r, "c1").Status; got != ringdesk.CallOnCall {
		t.Errorf("after AnswerAndTell, call state = %s, want on-call", got)
	}
	if got, want := current("1"), "pop:p1,call:connected"; got != want {
		t.Errorf("after AnswerAndTell, current = %q, want %q", got, want)
	}
	heard(here, "1:p1", "1:connected")
	heard(elsewhere, "1:p1", "1:connected")

	must(t, r.EndAndTell(ctx, "c1", "1", deskMsg("call", "ended"), time.Minute))
	if got := callOf(t, r, "c1").Status; got != ringdesk.CallEnded {
		t.Errorf("after EndAndTell, call state = %s, want ended", got)
	}
	heard(here, "1:p1", "1:connected", "1:ended")
	heard(elsewhere, "1:p1", "1:connected", "1:ended")

	// An end routing refuses (the call has ended) is still told: the SIP
	// call did end.
	mustCode(t, r.EndAndTell(ctx, "c1", "1", deskMsg("call", "ended again"), time.Minute), ringdesk.ECONFLICT)
	heard(here, "1:p1", "1:connected", "1:ended", "1:ended again")
	heard(elsewhere, "1:p1", "1:connected", "1:ended", "1:ended again")

	// Bad input is refused before anything runs.
	mustCode(t, r.AnswerAndTell(ctx, "c1", "1", ringdesk.DeskMessage{Type: "call", V: 1, Payload: []byte("{")}, time.Minute), ringdesk.EINVALID)
	mustCode(t, r.EndAndTell(ctx, "c1", "1", deskMsg("call", "x"), 0), ringdesk.EINVALID)
	mustCode(t, r.EndAndTell(ctx, "c 1", "1", deskMsg("call", "x"), time.Minute), ringdesk.EINVALID)
}

// TestAnswerTellWithoutBus: a Router given no desk bus tells this node's
// desks through Redis, as any other node's.
func TestAnswerTellWithoutBus(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	r := e.router("a")
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members("1")}))
	must(t, r.Login(ctx, "1", true))
	bus := routing.NewDeskBus(e.rdb, e.site)
	in := subscribeDesk(t, bus, "a")
	must(t, bus.SetPresence(ctx, "1", "a", time.Minute))
	enqueue(t, r, "c1", 0, "q")
	must(t, r.AnswerAndTell(ctx, "c1", "1", deskMsg("call", "connected"), time.Minute))
	deskEventually(t, "the progress through Redis", func() bool { return slices.Equal(in.texts(), []string{"1:connected"}) })
}

// TestRouterDeskBusOfItsSite: a desk bus of another site is refused.
func TestRouterDeskBusOfItsSite(t *testing.T) {
	e := newEnv(t)
	_, err := routing.NewRouter(e.rdb, routing.Config{Site: e.site, Node: "a", DeskBus: routing.NewDeskBus(e.rdb, e.site+"x")})
	mustCode(t, err, ringdesk.EINVALID)
}
