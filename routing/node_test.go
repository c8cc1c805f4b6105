package routing_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// TestNodeDeath kills one of two nodes while the other is under load and
// checks that the survivor recovers the dead node's calls and agents once
// its heartbeat expires, under each orphan policy.
func TestNodeDeath(t *testing.T) {
	for _, policy := range []string{routing.OrphanEnd, routing.OrphanRequeue} {
		t.Run(policy, func(t *testing.T) { testNodeDeath(t, policy) })
	}
}

func testNodeDeath(t *testing.T, policy string) {
	const ttl = time.Second
	e := newEnv(t)
	cfg := func(c *routing.Config) {
		c.HeartbeatTTL = ttl
		c.OrphanPolicy = policy
		c.EventMaxLen = 1_000_000
	}
	r1 := e.router("n1", cfg)
	rdb2 := routingtest.NewClient(routingtest.Addr())
	t.Cleanup(func() { _ = rdb2.Close() })
	r2 := (&env{t: t, rdb: rdb2, site: e.site}).router("n2", cfg)
	ctx := ctxT(t)
	events := collect(t, r1)

	agents := ids("a", 10)
	must(t, r1.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members(agents...)}))
	for _, a := range agents {
		must(t, r1.Login(ctx, a, true))
	}
	// n2 owns 15 calls: 10 reserved (4 of them answered), 5 waiting.
	n2calls := map[string]bool{}
	var ringing []string
	for _, id := range ids("n2-", 15) {
		p, err := r2.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: []string{"q"}})
		must(t, err)
		n2calls[id] = true
		if p.Status == ringdesk.CallRinging {
			ringing = append(ringing, id)
		}
	}
	if len(ringing) != 10 {
		t.Fatalf("%d calls reserved, want 10", len(ringing))
	}
	onCall := map[string]bool{}
	for _, id := range ringing[:4] {
		must(t, r2.Answer(ctx, id, callOf(t, r1, id).AgentID))
		onCall[id] = true
	}

	// n1 keeps taking calls and serving its offers throughout.
	l := &load{t: t, routers: []*routing.Router{r1}, queues: []string{"q"}, stopAgents: make(chan struct{})}
	lctx, stopLoad := context.WithCancel(context.Background())
	var callers sync.WaitGroup
	l.wg.Add(2)
	callers.Add(1)
	go l.serveOffers(lctx, r1)
	go func() {
		defer callers.Done()
		l.callers(lctx, r1, "n1", 100)
	}()

	time.Sleep(200 * time.Millisecond) // mid-load
	r2.Crash()
	crashed := time.Now()

	// Within the heartbeat TTL (plus ticks), n2's calls are dealt with: under
	// OrphanEnd all end node-lost; under OrphanRequeue the answered ones end
	// node-lost and the rest are n1's to serve.
	eventually(t, 10*ttl, "dead node's calls recovered", func() bool {
		for id := range n2calls {
			c := callOf(t, r1, id)
			if policy == routing.OrphanEnd || onCall[id] {
				if c.Status != ringdesk.CallEnded {
					return false
				}
			} else if c.Node != "n1" && c.Status != ringdesk.CallEnded {
				return false
			}
		}
		return true
	})
	t.Logf("recovered %s after the crash (heartbeat TTL %s, policy %s)", time.Since(crashed).Round(time.Millisecond), ttl, policy)
	for id := range onCall {
		if c := callOf(t, r1, id); c.Result != ringdesk.ResultNodeLost {
			t.Fatalf("answered call %s of dead node = %+v, want node-lost", id, c)
		}
	}

	// Everything n1 holds finishes: callers hang up at their patience,
	// offers are answered and ended.
	callers.Wait()
	all := map[string]bool{}
	l.enqueued.Range(func(k, _ any) bool { all[k.(string)] = true; return true })
	l.patience.Wait()
	for id := range n2calls {
		all[id] = true
	}
	// Calls requeued to n1 have no caller timer: end what is still open.
	drain := context.Background()
	eventually(t, 20*time.Second, "all calls ended", func() bool {
		done := true
		for id := range all {
			c := callOf(t, r1, id)
			switch c.Status {
			case ringdesk.CallEnded:
				continue
			case ringdesk.CallOnCall:
				_ = r1.End(drain, id)
			default:
				_ = r1.Abandon(drain, id)
			}
			done = false
		}
		return done
	})
	stopLoad()
	l.wg.Wait()
	if l.unexpected.Load() > 0 {
		t.Fatalf("%d unexpected errors", l.unexpected.Load())
	}
	last := lastEntry(t, e.rdb, e.site)
	results := audit(t, events(last), all, ringdesk.ResultNodeLost)
	for id, res := range results {
		if res == ringdesk.ResultNodeLost && !n2calls[id] {
			t.Fatalf("call %s of the live node ended node-lost", id)
		}
	}
	mustConsistent(t, e.rdb, e.site)
	for _, a := range agents {
		if ag := agentState(t, r1, a); ag.CallID != "" && ag.State != ringdesk.AgentWrapUp {
			t.Fatalf("agent %s still holds %s (%s)", a, ag.CallID, ag.State)
		}
	}
	var lost int
	for _, ev := range events(last) {
		if ev.Kind == ringdesk.EventNodeLost && ev.Node == "n2" {
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("%d node-lost events for n2, want 1", lost)
	}
}

// TestNodeRestart: a node that comes back under the same id ends the calls
// its previous process owned and frees their agents.
func TestNodeRestart(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, WrapUp: time.Hour, Members: members("a1", "a2")}))
	must(t, r.Login(ctx, "a1", true))
	must(t, r.Login(ctx, "a2", true))
	enqueue(t, r, "ringing", 0, "q")
	enqueue(t, r, "talking", 0, "q")
	must(t, r.Answer(ctx, "talking", callOf(t, r, "talking").AgentID))
	enqueue(t, r, "waiting", 0, "q")
	r.Crash()

	r2 := e.router("n1")
	for _, id := range []string{"ringing", "talking", "waiting"} {
		if c := callOf(t, r2, id); c.Status != ringdesk.CallEnded || c.Result != ringdesk.ResultNodeLost {
			t.Fatalf("call %s = %+v, want ended node-lost", id, c)
		}
	}
	states := map[ringdesk.AgentState]int{}
	for _, a := range []string{"a1", "a2"} {
		ag := agentState(t, r2, a)
		states[ag.State]++
	}
	if states[ringdesk.AgentAvailable] != 1 || states[ringdesk.AgentWrapUp] != 1 {
		t.Fatalf("agent states = %v, want one available, one in wrap-up", states)
	}
	mustConsistent(t, e.rdb, e.site)
}
