package routing_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// load drives routers the way telephony and desks would, at random.
type load struct {
	t       *testing.T
	routers []*routing.Router
	agents  []string
	queues  []string

	stopAgents chan struct{}
	wg         sync.WaitGroup
	patience   sync.WaitGroup // callers' hang-up timers
	answerAll  bool           // answer every offer: no rejects, no ring-outs
	unexpected atomic.Int64
	enqueued   sync.Map // call id -> node
}

// tolerate fails the test for any error but the races the load provokes on
// purpose (ECONFLICT: the call or agent moved on meanwhile).
func (l *load) tolerate(op string, err error) {
	if err == nil || ringdesk.ErrorCode(err) == ringdesk.ECONFLICT {
		return
	}
	if l.unexpected.Add(1) < 10 {
		l.t.Errorf("%s: %v", op, err)
	}
}

// retry runs op again while the store is unavailable, as the telephony
// layer would while Redis restarts, for at most 30 s.
func retry(op func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op()
		if ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveOffers answers most offers and hangs up after a short talk; it
// rejects some and lets some ring out to exercise both RONA paths.
func (l *load) serveOffers(ctx context.Context, r *routing.Router) {
	defer l.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.Notices():
			if ev.Kind != ringdesk.EventOffer {
				continue
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
				n := rand.IntN(100)
				if l.answerAll {
					n = 0
				}
				switch {
				case n < 85:
					if err := retry(func() error { return r.Answer(ctx, ev.CallID, ev.AgentID) }); err != nil {
						l.tolerate("answer", err)
						return
					}
					time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
					l.tolerate("end", retry(func() error { return r.End(ctx, ev.CallID) }))
				case n < 95:
					l.tolerate("reject", retry(func() error { return r.RingNoAnswer(ctx, ev.CallID, ev.AgentID) }))
				default: // ring out: the reaper releases it
				}
			}()
		}
	}
}

// churnAgent flips an agent between ready, away and logged out at random.
func (l *load) churnAgent(id string) {
	defer l.wg.Done()
	ctx := context.Background() // runs until stopAgents, whatever else stops
	for {
		select {
		case <-l.stopAgents:
			return
		case <-time.After(time.Duration(20+rand.IntN(150)) * time.Millisecond):
		}
		r := l.routers[rand.IntN(len(l.routers))]
		a, err := r.FindAgent(ctx, id)
		if err != nil {
			l.tolerate("find agent", err)
			continue
		}
		switch a.State {
		case ringdesk.AgentLoggedOut:
			l.tolerate("login", r.Login(ctx, id, rand.IntN(2) == 0))
		case ringdesk.AgentAway:
			if rand.IntN(10) == 0 {
				l.tolerate("logout", r.Logout(ctx, id))
			} else {
				l.tolerate("ready", r.SetReady(ctx, id))
			}
		case ringdesk.AgentAvailable:
			if rand.IntN(4) == 0 {
				l.tolerate("away", r.SetAway(ctx, id, ringdesk.ReasonBreak))
			}
		case ringdesk.AgentWrapUp:
			l.tolerate("end wrap-up", r.EndWrapUp(ctx, id))
		}
	}
}

// callers enqueue calls at one router; each caller hangs up if not
// answered within its patience.
func (l *load) callers(ctx context.Context, r *routing.Router, prefix string, n int) {
	defer l.wg.Done()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		qs := []string{l.queues[rand.IntN(len(l.queues))]}
		if rand.IntN(3) == 0 {
			if q := l.queues[rand.IntN(len(l.queues))]; q != qs[0] {
				qs = append(qs, q)
			}
		}
		_, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: qs, Priority: rand.IntN(3)})
		if err != nil {
			l.tolerate("enqueue", err)
			continue
		}
		l.enqueued.Store(id, r.Node())
		patience := time.Duration(200+rand.IntN(2500)) * time.Millisecond
		l.patience.Add(1)
		time.AfterFunc(patience, func() {
			defer l.patience.Done()
			l.tolerate("abandon", r.Abandon(context.Background(), id))
		})
		time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
	}
}

// audit replays the event stream, which is in the order the scripts ran,
// and checks that no agent was ever reserved twice at once, no call was
// offered while reserved or ended, and every call ended exactly once,
// completed or abandoned.
func audit(t *testing.T, events []ringdesk.RoutingEvent, calls map[string]bool, allowed ...string) map[string]string {
	t.Helper()
	holding := map[string]string{}   // agent -> call reserved or talking
	callState := map[string]string{} // call -> last routing state
	results := map[string]string{}
	ok := map[string]bool{ringdesk.ResultCompleted: true, ringdesk.ResultAbandoned: true}
	for _, a := range allowed {
		ok[a] = true
	}
	var errs []string
	fail := func(f string, a ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(f, a...))
		}
	}
	for _, ev := range events {
		switch ev.Kind {
		case ringdesk.EventEnqueued:
			callState[ev.CallID] = "waiting"
		case ringdesk.EventOffer:
			if h := holding[ev.AgentID]; h != "" {
				fail("agent %s offered %s while holding %s", ev.AgentID, ev.CallID, h)
			}
			if s := callState[ev.CallID]; s != "waiting" {
				fail("call %s offered while %q", ev.CallID, s)
			}
			holding[ev.AgentID] = ev.CallID
			callState[ev.CallID] = "ringing"
		case ringdesk.EventAnswered:
			if holding[ev.AgentID] != ev.CallID || callState[ev.CallID] != "ringing" {
				fail("call %s answered by %s, who holds %q (call %q)", ev.CallID, ev.AgentID, holding[ev.AgentID], callState[ev.CallID])
			}
			callState[ev.CallID] = "on-call"
		case ringdesk.EventRingNoAnswer:
			if holding[ev.AgentID] == ev.CallID {
				delete(holding, ev.AgentID)
			}
			callState[ev.CallID] = "waiting"
		case ringdesk.EventRequeued:
			callState[ev.CallID] = "waiting"
		case ringdesk.EventEnded:
			if prev, dup := results[ev.CallID]; dup {
				fail("call %s ended twice: %s then %s", ev.CallID, prev, ev.Fields["result"])
			}
			results[ev.CallID] = ev.Fields["result"]
			if !ok[ev.Fields["result"]] {
				fail("call %s ended %s", ev.CallID, ev.Fields["result"])
			}
			if ev.AgentID != "" && holding[ev.AgentID] == ev.CallID {
				delete(holding, ev.AgentID)
			}
			callState[ev.CallID] = "ended"
		}
	}
	for id := range calls {
		if _, ended := results[id]; !ended {
			fail("call %s never ended (last %q)", id, callState[id])
		}
	}
	for a, c := range holding {
		fail("agent %s still holds %s at the end", a, c)
	}
	if len(errs) > 0 {
		if f, err := os.Create(os.TempDir() + "/routing-audit.txt"); err == nil {
			for _, ev := range events {
				fmt.Fprintf(f, "%s %s c=%s a=%s q=%s n=%s %v\n", ev.ID, ev.Kind, ev.CallID, ev.AgentID, ev.Queue, ev.Node, ev.Fields)
			}
			f.Close()
		}
		t.Fatalf("audit of %d events:\n%s", len(events), fmt.Sprint(errs))
	}
	return results
}

// collect subscribes to every event of the site from its start.
func collect(t *testing.T, r ringdesk.Router) func(last string) []ringdesk.RoutingEvent {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := r.Subscribe(ctx, "0-0")
	must(t, err)
	var mu sync.Mutex
	var got []ringdesk.RoutingEvent
	go func() {
		for ev := range ch {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
	}()
	// wait returns the events once the one with ID last (a stream entry's
	// last event) has arrived.
	return func(last string) []ringdesk.RoutingEvent {
		eventually(t, 30*time.Second, "events read up to "+last, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) > 0 && got[len(got)-1].ID == last
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]ringdesk.RoutingEvent(nil), got...)
	}
}

func TestConcurrency_TwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t)
	big := func(c *routing.Config) {
		c.EventMaxLen = 10_000_000
		c.HeartbeatTTL = 10 * time.Second // no node dies here, however slow -race makes them
	}
	r1 := e.router("n1", big)
	// The second node has its own connection pool, like another process,
	// and sends bigger batches (Config.MaxInFlight).
	rdb2 := routingtest.NewClient(routingtest.Addr())
	t.Cleanup(func() { _ = rdb2.Close() })
	e2 := &env{t: t, rdb: rdb2, site: e.site}
	r2 := e2.router("n2", big, func(c *routing.Config) { c.MaxInFlight = 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const nAgents, nCallsPerCaller, nCallersPerNode = 200, 100, 20 // 4,000 calls
	l := &load{t: t, routers: []*routing.Router{r1, r2}, stopAgents: make(chan struct{})}
	l.agents = ids("agent", nAgents)
	strategies := []ringdesk.Strategy{ringdesk.StrategyLongestIdle, ringdesk.StrategyRoundRobin, ringdesk.StrategyFewestCalls, ringdesk.StrategySkills}
	for i, s := range strategies {
		q := &ringdesk.Queue{Name: fmt.Sprintf("q%d", i), Strategy: s, RingTimeout: 300 * time.Millisecond,
			MissedAway: i%2 == 0, TierWiden: 100 * time.Millisecond}
		if i%2 == 1 {
			q.WrapUp = 30 * time.Millisecond
		}
		for j, a := range l.agents {
			if (j+i)%3 != 0 { // each agent in 2-3 queues
				q.Members = append(q.Members, ringdesk.QueueMember{AgentID: a, Tier: j % 3})
			}
		}
		must(t, r1.PutQueue(ctx, q))
		l.queues = append(l.queues, q.Name)
	}
	wait := collect(t, r1)
	for _, r := range l.routers {
		l.wg.Add(1)
		go l.serveOffers(ctx, r)
	}
	for _, a := range l.agents {
		l.wg.Add(1)
		go l.churnAgent(a)
	}
	var callers sync.WaitGroup
	for n, r := range l.routers {
		for c := range nCallersPerNode {
			callers.Add(1)
			l.wg.Add(1)
			go func() {
				defer callers.Done()
				l.callers(ctx, r, fmt.Sprintf("n%d-c%d", n, c), nCallsPerCaller)
			}()
		}
	}
	callers.Wait()
	calls := map[string]bool{}
	l.enqueued.Range(func(k, _ any) bool { calls[k.(string)] = true; return true })
	// Every call ends by itself: answered, or abandoned at the caller's patience.
	eventually(t, 60*time.Second, "all calls ended", func() bool {
		for id := range calls {
			if c, err := r1.FindCall(ctx, id); err != nil || c.Status != ringdesk.CallEnded {
				return false
			}
		}
		return true
	})
	l.patience.Wait()
	close(l.stopAgents)
	cancel()
	l.wg.Wait()
	if l.unexpected.Load() > 0 {
		t.Fatalf("%d unexpected errors", l.unexpected.Load())
	}
	last := lastEntry(t, e.rdb, e.site)
	evs := wait(last)
	results := audit(t, evs, calls)
	count := map[string]int{}
	for _, r := range results {
		count[r]++
	}
	t.Logf("%d calls: %v; %d events", len(calls), count, len(evs))
	if count[ringdesk.ResultCompleted] == 0 || count[ringdesk.ResultAbandoned] == 0 {
		t.Fatalf("load did not exercise both outcomes: %v", count)
	}
	mustConsistent(t, e.rdb, e.site)
	for _, a := range l.agents {
		if ag := agentState(t, r1, a); ag.State == ringdesk.AgentRinging || ag.State == ringdesk.AgentOnCall {
			t.Fatalf("agent %s left %s", a, ag.State)
		}
	}
}

// lastEntry returns the ID of the newest entry of a site's event stream.
func lastEntry(t testing.TB, rdb redis.UniversalClient, site string) string {
	t.Helper()
	m, err := rdb.XRevRangeN(context.Background(), "rd:{"+site+"}:events", "+", "-", 1).Result()
	must(t, err)
	if len(m) == 0 {
		t.Fatal("the event stream is empty")
	}
	return m[0].ID
}
