package agentdesk_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

func TestDeskHub_Auth(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a", agentdesk.WithAllowedOrigins("https://desk.example.com"))
	other, err := agentdesk.NewTokenAuth([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	cookie := func(tok string) http.Header {
		h := http.Header{}
		h.Set("Cookie", agentdesk.CookieName+"="+tok)
		return h
	}
	valid := n.token(t, agent(7))
	expired, _ := n.auth.Issue(agent(7), time.Now().Add(-time.Second))
	foreign, _ := other.Issue(agent(7), time.Now().Add(time.Hour))
	admin := n.token(t, &ringdesk.User{ID: 9, Username: "root", Role: ringdesk.RoleAdmin})
	tampered := []byte(valid)
	tampered[len(tampered)-1] ^= 1
	// Claims of agent 8 with agent 7's signature.
	forged := strings.Replace(valid, strings.Split(valid, ".")[1], strings.Split(n.token(t, agent(8)), ".")[1], 1)

	for _, tt := range []struct {
		name   string
		header http.Header
		query  string
		status int
	}{
		{"NoToken", nil, "", http.StatusUnauthorized},
		{"Garbage", cookie("hello"), "", http.StatusUnauthorized},
		{"Tampered", cookie(string(tampered)), "", http.StatusUnauthorized},
		{"Forged", cookie(forged), "", http.StatusUnauthorized},
		{"OtherKey", cookie(foreign), "", http.StatusUnauthorized},
		{"Expired", cookie(expired), "", http.StatusUnauthorized},
		{"AdminRole", cookie(admin), "", http.StatusForbidden},
		{"BadOrigin", http.Header{"Cookie": {agentdesk.CookieName + "=" + valid}, "Origin": {"https://evil.example.net"}}, "", http.StatusForbidden},
		{"BadOriginNoToken", http.Header{"Origin": {"https://evil.example.net"}}, "", http.StatusForbidden},
		{"MalformedOrigin", http.Header{"Cookie": {agentdesk.CookieName + "=" + valid}, "Origin": {"::"}}, "", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := n.dialRaw(tt.header, tt.query)
			if err == nil {
				conn.Close()
				t.Fatal("connected, want refused")
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			if got := resp.StatusCode; got != tt.status {
				t.Fatalf("status = %d, want %d", got, tt.status)
			}
		})
	}

	for _, tt := range []struct {
		name   string
		header http.Header
		query  string
	}{
		{"Cookie", cookie(valid), ""},
		{"Query", nil, "?token=" + valid},
		{"SameOrigin", http.Header{"Cookie": {agentdesk.CookieName + "=" + valid}, "Origin": {n.srv.URL}}, ""},
		{"AllowedOrigin", http.Header{"Cookie": {agentdesk.CookieName + "=" + valid}, "Origin": {"https://desk.example.com"}}, ""},
		{"Supervisor", cookie(n.token(t, &ringdesk.User{ID: 12, Username: "sup", Role: ringdesk.RoleSupervisor})), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := n.dialRaw(tt.header, tt.query)
			if err != nil {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("dial: %v (HTTP %d)", err, status)
			}
			defer conn.Close()
			d := &testDesk{t: t, conn: conn}
			var hello agentdesk.Hello
			d.expect(agentdesk.TypeHello, &hello)
			if hello.Protocol != agentdesk.Version || hello.Node != "a" || hello.AgentID == "" || hello.ServerTime.IsZero() {
				t.Errorf("hello = %+v", hello)
			}
		})
	}
	t.Run("HelloNamesTheAgent", func(t *testing.T) {
		d := n.connect(t, agent(7))
		if d.hello.AgentID != "7" || d.hello.Username != "agent7" || d.hello.Role != ringdesk.RoleAgent {
			t.Errorf("hello = %+v", d.hello)
		}
	})
	t.Run("NotGet", func(t *testing.T) {
		resp, err := http.Post(n.srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST status = %d, want 405", resp.StatusCode)
		}
	})
}

func TestDeskHub_PopReachesOnlyItsAgent(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a")
	ctx := testCtx(t)
	d7 := n.connect(t, agent(7))
	d8 := n.connect(t, agent(8))

	if err := n.hub.SendPop(ctx, testPop("7", "call-1")); err != nil {
		t.Fatal(err)
	}
	var pop ringdesk.Pop
	d7.expect(agentdesk.TypePop, &pop)
	if pop.CallID != "call-1" || pop.AgentID != "7" || pop.Match != ringdesk.MatchOne ||
		pop.Customer == nil || pop.Customer.Name != "Ada Lovelace" || len(pop.RecentCalls) != 1 ||
		len(pop.OpenCases) != 1 || pop.WaitMS != 1200 || pop.Queue != "support" ||
		pop.CallerE164 != "+442079460000" || pop.SentAt.IsZero() {
		t.Errorf("pop = %+v", pop)
	}

	// Agent 8's first message after its hello is its own pop: it never saw 7's.
	if err := n.hub.SendPop(ctx, testPop("8", "call-2")); err != nil {
		t.Fatal(err)
	}
	d8.expect(agentdesk.TypePop, &pop)
	if pop.CallID != "call-2" || pop.AgentID != "8" {
		t.Errorf("agent 8 got pop %s for agent %s", pop.CallID, pop.AgentID)
	}

	t.Run("ProgressAndState", func(t *testing.T) {
		if err := n.hub.SendProgress(ctx, &ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: ringdesk.ProgressRinging}); err != nil {
			t.Fatal(err)
		}
		var p ringdesk.CallProgress
		d7.expect(agentdesk.TypeCall, &p)
		if p.CallID != "call-1" || p.State != ringdesk.ProgressRinging || p.At.IsZero() {
			t.Errorf("progress = %+v", p)
		}
		if err := n.hub.SendAgentState(ctx, &ringdesk.AgentStateChange{AgentID: "7", State: "ringing", CallID: "call-1"}); err != nil {
			t.Fatal(err)
		}
		var s ringdesk.AgentStateChange
		d7.expect(agentdesk.TypeState, &s)
		if s.State != "ringing" || s.AgentID != "7" {
			t.Errorf("state = %+v", s)
		}
	})
	t.Run("PopForAnotherAgentOnTheBus", func(t *testing.T) {
		// Whatever is published on the bus, a desk only shows its own
		// agent's pops.
		payload, _ := json.Marshal(testPop("8", "call-x"))
		if _, err := bus.Publish(ctx, "7", ringdesk.DeskMessage{Type: agentdesk.TypePop, V: agentdesk.Version, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if err := n.hub.SendPop(ctx, testPop("7", "call-y")); err != nil {
			t.Fatal(err)
		}
		var pop ringdesk.Pop
		d7.expect(agentdesk.TypePop, &pop)
		if pop.CallID != "call-y" {
			t.Fatalf("agent 7 was shown pop %s of agent %s", pop.CallID, pop.AgentID)
		}
	})
	t.Run("NoDesk", func(t *testing.T) {
		err := n.hub.SendPop(ctx, testPop("9", "call-3"))
		if ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Errorf("SendPop to an agent without a desk = %v, want ENOTFOUND", err)
		}
		if ok, err := n.hub.DeskConnected(ctx, "9"); err != nil || ok {
			t.Errorf("DeskConnected(9) = %v, %v; want false", ok, err)
		}
		if ok, err := n.hub.DeskConnected(ctx, "7"); err != nil || !ok {
			t.Errorf("DeskConnected(7) = %v, %v; want true", ok, err)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		p := testPop("7", "call-4")
		p.Match = "perhaps"
		if err := n.hub.SendPop(ctx, p); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("SendPop with a bad match = %v, want EINVALID", err)
		}
	})
}

func TestDeskHub_TwoNodes(t *testing.T) {
	t.Parallel()
	// Two processes: a bus each on one site, so messages between the
	// nodes go through Redis.
	rdb, site := routingtest.MustRedis(t)
	a := newNode(t, routing.NewDeskBus(rdb, site), "a")
	b := newNode(t, routing.NewDeskBus(rdb, site), "b")
	ctx := testCtx(t)
	onB := b.connect(t, agent(7))
	if onB.hello.Node != "b" {
		t.Fatalf("hello from node %s", onB.hello.Node)
	}
	if ok, err := a.hub.DeskConnected(ctx, "7"); err != nil || !ok {
		t.Fatalf("node a: DeskConnected(7) = %v, %v", ok, err)
	}
	if err := a.hub.SendPop(ctx, testPop("7", "call-1")); err != nil {
		t.Fatal(err)
	}
	var pop ringdesk.Pop
	onB.expect(agentdesk.TypePop, &pop)
	if pop.CallID != "call-1" {
		t.Errorf("pop for %s", pop.CallID)
	}
	if err := a.hub.SendProgress(ctx, &ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: ringdesk.ProgressConnected}); err != nil {
		t.Fatal(err)
	}
	onB.expect(agentdesk.TypeCall, nil)

	t.Run("AgentStateFromItsOwnNode", func(t *testing.T) {
		// Every node relays the routing events to its own desks: node a
		// has no desk of agent 7 and must not reach the one on b (which
		// would otherwise hear every change once per node).
		err := a.hub.SendAgentState(ctx, &ringdesk.AgentStateChange{AgentID: "7", State: "away", Reason: "from-a"})
		if ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Fatalf("SendAgentState on a node without the desk = %v, want ENOTFOUND", err)
		}
		if err := b.hub.SendAgentState(ctx, &ringdesk.AgentStateChange{AgentID: "7", State: "away", Reason: "from-b"}); err != nil {
			t.Fatal(err)
		}
		var s ringdesk.AgentStateChange
		onB.expect(agentdesk.TypeState, &s)
		if s.Reason != "from-b" {
			t.Errorf("desk on b got the state %+v, want only node b's", s)
		}
	})
	t.Run("TwoTabsOnTwoNodes", func(t *testing.T) {
		onA := a.connect(t, agent(7))
		onA.expect(agentdesk.TypePop, nil) // the current call
		onA.expect(agentdesk.TypeCall, nil)
		if err := b.hub.SendPop(ctx, testPop("7", "call-2")); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*testDesk{onA, onB} {
			d.expect(agentdesk.TypePop, &pop)
			if pop.CallID != "call-2" {
				t.Errorf("pop for %s, want call-2", pop.CallID)
			}
		}
	})
}

func TestDeskHub_Reconnect(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a")
	ctx := testCtx(t)

	// A pop sent while the desk is away is waiting for it.
	if err := n.hub.SendPop(ctx, testPop("7", "call-1")); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("SendPop without a desk = %v, want ENOTFOUND", err)
	}
	d := n.connect(t, agent(7))
	var pop ringdesk.Pop
	d.expect(agentdesk.TypePop, &pop)
	if pop.CallID != "call-1" {
		t.Fatalf("current pop for %s", pop.CallID)
	}
	if err := n.hub.SendProgress(ctx, &ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: ringdesk.ProgressConnected}); err != nil {
		t.Fatal(err)
	}
	d.expect(agentdesk.TypeCall, nil)
	d.conn.Close()
	eventually(t, "the desk to leave", func() bool { return n.hub.Desks() == 0 })

	d = n.connect(t, agent(7))
	d.expect(agentdesk.TypePop, &pop)
	var p ringdesk.CallProgress
	d.expect(agentdesk.TypeCall, &p)
	if pop.CallID != "call-1" || p.CallID != "call-1" || p.State != ringdesk.ProgressConnected {
		t.Fatalf("after reconnect: pop %s, progress %+v", pop.CallID, p)
	}

	// Done with the call: the next desk starts clean.
	if ack := d.command(agentdesk.TypeEndWrapUp, nil); !ack.OK {
		t.Fatalf("end-wrapup: %+v", ack)
	}
	d.conn.Close()
	d = n.connect(t, agent(7))
	if ack := d.command(agentdesk.TypePing, nil); !ack.OK {
		t.Fatalf("ping: %+v", ack)
	}
}

// TestDeskHub_ControlForgetsTheCall: with an AgentControl that forgets the
// desk's call itself (the routing engine), the hub does not clear it after
// end-wrapup. This control forgets nothing, so a desk that reconnects gets
// the call again: the hub left the bus alone.
func TestDeskHub_ControlForgetsTheCall(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a")
	n.control.mu.Lock()
	n.control.forgets = true
	n.control.mu.Unlock()
	ctx := testCtx(t)
	d := n.connect(t, agent(7))
	if err := n.hub.SendPop(ctx, testPop("7", "call-1")); err != nil {
		t.Fatal(err)
	}
	d.expect(agentdesk.TypePop, nil)
	if ack := d.command(agentdesk.TypeEndWrapUp, nil); !ack.OK {
		t.Fatalf("end-wrapup: %+v", ack)
	}
	d.conn.Close()
	eventually(t, "the desk to leave", func() bool { return n.hub.Desks() == 0 })
	d = n.connect(t, agent(7))
	var pop ringdesk.Pop
	d.expect(agentdesk.TypePop, &pop)
	if pop.CallID != "call-1" {
		t.Fatalf("after reconnect: pop %s, want call-1 (not cleared by the hub)", pop.CallID)
	}
}

func TestDeskHub_PopAck(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	type report struct {
		agent, call string
		latency     time.Duration
	}
	reports := make(chan report, 10)
	n := newNode(t, bus, "a", agentdesk.WithOnPopAck(func(agentID, callID string, latency time.Duration) {
		reports <- report{agentID, callID, latency}
	}))
	ctx := testCtx(t)
	d := n.connect(t, agent(7))
	if err := n.hub.SendPop(ctx, testPop("7", "call-1")); err != nil {
		t.Fatal(err)
	}
	d.expect(agentdesk.TypePop, nil)
	if ack := d.command(agentdesk.TypePopAck, map[string]string{"call_id": "call-1"}); !ack.OK {
		t.Fatalf("pop-ack: %+v", ack)
	}
	select {
	case r := <-reports:
		if r.agent != "7" || r.call != "call-1" || r.latency < 0 {
			t.Errorf("report = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pop-ack not reported")
	}
	// A second ack is fine but not reported twice; an unknown call is refused.
	if ack := d.command(agentdesk.TypePopAck, map[string]string{"call_id": "call-1"}); !ack.OK {
		t.Fatalf("second pop-ack: %+v", ack)
	}
	if ack := d.command(agentdesk.TypePopAck, map[string]string{"call_id": "call-9"}); ack.OK || ack.Code != ringdesk.ENOTFOUND {
		t.Fatalf("pop-ack of an unknown call: %+v", ack)
	}
	select {
	case r := <-reports:
		t.Errorf("unexpected report %+v", r)
	default:
	}
}

func TestDeskHub_Commands(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a")
	d := n.connect(t, agent(7))
	for _, tt := range []struct {
		typ     string
		payload any
		want    string
	}{
		{agentdesk.TypeLogin, map[string]bool{"ready": true}, "login 7 true"},
		{agentdesk.TypeReady, nil, "ready 7"},
		{agentdesk.TypeAway, map[string]string{"reason": "lunch"}, "away 7 lunch"},
		{agentdesk.TypeEndWrapUp, nil, "end-wrapup 7"},
		{agentdesk.TypeLogout, nil, "logout 7"},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			before := len(n.control.Calls())
			if ack := d.command(tt.typ, tt.payload); !ack.OK {
				t.Fatalf("ack = %+v", ack)
			}
			calls := n.control.Calls()
			if len(calls) != before+1 || calls[before] != tt.want {
				t.Fatalf("AgentControl calls = %q, want %q last", calls, tt.want)
			}
		})
	}
	t.Run("Refused", func(t *testing.T) {
		n.control.setFail("ready", ringdesk.Errorf(ringdesk.ECONFLICT, "Agent 7 is on a call."))
		ack := d.command(agentdesk.TypeReady, nil)
		if ack.OK || ack.Code != ringdesk.ECONFLICT || ack.Message != "Agent 7 is on a call." {
			t.Fatalf("ack = %+v", ack)
		}
	})
	t.Run("Internal", func(t *testing.T) {
		n.control.setFail("logout", errors.New("redis: connection refused"))
		ack := d.command(agentdesk.TypeLogout, nil)
		if ack.OK || ack.Code != ringdesk.EINTERNAL || strings.Contains(ack.Message, "redis") {
			t.Fatalf("ack = %+v (internal details must not reach the desk)", ack)
		}
	})
	t.Run("BadReason", func(t *testing.T) {
		d.sendRaw(`{"type":"away","v":1,"id":"x1","payload":{"reason":""}}`)
		var e agentdesk.ErrorPayload
		m := d.expect(agentdesk.TypeError, &e)
		if m.ID != "x1" || e.Code != ringdesk.EINVALID {
			t.Fatalf("error %s = %+v", m.ID, e)
		}
	})
}

func TestDeskHub_InvalidMessages(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a", agentdesk.WithInvalidMessageLimit(3, time.Hour), agentdesk.WithReadLimit(512))
	d := n.connect(t, agent(7))
	for _, bad := range []string{
		`not json`,
		`{"type":"dance","v":1}`,
		`{"type":"ready","v":2}`,
	} {
		d.sendRaw(bad)
		var e agentdesk.ErrorPayload
		d.expect(agentdesk.TypeError, &e)
		if e.Code != ringdesk.EINVALID || e.Message == "" {
			t.Errorf("error for %s = %+v", bad, e)
		}
	}
	// The connection is kept.
	if ack := d.command(agentdesk.TypePing, nil); !ack.OK {
		t.Fatalf("ping after bad messages: %+v", ack)
	}
	t.Run("Flood", func(t *testing.T) {
		d.sendRaw(`[]`) // the fourth: over the limit
		d.expect(agentdesk.TypeError, nil)
		err := d.closeErr()
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Fatalf("close = %v, want policy violation", err)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		d := n.connect(t, agent(8))
		d.sendRaw(`{"type":"ping","v":1,"id":"` + strings.Repeat("x", 1000) + `"}`)
		err := d.closeErr()
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("close = %v, want message too big", err)
		}
	})
}

func TestDeskHub_SlowDesk(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a", agentdesk.WithSendQueue(8), agentdesk.WithWriteWait(2*time.Second))
	ctx := testCtx(t)
	slow := n.connect(t, agent(7)) // never reads again
	fast := n.connect(t, agent(8))

	big := testPop("7", "")
	big.Customer.Notes = strings.Repeat("n", 256<<10)
	i := 0
	eventually(t, "the slow desk to be disconnected", func() bool {
		i++
		big.CallID = "slow-" + strings.Repeat("x", i%3) + time.Now().Format("150405.000000000")
		if err := n.hub.SendPop(ctx, big); err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Fatal(err)
		}
		// The other desk still gets its pops.
		if err := n.hub.SendPop(ctx, testPop("8", big.CallID)); err != nil {
			t.Fatal(err)
		}
		var pop ringdesk.Pop
		fast.expect(agentdesk.TypePop, &pop)
		if pop.CallID != big.CallID {
			t.Fatalf("fast desk got %s, want %s", pop.CallID, big.CallID)
		}
		ok, err := n.hub.DeskConnected(ctx, "7")
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	if got := n.hub.Desks(); got != 1 {
		t.Errorf("desks on the node = %d, want 1", got)
	}
	_ = slow
}

func TestDeskHub_KeepAlive(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	// Pings every 5.4s; a pong must come within 0.6s of one (0.3s was
	// missed under -race on a loaded 2-core machine).
	n := newNode(t, bus, "a", agentdesk.WithPongWait(6*time.Second))

	t.Run("AnsweringDeskStays", func(t *testing.T) {
		d := n.connect(t, agent(7))
		if d.hello.PingIntervalMS != 5400 {
			t.Errorf("ping interval = %dms, want 5400", d.hello.PingIntervalMS)
		}
		var mu sync.Mutex
		pings := 0
		d.conn.SetPingHandler(func(data string) error {
			mu.Lock()
			pings++
			mu.Unlock()
			return d.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		// A reader answers pings (gorilla handles control frames while
		// reading) and passes messages on.
		msgs := make(chan string, 10)
		_ = d.conn.SetReadDeadline(time.Time{}) // next() set one; this reader idles longer
		go func() {
			defer close(msgs)
			for {
				_, data, err := d.conn.ReadMessage()
				if err != nil {
					msgs <- "error: " + err.Error()
					return
				}
				msgs <- string(data)
			}
		}()
		// Idle past two pong waits.
		eventually(t, "two pings", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return pings >= 2
		})
		select {
		case m := <-msgs:
			t.Fatalf("idle desk got %s", m)
		default:
		}
		if err := d.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","v":1,"id":"p"}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if !strings.Contains(m, `"type":"ack"`) || !strings.Contains(m, `"ok":true`) {
				t.Fatalf("answer to ping after idling: %s", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no ack after idling")
		}
	})
	t.Run("SilentDeskDropped", func(t *testing.T) {
		d := n.connect(t, agent(8))
		d.conn.SetPingHandler(func(string) error { return nil }) // no pongs
		err := d.closeErr()
		if err == nil {
			t.Fatal("silent desk kept")
		}
		eventually(t, "the silent desk's presence to clear", func() bool {
			ok, err := n.hub.DeskConnected(testCtx(t), "8")
			return err == nil && !ok
		})
	})
}

func TestDeskHub_Close(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a")
	d7 := n.connect(t, agent(7))
	d8 := n.connect(t, agent(8))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- n.hub.Close(ctx) }()
	for _, d := range []*testDesk{d7, d8} {
		err := d.closeErr()
		if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Errorf("close = %v, want going away", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ok, err := bus.DeskConnected(ctx, "7"); err != nil || ok {
		t.Errorf("DeskConnected after Close = %v, %v", ok, err)
	}
	_, resp, err := n.dialRaw(http.Header{"Cookie": {agentdesk.CookieName + "=" + n.token(t, agent(7))}}, "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v; want 503", resp, err)
	}
}

func TestDeskHub_StateOnConnect(t *testing.T) {
	t.Parallel()
	bus := mustBus(t)
	n := newNode(t, bus, "a", agentdesk.WithStateLookup(func(_ context.Context, agentID string) (*ringdesk.AgentStateChange, error) {
		if agentID == "8" {
			return nil, errors.New("routing down")
		}
		return &ringdesk.AgentStateChange{AgentID: agentID, State: "away", Reason: "lunch", Since: time.Now()}, nil
	}))
	ctx := testCtx(t)
	if _, err := bus.SetCurrentPop(ctx, "7", "call-1", ringdesk.DeskMessage{Type: agentdesk.TypePop, V: 1, Payload: json.RawMessage(`{"call_id":"call-1","agent_id":"7"}`)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	d := n.connect(t, agent(7))
	var s ringdesk.AgentStateChange
	d.expect(agentdesk.TypeState, &s)
	if s.AgentID != "7" || s.State != "away" || s.Reason != "lunch" {
		t.Errorf("state = %+v", s)
	}
	d.expect(agentdesk.TypePop, nil)

	// A failing lookup only costs the state message.
	d8 := n.connect(t, agent(8))
	if ack := d8.command(agentdesk.TypePing, nil); !ack.OK {
		t.Fatalf("ping: %+v", ack)
	}
}

// BenchmarkDeskHub_PopToDesk measures SendPop until the desk has read the
// pop, through Redis, on loopback: the pop half of "INVITE → pop".
func BenchmarkDeskHub_PopToDesk(b *testing.B) {
	bus := mustBus(b)
	n := newNode(b, bus, "a")
	d := n.connect(b, agent(7))
	ctx := testCtx(b)
	pop := testPop("7", "")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pop.CallID = "bench-" + strconv.Itoa(i)
		if err := n.hub.SendPop(ctx, pop); err != nil {
			b.Fatal(err)
		}
		d.expect(agentdesk.TypePop, nil)
	}
}

// resyncBus is the real bus with a handle on the resync callback that the
// hub gives it, so a test can play "Redis came back without its data".
type resyncBus struct {
	ringdesk.DeskBus
	mu     sync.Mutex
	resync func()
}

func (b *resyncBus) Subscribe(ctx context.Context, node string, deliver func(string, ringdesk.DeskMessage), resync func()) (func(), error) {
	b.mu.Lock()
	b.resync = resync
	b.mu.Unlock()
	return b.DeskBus.Subscribe(ctx, node, deliver, resync)
}

func TestDeskHub_Resync(t *testing.T) {
	t.Parallel()
	bus := &resyncBus{DeskBus: mustBus(t)}
	n := newNode(t, bus, "a")
	ctx := testCtx(t)
	d := n.connect(t, agent(7))
	if err := n.hub.SendPop(ctx, testPop("7", "call-1")); err != nil {
		t.Fatal(err)
	}
	d.expect(agentdesk.TypePop, nil)

	// Redis restarted empty while the subscription was down: presence is
	// gone and a progress message was lost.
	if err := bus.ClearPresence(ctx, "7", "a"); err != nil {
		t.Fatal(err)
	}
	progress, _ := json.Marshal(ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: ringdesk.ProgressConnected})
	if _, _, err := bus.SetCurrentProgress(ctx, "7", "call-1", ringdesk.DeskMessage{Type: agentdesk.TypeCall, V: 1, Payload: progress}, time.Minute); err != nil {
		t.Fatal(err)
	}
	bus.mu.Lock()
	resync := bus.resync
	bus.mu.Unlock()
	resync()

	// The desk gets the lost progress (not the pop it already has), and is
	// reachable again.
	var p ringdesk.CallProgress
	d.expect(agentdesk.TypeCall, &p)
	if p.State != ringdesk.ProgressConnected {
		t.Errorf("progress = %+v", p)
	}
	eventually(t, "presence to be restored", func() bool {
		ok, err := bus.DeskConnected(ctx, "7")
		return err == nil && ok
	})
}

// TestDeskHub_ProgressMessage: the message a ProgressTeller sends for the
// hub is what SendProgress sends, kept for the hub's current-call TTL.
func TestDeskHub_ProgressMessage(t *testing.T) {
	n := newNode(t, mustBus(t), "a", agentdesk.WithCurrentTTL(42*time.Second))
	msg, ttl, err := n.hub.ProgressMessage(&ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: ringdesk.ProgressConnected})
	if err != nil {
		t.Fatal(err)
	}
	var p ringdesk.CallProgress
	if err := json.Unmarshal(msg.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if msg.Type != agentdesk.TypeCall || msg.V != agentdesk.Version || ttl != 42*time.Second ||
		p.CallID != "call-1" || p.State != ringdesk.ProgressConnected || p.At.IsZero() {
		t.Errorf("ProgressMessage = %s %+v for %v", msg.Type, p, ttl)
	}
	if _, _, err := n.hub.ProgressMessage(&ringdesk.CallProgress{CallID: "call-1", AgentID: "7", State: "dancing"}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Errorf("ProgressMessage of a bad state = %v, want EINVALID", err)
	}
}
