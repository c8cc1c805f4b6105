package routing_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

const long = time.Hour // a timer that never fires during a test

// handle answers and ends a call at its reserved agent and returns the agent.
func handle(t *testing.T, r ringdesk.Router, callID string) string {
	t.Helper()
	c := callOf(t, r, callID)
	if c.Status != ringdesk.CallRinging {
		t.Fatalf("call %s = %+v, want ringing", callID, c)
	}
	ctx := ctxT(t)
	must(t, r.Answer(ctx, callID, c.AgentID))
	must(t, r.End(ctx, callID))
	return c.AgentID
}

func loginInOrder(t *testing.T, r ringdesk.Router, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, r.Login(ctxT(t), id, true))
		time.Sleep(3 * time.Millisecond) // distinct idle-since milliseconds
	}
}

func TestStrategy_LongestIdle(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	must(t, r.PutQueue(ctxT(t), &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1", "a2", "a3")}))
	loginInOrder(t, r, "a2", "a3", "a1")
	for i, want := range []string{"a2", "a3", "a1"} {
		id := ids("c", 3)[i]
		enqueue(t, r, id, 0, "q")
		if got := callOf(t, r, id).AgentID; got != want {
			t.Fatalf("call %d went to %s, want %s", i, got, want)
		}
	}
	// a3 finishes first, so it has been idle longest when c3 comes.
	ctx := ctxT(t)
	must(t, r.Answer(ctx, "c1", "a3"))
	must(t, r.Answer(ctx, "c0", "a2"))
	must(t, r.End(ctx, "c1"))
	time.Sleep(3 * time.Millisecond)
	must(t, r.End(ctx, "c0"))
	enqueue(t, r, "c3", 0, "q")
	if got := callOf(t, r, "c3").AgentID; got != "a3" {
		t.Fatalf("c3 went to %s, want a3", got)
	}
}

func TestStrategy_RoundRobinMemory(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	must(t, r.PutQueue(ctxT(t), &ringdesk.Queue{Name: "q", Strategy: ringdesk.StrategyRoundRobin, RingTimeout: long,
		Members: members("a1", "a2", "a3")}))
	loginInOrder(t, r, "a3", "a2", "a1") // longest-idle would start with a3
	want := []string{"a1", "a2", "a3", "a1", "a2"}
	for i, id := range ids("c", len(want)) {
		enqueue(t, r, id, 0, "q")
		if got := handle(t, r, id); got != want[i] {
			t.Fatalf("call %d went to %s, want %s", i, got, want[i])
		}
	}
	// Memory skips an agent who is away: after a2, a3 is away, so a1.
	must(t, r.SetAway(ctxT(t), "a3", ringdesk.ReasonBreak))
	enqueue(t, r, "d0", 0, "q")
	if got := handle(t, r, "d0"); got != "a1" {
		t.Fatalf("went to %s, want a1", got)
	}
}

func TestStrategy_FewestCalls(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	must(t, r.PutQueue(ctxT(t), &ringdesk.Queue{Name: "q", Strategy: ringdesk.StrategyFewestCalls, RingTimeout: long,
		Members: members("a1", "a2", "a3")}))
	loginInOrder(t, r, "a1")
	enqueue(t, r, "c0", 0, "q")
	handle(t, r, "c0")
	enqueue(t, r, "c1", 0, "q")
	handle(t, r, "c1") // a1 has 2 calls today
	loginInOrder(t, r, "a2")
	enqueue(t, r, "c2", 0, "q")
	if got := handle(t, r, "c2"); got != "a2" {
		t.Fatalf("c2 went to %s, want a2", got)
	}
	loginInOrder(t, r, "a3") // idle the shortest, but no calls yet
	enqueue(t, r, "c3", 0, "q")
	if got := handle(t, r, "c3"); got != "a3" {
		t.Fatalf("c3 went to %s, want a3", got)
	}
	// a2 and a3 both have 1 call; a2 has been idle longer.
	enqueue(t, r, "c4", 0, "q")
	if got := handle(t, r, "c4"); got != "a2" {
		t.Fatalf("c4 went to %s, want a2", got)
	}
	if a := agentState(t, r, "a1"); a.CallsToday != 2 {
		t.Fatalf("a1 calls today = %d", a.CallsToday)
	}
}

func TestStrategy_SkillsTiers(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	q := &ringdesk.Queue{Name: "q", Strategy: ringdesk.StrategySkills, RingTimeout: long, TierWiden: long,
		Members: []ringdesk.QueueMember{{AgentID: "expert", Tier: 0}, {AgentID: "junior", Tier: 1}}}
	must(t, r.PutQueue(ctx, q))

	t.Run("BestTierFirst", func(t *testing.T) {
		loginInOrder(t, r, "junior", "expert") // junior idle longer
		enqueue(t, r, "c0", 0, "q")
		if got := handle(t, r, "c0"); got != "expert" {
			t.Fatalf("went to %s, want expert", got)
		}
	})
	t.Run("LowerTierWaitsForWidening", func(t *testing.T) {
		must(t, r.SetAway(ctx, "expert", ringdesk.ReasonBreak))
		p := enqueue(t, r, "c1", 0, "q")
		if p.Status != ringdesk.CallWaiting || p.Position != 1 {
			t.Fatalf("placement = %+v, want waiting at 1", p)
		}
		must(t, r.SetAway(ctx, "junior", ringdesk.ReasonBreak))
		must(t, r.SetReady(ctx, "junior"))
		if a := agentState(t, r, "junior"); a.State != ringdesk.AgentAvailable {
			t.Fatalf("junior = %+v, want available (tier not open yet)", a)
		}
		must(t, r.SetReady(ctx, "expert"))
		if c := callOf(t, r, "c1"); c.AgentID != "expert" {
			t.Fatalf("c1 = %+v, want offered to expert", c)
		}
		handle(t, r, "c1")
	})
	t.Run("WidenByTimer", func(t *testing.T) {
		q.TierWiden = 300 * time.Millisecond
		must(t, r.PutQueue(ctx, q))
		must(t, r.SetAway(ctx, "expert", ringdesk.ReasonBreak))
		if p := enqueue(t, r, "c2", 0, "q"); p.Status != ringdesk.CallWaiting {
			t.Fatalf("placement = %+v, want waiting: junior is tier 1", p)
		}
		// The reaper's sweep offers it to junior once a widen has passed.
		eventually(t, 10*time.Second, "c2 offered to junior", func() bool {
			return callOf(t, r, "c2").AgentID == "junior"
		})
		handle(t, r, "c2")
	})
	t.Run("WidenOnAgentReady", func(t *testing.T) {
		must(t, r.SetAway(ctx, "junior", ringdesk.ReasonBreak))
		enqueue(t, r, "c3", 0, "q")
		time.Sleep(400 * time.Millisecond) // longer than one widen
		must(t, r.SetReady(ctx, "junior"))
		if a := agentState(t, r, "junior"); a.State != ringdesk.AgentRinging || a.CallID != "c3" {
			t.Fatalf("junior = %+v, want ringing for c3", a)
		}
	})
}

func TestQueue_MultiQueueCall(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q1", RingTimeout: long, Members: members("a1")}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q2", RingTimeout: long, Members: members("a2")}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "both", RingTimeout: long, Members: members("a1", "a2")}))
	must(t, r.Login(ctx, "a1", false))
	must(t, r.Login(ctx, "a2", false))
	p := enqueue(t, r, "c1", 0, "q1", "q2")
	if p.Status != ringdesk.CallWaiting || p.Queue != "q1" || p.Position != 1 {
		t.Fatalf("placement = %+v", p)
	}
	enqueue(t, r, "c2", 0, "q2")
	must(t, r.SetReady(ctx, "a2"))
	if c := callOf(t, r, "c1"); c.AgentID != "a2" || c.Queue != "q2" {
		t.Fatalf("c1 = %+v, want offered to a2 from q2", c)
	}
	snap, err := r.Snapshot(ctx)
	must(t, err)
	for _, q := range snap.Queues {
		if want := map[string]int{"q1": 0, "q2": 1, "both": 0}[q.Name]; q.Waiting != want {
			t.Fatalf("queue %s waiting = %d, want %d", q.Name, q.Waiting, want)
		}
	}
	_, err = r.Position(ctx, "c1")
	mustCode(t, err, ringdesk.ECONFLICT)

	// An agent in several queues takes the best call among them: priority
	// first, then age.
	enqueue(t, r, "c3", 0, "q1")
	enqueue(t, r, "c4", 5, "both")
	must(t, r.SetReady(ctx, "a1"))
	if c := callOf(t, r, "c4"); c.AgentID != "a1" {
		t.Fatalf("c4 = %+v, want a1 (higher priority)", c)
	}
}

func TestQueue_PriorityPositionEstimatedWait(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1", "a2")}))
	must(t, r.Login(ctx, "a1", false))
	must(t, r.Login(ctx, "a2", false))
	order := []struct {
		id   string
		prio int
	}{{"low1", 0}, {"high", 5}, {"low2", 0}, {"top", 9}}
	for _, c := range order {
		enqueue(t, r, c.id, c.prio, "q")
	}
	want := map[string]int{"top": 1, "high": 2, "low1": 3, "low2": 4}
	var prev time.Duration
	for _, id := range []string{"top", "high", "low1", "low2"} {
		pos, err := r.Position(ctx, id)
		must(t, err)
		if pos != want[id] {
			t.Fatalf("position of %s = %d, want %d", id, pos, want[id])
		}
		ewt, err := r.EstimatedWait(ctx, id)
		must(t, err)
		if ewt <= prev {
			t.Fatalf("estimated wait of %s = %v, not after %v", id, ewt, prev)
		}
		prev = ewt
	}
	must(t, r.SetReady(ctx, "a1"))
	if c := callOf(t, r, "top"); c.AgentID != "a1" {
		t.Fatalf("top = %+v", c)
	}
	if pos, _ := r.Position(ctx, "low2"); pos != 3 {
		t.Fatalf("low2 moved to %d, want 3", pos)
	}
	_, err := r.Position(ctx, "nosuch")
	mustCode(t, err, ringdesk.ENOTFOUND)
	_, err = r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "bad", Queues: []string{"q"}, Priority: 100})
	mustCode(t, err, ringdesk.EINVALID)
	_, err = r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "bad", Queues: []string{"q", "q"}})
	mustCode(t, err, ringdesk.EINVALID)
	_, err = r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "bad"})
	mustCode(t, err, ringdesk.EINVALID)
}

func TestQueue_RingNoAnswer(t *testing.T) {
	t.Run("TimeoutMissedAway", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: 200 * time.Millisecond, MissedAway: true,
			Members: members("a1", "a2")}))
		loginInOrder(t, r, "a1")
		must(t, r.Login(ctx, "a2", false))
		enqueue(t, r, "c1", 0, "q")
		nextNotice(t, r, ringdesk.EventOffer)
		ev := nextNotice(t, r, ringdesk.EventRingNoAnswer) // sent by the reaper
		if ev.CallID != "c1" || ev.AgentID != "a1" || ev.Fields["reason"] != "timeout" {
			t.Fatalf("notice = %+v", ev)
		}
		if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAway || a.Reason != ringdesk.ReasonMissedCall {
			t.Fatalf("a1 = %+v, want away/missed-call", a)
		}
		mustCode(t, r.Answer(ctx, "c1", "a1"), ringdesk.ECONFLICT) // too late
		must(t, r.SetReady(ctx, "a2"))
		c := callOf(t, r, "c1")
		if c.AgentID != "a2" || c.Offers != 2 {
			t.Fatalf("c1 = %+v, want second offer to a2", c)
		}
	})
	t.Run("TimeoutStaysAvailable", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: 200 * time.Millisecond, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", true))
		enqueue(t, r, "c1", 0, "q")
		eventually(t, 10*time.Second, "re-offered", func() bool { return callOf(t, r, "c1").Offers >= 2 })
		if a := agentState(t, r, "a1"); a.State != ringdesk.AgentRinging && a.State != ringdesk.AgentAvailable {
			t.Fatalf("a1 = %+v", a)
		}
	})
	t.Run("RejectBackToHead", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, MissedAway: true, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", true))
		enqueue(t, r, "c1", 0, "q")
		enqueue(t, r, "c2", 0, "q")
		mustCode(t, r.RingNoAnswer(ctx, "c1", "a2"), ringdesk.ECONFLICT)
		must(t, r.RingNoAnswer(ctx, "c1", "a1"))
		if pos, err := r.Position(ctx, "c1"); err != nil || pos != 1 {
			t.Fatalf("c1 position = %d, %v; want 1", pos, err)
		}
		if pos, _ := r.Position(ctx, "c2"); pos != 2 {
			t.Fatalf("c2 position = %d, want 2", pos)
		}
		mustCode(t, r.RingNoAnswer(ctx, "c1", "a1"), ringdesk.ECONFLICT)
	})
}

func TestQueue_Abandon(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	events, err := r.Subscribe(ctx, "")
	must(t, err)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	must(t, r.Login(ctx, "a1", false))
	enqueue(t, r, "waiting", 0, "q")
	time.Sleep(20 * time.Millisecond)
	must(t, r.Abandon(ctx, "waiting"))
	if c := callOf(t, r, "waiting"); c.Status != ringdesk.CallEnded || c.Result != ringdesk.ResultAbandoned {
		t.Fatalf("call = %+v", c)
	}
	mustCode(t, r.Abandon(ctx, "waiting"), ringdesk.ECONFLICT)
	for ev := range events {
		if ev.Kind == ringdesk.EventAbandoned {
			if ev.CallID != "waiting" || ev.Queue != "q" || ev.Fields["wait_ms"] == "" || ev.Fields["wait_ms"] == "0" {
				t.Fatalf("abandon event = %+v", ev)
			}
			break
		}
	}
	// Abandoned while ringing: the agent is free again.
	must(t, r.SetReady(ctx, "a1"))
	enqueue(t, r, "ringing", 0, "q")
	must(t, r.Abandon(ctx, "ringing"))
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAvailable || a.CallID != "" {
		t.Fatalf("a1 = %+v", a)
	}
	mustCode(t, r.Answer(ctx, "ringing", "a1"), ringdesk.ECONFLICT)
}

func TestQueue_Overflow(t *testing.T) {
	t.Run("MaxWaitToQueue", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "backup", RingTimeout: long, Members: members("b1")}))
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, MaxWait: 200 * time.Millisecond,
			Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "backup"}, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", false))
		must(t, r.Login(ctx, "b1", true))
		if p := enqueue(t, r, "c1", 0, "q"); p.Status != ringdesk.CallWaiting {
			t.Fatalf("placement = %+v", p)
		}
		ev := nextNotice(t, r, ringdesk.EventOverflow)
		if ev.CallID != "c1" || ev.Fields["reason"] != "max-wait" || ev.Fields["to"] != "backup" {
			t.Fatalf("overflow = %+v", ev)
		}
		eventually(t, 5*time.Second, "offered to b1", func() bool { return callOf(t, r, "c1").AgentID == "b1" })
	})
	t.Run("MaxWaitCallback", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", MaxWait: 200 * time.Millisecond,
			Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", false))
		_, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c1", Queues: []string{"q"}, CallerE164: "+4930123"})
		must(t, err)
		ev := nextNotice(t, r, ringdesk.EventOverflow)
		if ev.Fields["result"] != ringdesk.ResultCallback || ev.Fields["caller"] != "+4930123" {
			t.Fatalf("overflow = %+v", ev)
		}
		if c := callOf(t, r, "c1"); c.Status != ringdesk.CallEnded || c.Result != ringdesk.ResultCallback {
			t.Fatalf("call = %+v", c)
		}
	})
	t.Run("MaxWaitNoOverflowTimesOut", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", MaxWait: 200 * time.Millisecond, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", false))
		enqueue(t, r, "c1", 0, "q")
		ev := nextNotice(t, r, ringdesk.EventEnded)
		if ev.CallID != "c1" || ev.Fields["result"] != ringdesk.ResultTimeout {
			t.Fatalf("ended = %+v", ev)
		}
	})
	t.Run("NoAgentsAtEnqueue", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "backup", RingTimeout: long, Members: members("b1")}))
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "backup"},
			Members: members("a1")}))
		must(t, r.Login(ctx, "b1", false))
		p := enqueue(t, r, "c1", 0, "q")
		if p.Status != ringdesk.CallWaiting || p.Queue != "backup" || p.Position != 1 {
			t.Fatalf("placement = %+v, want waiting in backup", p)
		}
		// Nobody logged in anywhere, callback configured: ends at once.
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "cb", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}, Members: members("x")}))
		p = enqueue(t, r, "c2", 0, "cb")
		if p.Status != ringdesk.CallEnded || p.Result != ringdesk.ResultCallback {
			t.Fatalf("placement = %+v, want callback", p)
		}
	})
	t.Run("LastAgentLogsOut", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", false))
		enqueue(t, r, "c1", 0, "q")
		must(t, r.Logout(ctx, "a1"))
		eventually(t, 5*time.Second, "callback", func() bool { return callOf(t, r, "c1").Result == ringdesk.ResultCallback })
	})
	t.Run("Full", func(t *testing.T) {
		e := newEnv(t)
		r := e.router("n1")
		ctx := ctxT(t)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", MaxLen: 1, Members: members("a1")}))
		must(t, r.Login(ctx, "a1", false))
		enqueue(t, r, "c1", 0, "q")
		_, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c2", Queues: []string{"q"}})
		mustCode(t, err, ringdesk.EUNAVAILABLE)
		if _, err := r.FindCall(ctx, "c2"); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Fatalf("refused call was stored: %v", err)
		}
		// Overflow to a queue that does not exist: refused too, not lost.
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", MaxLen: 1, Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "gone"}, Members: members("a1")}))
		_, err = r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c2", Queues: []string{"q"}})
		mustCode(t, err, ringdesk.EUNAVAILABLE)
		must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", MaxLen: 1, Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}, Members: members("a1")}))
		p := enqueue(t, r, "c3", 0, "q")
		if p.Status != ringdesk.CallEnded || p.Result != ringdesk.ResultCallback {
			t.Fatalf("placement = %+v", p)
		}
	})
}

func TestQueue_WrapUp(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, WrapUp: 200 * time.Millisecond, Members: members("a1")}))
	must(t, r.Login(ctx, "a1", true))
	// The desk shows the call through wrap-up; the agent is done with it
	// when wrap-up ends, by the timer or by the agent: a desk connecting
	// then gets no call.
	desk := "rd:{" + e.site + "}:desk:current:a1"
	deskCall := func() bool { return e.rdb.Exists(ctx, desk).Val() == 1 }
	enqueue(t, r, "c1", 0, "q")
	e.rdb.HSet(ctx, desk, "call", "c1")
	handle(t, r, "c1")
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentWrapUp || a.CallID != "c1" {
		t.Fatalf("a1 = %+v", a)
	}
	enqueue(t, r, "c2", 0, "q") // waits for the wrap-up timer
	eventually(t, 5*time.Second, "offered after wrap-up", func() bool { return callOf(t, r, "c2").AgentID == "a1" })
	if deskCall() {
		t.Error("the desk still holds c1 after the wrap-up timer ended it")
	}
	e.rdb.HSet(ctx, desk, "call", "c2")
	handle(t, r, "c2")
	must(t, r.EndWrapUp(ctx, "a1"))
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAvailable {
		t.Fatalf("a1 = %+v", a)
	}
	if deskCall() {
		t.Error("the desk still holds c2 after EndWrapUp")
	}
	q, err := r.FindQueue(ctx, "q")
	must(t, err)
	if q.WrapUp != 200*time.Millisecond || len(q.Members) != 1 || q.Strategy != ringdesk.StrategyLongestIdle {
		t.Fatalf("queue = %+v", q)
	}
	_, err = r.FindQueue(ctx, "nosuch")
	mustCode(t, err, ringdesk.ENOTFOUND)
}

func TestQueue_PutQueueMembership(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	must(t, r.Login(ctx, "a1", true))
	must(t, r.Login(ctx, "a2", true)) // not a member yet
	enqueue(t, r, "c1", 0, "q")
	must(t, r.Answer(ctx, "c1", "a1"))
	p := enqueue(t, r, "c2", 0, "q")
	if p.Status != ringdesk.CallWaiting {
		t.Fatalf("placement = %+v", p)
	}
	// Adding an available agent offers the waiting call at once.
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1", "a2")}))
	if c := callOf(t, r, "c2"); c.AgentID != "a2" {
		t.Fatalf("c2 = %+v, want offered to new member a2", c)
	}
	// Removing a member takes it out of the queue's indexes.
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a2")}))
	must(t, r.End(ctx, "c1"))
	enqueue(t, r, "c3", 0, "q")
	if c := callOf(t, r, "c3"); c.Status != ringdesk.CallWaiting {
		t.Fatalf("c3 = %+v, want waiting: a1 is no member any more", c)
	}
	if a := agentState(t, r, "a1"); len(a.Queues) != 0 {
		t.Fatalf("a1 queues = %v", a.Queues)
	}
	q, err := r.FindQueue(ctx, "q")
	must(t, err)
	if len(q.Members) != 1 || q.Members[0].AgentID != "a2" {
		t.Fatalf("members = %+v", q.Members)
	}
	mustConsistent(t, e.rdb, e.site)
}

func TestQueue_StaleIndexEntryIsDropped(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1", "a2")}))
	must(t, r.Login(ctx, "a1", false))
	must(t, r.Login(ctx, "a2", true))
	// Corrupt the index by hand: a1 is away but listed as available first.
	must(t, e.rdb.ZAdd(ctx, "rd:{"+e.site+"}:q:q:avail", redis.Z{Score: 0, Member: "a1"}).Err())
	enqueue(t, r, "c1", 0, "q")
	if c := callOf(t, r, "c1"); c.AgentID != "a2" {
		t.Fatalf("c1 = %+v, want a2", c)
	}
	mustConsistent(t, e.rdb, e.site)
}

// With RequireDesk, calls go only to agents whose desk is connected: an
// available agent without one is set away (no-desk) when a call would have
// gone to it, and gets calls again once its desk is back and it is ready.
func TestQueue_RequireDesk(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1", func(c *routing.Config) { c.RequireDesk = true })
	ctx := ctxT(t)
	bus := routing.NewDeskBus(e.rdb, e.site)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1", "a2", "a3")}))
	loginInOrder(t, r, "a1", "a2", "a3") // a1 has been idle longest
	must(t, bus.SetPresence(ctx, "a2", "n1", time.Minute))

	enqueue(t, r, "c1", 0, "q")
	if got := callOf(t, r, "c1").AgentID; got != "a2" {
		t.Fatalf("c1 went to %q, want a2 (the only one with a desk); a1=%+v a2=%+v", got, agentState(t, r, "a1"), agentState(t, r, "a2"))
	}
	if a := agentState(t, r, "a1"); a.State != ringdesk.AgentAway || a.Reason != ringdesk.ReasonNoDesk {
		t.Fatalf("a1 = %s/%s, want away/no-desk", a.State, a.Reason)
	}
	if a := agentState(t, r, "a3"); a.State != ringdesk.AgentAvailable {
		t.Fatalf("a3 = %s, want available: it was not looked at", a.State)
	}

	// Nobody else has a desk: the next call waits, and a3 goes away too.
	enqueue(t, r, "c2", 0, "q")
	if c := callOf(t, r, "c2"); c.Status != ringdesk.CallWaiting {
		t.Fatalf("c2 = %+v, want waiting", c)
	}
	if a := agentState(t, r, "a3"); a.State != ringdesk.AgentAway || a.Reason != ringdesk.ReasonNoDesk {
		t.Fatalf("a3 = %s/%s, want away/no-desk", a.State, a.Reason)
	}

	// Ready without a desk does not take the call either.
	must(t, r.SetReady(ctx, "a1"))
	if c := callOf(t, r, "c2"); c.Status != ringdesk.CallWaiting {
		t.Fatalf("c2 = %+v after a deskless ready, want waiting", c)
	}
	// a1's desk connects and it says ready: it gets c2.
	must(t, bus.SetPresence(ctx, "a1", "n1", time.Minute))
	must(t, r.SetReady(ctx, "a1"))
	if got := callOf(t, r, "c2").AgentID; got != "a1" {
		t.Fatalf("c2 went to %q, want a1", got)
	}

	// Without RequireDesk the same deskless agent is offered calls.
	e2 := newEnv(t)
	r2 := e2.router("n1")
	must(t, r2.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: long, Members: members("a1")}))
	loginInOrder(t, r2, "a1")
	enqueue(t, r2, "c1", 0, "q")
	if got := callOf(t, r2, "c1").AgentID; got != "a1" {
		t.Fatalf("without RequireDesk c1 went to %q, want a1", got)
	}
}

// TestEnqueue_OfferedAtOnce: a call that finds an agent free comes back
// from Enqueue ringing, with the agent and the queue's ring time, on the
// fast path (longest-idle) and through the library (round-robin, and an
// overflow to a queue with another ring time); the owner's notice carries
// the same offer, attempt 1, unless Config.OfferInReply says the reply
// suffices: then no notice comes, except for a call owned by another node.
func TestEnqueue_OfferedAtOnce(t *testing.T) {
	for _, reply := range []bool{false, true} {
		t.Run(fmt.Sprintf("OfferInReply=%v", reply), func(t *testing.T) { testOfferedAtOnce(t, reply) })
	}
}

func testOfferedAtOnce(t *testing.T, reply bool) {
	e := newEnv(t)
	r := e.router("n1", func(c *routing.Config) { c.OfferInReply = reply })
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "fast", RingTimeout: 7 * time.Second, Members: members("a1")}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "rr", Strategy: ringdesk.StrategyRoundRobin, RingTimeout: 9 * time.Second, Members: members("a2")}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "empty", RingTimeout: 3 * time.Second,
		Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: "over"}}))
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "over", RingTimeout: 11 * time.Second, Members: members("a3")}))
	for _, a := range []string{"a1", "a2", "a3"} {
		must(t, r.Login(ctx, a, true))
	}
	for _, tc := range []struct {
		call, queue, agent, inQueue string
		ring                        time.Duration
	}{
		{"c1", "fast", "a1", "fast", 7 * time.Second},
		{"c2", "rr", "a2", "rr", 9 * time.Second},
		{"c3", "empty", "a3", "over", 11 * time.Second},
	} {
		p := enqueue(t, r, tc.call, 0, tc.queue)
		if p.Status != ringdesk.CallRinging || p.AgentID != tc.agent || p.Queue != tc.inQueue || p.RingTimeout != tc.ring {
			t.Fatalf("%s: placement %+v, want ringing at %s in %s for %v", tc.call, p, tc.agent, tc.inQueue, tc.ring)
		}
		if reply {
			continue
		}
		select {
		case ev := <-r.Notices():
			if ev.Kind != ringdesk.EventOffer || ev.CallID != tc.call || ev.AgentID != tc.agent || ev.Fields["attempt"] != "1" ||
				ev.Fields["ring_ms"] != strconv.FormatInt(tc.ring.Milliseconds(), 10) {
				t.Fatalf("%s: notice %+v, want its offer, attempt 1", tc.call, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no offer notice", tc.call)
		}
	}
	// Released, c1 is offered again (a1 is free again), and that offer is
	// a notice whatever the config: the next notice, with no attempt 1
	// before it.
	must(t, r.RingNoAnswer(ctx, "c1", "a1"))
	select {
	case ev := <-r.Notices():
		if ev.Kind != ringdesk.EventOffer || ev.CallID != "c1" || ev.Fields["attempt"] != "2" {
			t.Fatalf("after RingNoAnswer(c1): notice %+v, want c1's second offer", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("c1 was not offered again")
	}
	if p := enqueue(t, r, "c4", 0, "fast"); p.Status != ringdesk.CallWaiting || p.AgentID != "" || p.RingTimeout != 0 {
		t.Fatalf("c4 (agent busy): placement %+v, want waiting", p)
	}

	// A call owned by another node: its owner gets the offer as a notice.
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "n2q", RingTimeout: time.Minute, Members: members("a4")}))
	must(t, r.Login(ctx, "a4", true))
	p, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: "c5", Queues: []string{"n2q"}, Node: "n2"})
	must(t, err)
	if p.Status != ringdesk.CallRinging || p.AgentID != "a4" {
		t.Fatalf("c5: placement %+v, want ringing at a4", p)
	}
	entries, err := e.rdb.XRange(ctx, "rd:{"+e.site+"}:n:n2:inbox", "-", "+").Result()
	must(t, err)
	if len(entries) != 1 || !strings.Contains(fmt.Sprint(entries[0].Values["e"]), `["offer","c5","a4"`) {
		t.Fatalf("node n2's notices: %v, want c5's offer", entries)
	}
}
