package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// TestRouter_AgentTransitions drives an agent into every state and tries
// every operation there: legal ones reach the expected state, illegal ones
// fail with their code and change nothing (state and its timestamp).
func TestRouter_AgentTransitions(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	const long = time.Hour // no timer fires during the test

	type op struct {
		name string
		do   func(ctx context.Context, r *routing.Router, agent, call string) error
	}
	ops := []op{
		{"LoginReady", func(ctx context.Context, r *routing.Router, a, _ string) error { return r.Login(ctx, a, true) }},
		{"LoginAway", func(ctx context.Context, r *routing.Router, a, _ string) error { return r.Login(ctx, a, false) }},
		{"Ready", func(ctx context.Context, r *routing.Router, a, _ string) error { return r.SetReady(ctx, a) }},
		{"Away", func(ctx context.Context, r *routing.Router, a, _ string) error {
			return r.SetAway(ctx, a, ringdesk.ReasonLunch)
		}},
		{"Logout", func(ctx context.Context, r *routing.Router, a, _ string) error { return r.Logout(ctx, a) }},
		{"EndWrapUp", func(ctx context.Context, r *routing.Router, a, _ string) error { return r.EndWrapUp(ctx, a) }},
		{"Answer", func(ctx context.Context, r *routing.Router, a, c string) error { return r.Answer(ctx, c, a) }},
		{"RingNoAnswer", func(ctx context.Context, r *routing.Router, a, c string) error { return r.RingNoAnswer(ctx, c, a) }},
		{"End", func(ctx context.Context, r *routing.Router, _, c string) error { return r.End(ctx, c) }},
	}
	// setup brings agent into a state; call is the call it handles, if any.
	setup := map[ringdesk.AgentState]func(agent, call string){
		ringdesk.AgentLoggedOut: func(a, c string) {},
		ringdesk.AgentAvailable: func(a, c string) { must(t, r.Login(ctx, a, true)) },
		ringdesk.AgentAway:      func(a, c string) { must(t, r.Login(ctx, a, false)) },
		ringdesk.AgentRinging: func(a, c string) {
			must(t, r.Login(ctx, a, true))
			enqueue(t, r, c, 0, "q-"+a)
		},
		ringdesk.AgentOnCall: func(a, c string) {
			must(t, r.Login(ctx, a, true))
			enqueue(t, r, c, 0, "q-"+a)
			must(t, r.Answer(ctx, c, a))
		},
		ringdesk.AgentWrapUp: func(a, c string) {
			must(t, r.Login(ctx, a, true))
			enqueue(t, r, c, 0, "q-"+a)
			must(t, r.Answer(ctx, c, a))
			must(t, r.End(ctx, c))
		},
	}
	type want struct {
		state ringdesk.AgentState
		code  string // "" = success
	}
	ok := func(s ringdesk.AgentState) want { return want{s, ""} }
	conflict, notFound := want{code: ringdesk.ECONFLICT}, want{code: ringdesk.ENOTFOUND}
	table := map[ringdesk.AgentState]map[string]want{
		ringdesk.AgentLoggedOut: {"LoginReady": ok(ringdesk.AgentAvailable), "LoginAway": ok(ringdesk.AgentAway),
			"Ready": conflict, "Away": conflict, "Logout": conflict, "EndWrapUp": conflict,
			"Answer": notFound, "RingNoAnswer": notFound, "End": notFound},
		ringdesk.AgentAvailable: {"LoginReady": conflict, "LoginAway": conflict, "Ready": conflict,
			"Away": ok(ringdesk.AgentAway), "Logout": ok(ringdesk.AgentLoggedOut), "EndWrapUp": conflict,
			"Answer": notFound, "RingNoAnswer": notFound, "End": notFound},
		ringdesk.AgentRinging: {"LoginReady": conflict, "LoginAway": conflict, "Ready": conflict, "Away": conflict,
			"Logout": conflict, "EndWrapUp": conflict, "Answer": ok(ringdesk.AgentOnCall),
			"RingNoAnswer": ok(ringdesk.AgentAway), "End": conflict},
		ringdesk.AgentOnCall: {"LoginReady": conflict, "LoginAway": conflict, "Ready": conflict, "Away": conflict,
			"Logout": conflict, "EndWrapUp": conflict, "Answer": conflict, "RingNoAnswer": conflict,
			"End": ok(ringdesk.AgentWrapUp)},
		ringdesk.AgentWrapUp: {"LoginReady": conflict, "LoginAway": conflict, "Ready": ok(ringdesk.AgentAvailable),
			"Away": ok(ringdesk.AgentAway), "Logout": ok(ringdesk.AgentLoggedOut), "EndWrapUp": ok(ringdesk.AgentAvailable),
			"Answer": conflict, "RingNoAnswer": conflict, "End": conflict},
		ringdesk.AgentAway: {"LoginReady": conflict, "LoginAway": conflict, "Ready": ok(ringdesk.AgentAvailable),
			"Away": ok(ringdesk.AgentAway), "Logout": ok(ringdesk.AgentLoggedOut), "EndWrapUp": conflict,
			"Answer": notFound, "RingNoAnswer": notFound, "End": notFound},
	}
	for _, from := range ringdesk.AgentStates() {
		for _, o := range ops {
			t.Run(fmt.Sprintf("%s/%s", from, o.name), func(t *testing.T) {
				agent := fmt.Sprintf("a-%s-%s", from, o.name)
				call := "c-" + agent
				must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q-" + agent, RingTimeout: long, WrapUp: long,
					MissedAway: true, Members: members(agent)}))
				setup[from](agent, call)
				before := agentState(t, r, agent)
				if before.State != from {
					t.Fatalf("setup reached %s, want %s", before.State, from)
				}
				w := table[from][o.name]
				err := o.do(ctx, r, agent, call)
				after := agentState(t, r, agent)
				if w.code != "" {
					mustCode(t, err, w.code)
					if after.State != before.State || !after.Since.Equal(before.Since) || after.CallID != before.CallID {
						t.Fatalf("refused %s changed the agent: %+v -> %+v", o.name, before, after)
					}
					return
				}
				must(t, err)
				if after.State != w.state {
					t.Fatalf("state after %s = %s, want %s", o.name, after.State, w.state)
				}
				if !ringdesk.CanTransition(from, after.State) {
					t.Fatalf("engine made illegal move %s -> %s", from, after.State)
				}
			})
		}
	}
}

func TestRouter_AgentInvalidInput(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	mustCode(t, r.Login(ctx, "", true), ringdesk.EINVALID)
	mustCode(t, r.Login(ctx, "a b", true), ringdesk.EINVALID)
	must(t, r.Login(ctx, "a1", true))
	mustCode(t, r.SetAway(ctx, "a1", ""), ringdesk.EINVALID)
	mustCode(t, r.SetAway(ctx, "a1", "two words"), ringdesk.EINVALID)
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAvailable {
		t.Fatalf("agent = %+v", a)
	}
	if a := agentState(t, r, "never-seen"); a.State != ringdesk.AgentLoggedOut {
		t.Fatalf("unknown agent = %+v", a)
	}
	must(t, r.SetAway(ctx, "a1", ringdesk.ReasonBreak))
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAway || a.Reason != ringdesk.ReasonBreak {
		t.Fatalf("agent = %+v", a)
	}
	must(t, r.SetAway(ctx, "a1", ringdesk.ReasonTraining))
	if a := agentState(t, r, "a1"); a.Reason != ringdesk.ReasonTraining {
		t.Fatalf("reason change not kept: %+v", a)
	}
	_, err := routing.NewRouter(e.rdb, routing.Config{Site: "a{b", Node: "n"})
	mustCode(t, err, ringdesk.EINVALID)
	_, err = routing.NewRouter(e.rdb, routing.Config{Site: "s", Node: "n", OrphanPolicy: "drop"})
	mustCode(t, err, ringdesk.EINVALID)
}
