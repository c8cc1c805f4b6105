package routing_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// mustDeskRedis returns a client for the test Redis (named clientName when
// not empty, so a test can kill its connection) and a site unique to the
// test, whose keys are deleted in t.Cleanup.
func mustDeskRedis(t *testing.T, clientName string) (redis.UniversalClient, string) {
	t.Helper()
	rdb, site := routingtest.MustRedis(t)
	if clientName == "" {
		return rdb, site
	}
	named := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{routingtest.Addr()}, ClientName: clientName})
	t.Cleanup(func() { named.Close() })
	return named, site
}

func deskCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// deskEventually polls cond until it holds or a generous deadline passes.
func deskEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deskMsg(typ, text string) ringdesk.DeskMessage {
	p, _ := json.Marshal(map[string]string{"text": text})
	return ringdesk.DeskMessage{Type: typ, V: 1, Payload: p}
}

type deskDelivery struct {
	agent string
	msg   ringdesk.DeskMessage
}

// deskInbox records what a node's subscription delivers. With desks set
// (only), it keeps only messages for those agents, as the hub hands a
// message only to desks connected to it: the bus hands its own nodes every
// message it sends, before Redis says where the desk is.
type deskInbox struct {
	mu      sync.Mutex
	got     []deskDelivery
	resyncs int
	desks   map[string]bool
}

func (in *deskInbox) deliver(agent string, msg ringdesk.DeskMessage) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.desks != nil && !in.desks[agent] {
		return
	}
	in.got = append(in.got, deskDelivery{agent, msg})
}

// only makes the inbox keep messages for these agents alone.
func (in *deskInbox) only(agents ...string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.desks = map[string]bool{}
	for _, a := range agents {
		in.desks[a] = true
	}
}

func (in *deskInbox) resync() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.resyncs++
}

func (in *deskInbox) texts() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, d := range in.got {
		var p struct{ Text string }
		_ = json.Unmarshal(d.msg.Payload, &p)
		out = append(out, d.agent+":"+p.Text)
	}
	return out
}

func (in *deskInbox) resyncCount() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.resyncs
}

// deskCurrent is what the bus keeps as the agent's current call, as
// "type:text" of each message (deskMsg's), comma-separated.
func deskCurrent(t *testing.T, bus *routing.DeskBus, agent string) string {
	t.Helper()
	msgs, err := bus.Current(deskCtx(t), agent)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, m := range msgs {
		var p struct{ Text string }
		_ = json.Unmarshal(m.Payload, &p)
		parts = append(parts, m.Type+":"+p.Text)
	}
	return strings.Join(parts, ",")
}

func subscribeDesk(t *testing.T, bus *routing.DeskBus, node string) *deskInbox {
	t.Helper()
	in := &deskInbox{}
	stop, err := bus.Subscribe(deskCtx(t), node, in.deliver, in.resync)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return in
}

func TestDeskBus_Presence(t *testing.T) {
	t.Parallel()
	rdb, site := mustDeskRedis(t, "")
	bus := routing.NewDeskBus(rdb, site)
	ctx := deskCtx(t)
	connected := func(agent string) bool {
		t.Helper()
		ok, err := bus.DeskConnected(ctx, agent)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	t.Run("Absent", func(t *testing.T) {
		if connected("1") {
			t.Fatal("agent 1 connected before any presence")
		}
	})
	t.Run("SetAndClear", func(t *testing.T) {
		if err := bus.SetPresence(ctx, "1", "n1", time.Minute); err != nil {
			t.Fatal(err)
		}
		if !connected("1") {
			t.Fatal("agent 1 not connected after SetPresence")
		}
		if connected("2") {
			t.Fatal("agent 2 connected through agent 1's presence")
		}
		if err := bus.ClearPresence(ctx, "1", "n1"); err != nil {
			t.Fatal(err)
		}
		if connected("1") {
			t.Fatal("agent 1 still connected after ClearPresence")
		}
		if err := bus.ClearPresence(ctx, "1", "n1"); err != nil {
			t.Fatalf("clearing an absent presence: %v", err)
		}
	})
	t.Run("TwoNodes", func(t *testing.T) {
		for _, n := range []string{"n1", "n2"} {
			if err := bus.SetPresence(ctx, "3", n, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if err := bus.ClearPresence(ctx, "3", "n1"); err != nil {
			t.Fatal(err)
		}
		if !connected("3") {
			t.Fatal("agent 3 not connected while still present on n2")
		}
		if err := bus.ClearPresence(ctx, "3", "n2"); err != nil {
			t.Fatal(err)
		}
		if connected("3") {
			t.Fatal("agent 3 connected after leaving both nodes")
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		if err := bus.SetPresence(ctx, "4", "n1", 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := bus.SetPresence(ctx, "4", "n2", time.Minute); err != nil {
			t.Fatal(err)
		}
		// n1 lapses; n2 is refreshed with a short TTL and lapses too.
		if err := bus.SetPresence(ctx, "4", "n2", 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deskEventually(t, "presence to expire", func() bool { return !connected("4") })
		deskEventually(t, "presence key to expire", func() bool {
			n, err := rdb.Exists(ctx, bus.PresenceKey("4")).Result()
			return err == nil && n == 0
		})
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, id := range []string{"", "a b", "x:y", "{s}", strings.Repeat("9", 65)} {
			if err := bus.SetPresence(ctx, id, "n1", time.Minute); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Errorf("SetPresence(%q) = %v, want EINVALID", id, err)
			}
			if _, err := bus.DeskConnected(ctx, id); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Errorf("DeskConnected(%q) = %v, want EINVALID", id, err)
			}
		}
		if err := bus.SetPresence(ctx, "1", "n1", 0); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("SetPresence with ttl 0 = %v, want EINVALID", err)
		}
		// A payload that is not JSON is refused, unless sealed (encoded
		// by agentdesk from its own types: checked there).
		bad := ringdesk.DeskMessage{Type: "pop", V: 1, Payload: []byte(`{"call_id":`)}
		if _, err := bus.Publish(ctx, "1", bad); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("Publish of a payload that is not JSON = %v, want EINVALID", err)
		}
		if _, err := bus.SetCurrentPop(ctx, "1", "c1", bad, time.Minute); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("SetCurrentPop of a payload that is not JSON = %v, want EINVALID", err)
		}
		if n, err := rdb.Exists(ctx, bus.CurrentKey("1")).Result(); err != nil || n != 0 {
			t.Errorf("a refused pop was kept (%d, %v)", n, err)
		}
	})
}

func TestDeskBus_Publish(t *testing.T) {
	t.Parallel()
	rdb, site := mustDeskRedis(t, "")
	bus := routing.NewDeskBus(rdb, site)
	ctx := deskCtx(t)
	a := subscribeDesk(t, bus, "a")
	b := subscribeDesk(t, bus, "b")
	a.only("1", "3")
	b.only("2", "3")
	for _, p := range []struct{ agent, node string }{{"1", "a"}, {"2", "b"}, {"3", "a"}, {"3", "b"}} {
		if err := bus.SetPresence(ctx, p.agent, p.node, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// Published by another process: through Redis.
	other := routing.NewDeskBus(rdb, site)
	publish := func(agent, text string, want int) {
		t.Helper()
		n, err := other.Publish(ctx, agent, deskMsg("pop", text))
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("Publish(%s, %s) reached %d nodes, want %d", agent, text, n, want)
		}
	}
	publish("1", "one", 1)
	publish("4", "nobody", 0) // no desk anywhere
	publish("3", "both", 2)   // a desk on each node
	publish("2", "two", 1)
	deskEventually(t, "node a's messages", func() bool { return len(a.texts()) == 2 })
	deskEventually(t, "node b's messages", func() bool { return len(b.texts()) == 2 })
	if got, want := strings.Join(a.texts(), ","), "1:one,3:both"; got != want {
		t.Errorf("node a got %s, want %s", got, want)
	}
	if got, want := strings.Join(b.texts(), ","), "3:both,2:two"; got != want {
		t.Errorf("node b got %s, want %s", got, want)
	}

	t.Run("SameProcessHandsOver", func(t *testing.T) {
		// Published through the bus that holds the subscriptions: handed
		// to deliver at once, before the round trip to Redis.
		n, err := bus.Publish(ctx, "3", deskMsg("pop", "local"))
		if err != nil || n != 2 {
			t.Fatalf("Publish = %d, %v; want 2", n, err)
		}
		if got := a.texts(); got[len(got)-1] != "3:local" {
			t.Errorf("node a's last message = %v, want 3:local delivered before Publish returned", got)
		}
		if got := b.texts(); got[len(got)-1] != "3:local" {
			t.Errorf("node b's last message = %v, want 3:local delivered before Publish returned", got)
		}
		if _, err := bus.Subscribe(ctx, "a", func(string, ringdesk.DeskMessage) {}, nil); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT {
			t.Errorf("subscribing node a twice on one bus = %v, want ECONFLICT", err)
		}
	})
	t.Run("KeptAndPublished", func(t *testing.T) {
		// A pop and its progress are kept and published in one round trip;
		// progress of another call is not kept but still published.
		n, err := bus.SetCurrentPop(ctx, "1", "c1", deskMsg("pop", "pop1"), time.Minute)
		if err != nil || n != 1 {
			t.Fatalf("SetCurrentPop reached %d, %v; want 1", n, err)
		}
		saved, n, err := bus.SetCurrentProgress(ctx, "3", "c9", deskMsg("call", "ringing9"), time.Minute)
		if err != nil || !saved || n != 2 {
			t.Fatalf("SetCurrentProgress = %v, %d, %v; want saved, 2", saved, n, err)
		}
		saved, n, err = bus.SetCurrentProgress(ctx, "1", "c0", deskMsg("call", "late0"), time.Minute)
		if err != nil || saved || n != 1 {
			t.Fatalf("SetCurrentProgress of another call = %v, %d, %v; want not saved, 1", saved, n, err)
		}
		if n, err := bus.SetCurrentPop(ctx, "4", "c4", deskMsg("pop", "nobody"), time.Minute); err != nil || n != 0 {
			t.Fatalf("SetCurrentPop without a desk reached %d, %v; want 0", n, err)
		}
		deskEventually(t, "node a's messages", func() bool { return len(a.texts()) == 6 })
		deskEventually(t, "node b's messages", func() bool { return len(b.texts()) == 4 })
		if got, want := strings.Join(a.texts()[3:], ","), "1:pop1,3:ringing9,1:late0"; got != want {
			t.Errorf("node a got %s, want %s", got, want)
		}
		if got, want := strings.Join(b.texts()[3:], ","), "3:ringing9"; got != want {
			t.Errorf("node b got %s, want %s", got, want)
		}
		msgs, err := bus.Current(ctx, "1")
		if err != nil || len(msgs) != 1 || msgs[0].Type != "pop" {
			t.Errorf("agent 1's current call = %+v, %v; want the pop alone", msgs, err)
		}
	})
	t.Run("EnvelopeIntact", func(t *testing.T) {
		msg := ringdesk.DeskMessage{Type: "call", V: 1, ID: "r1", Payload: json.RawMessage(`{"call_id":"c1","state":"ringing"}`)}
		if _, err := bus.Publish(ctx, "2", msg); err != nil {
			t.Fatal(err)
		}
		deskEventually(t, "the call message", func() bool { return len(b.texts()) == 5 })
		b.mu.Lock()
		got := b.got[4].msg
		b.mu.Unlock()
		if got.Type != msg.Type || got.V != msg.V || got.ID != msg.ID || string(got.Payload) != string(msg.Payload) {
			t.Errorf("delivered %+v, want %+v", got, msg)
		}
	})
}

func TestDeskBus_Current(t *testing.T) {
	t.Parallel()
	rdb, site := mustDeskRedis(t, "")
	bus := routing.NewDeskBus(rdb, site)
	ctx := deskCtx(t)
	current := func(agent string) string {
		t.Helper()
		return deskCurrent(t, bus, agent)
	}
	progress := func(agent, call, text string, want bool) {
		t.Helper()
		saved, _, err := bus.SetCurrentProgress(ctx, agent, call, deskMsg("call", text), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if saved != want {
			t.Errorf("SetCurrentProgress(%s, %s) saved = %v, want %v", agent, call, saved, want)
		}
	}

	if got := current("1"); got != "" {
		t.Fatalf("current of a new agent = %q, want none", got)
	}
	if _, err := bus.SetCurrentPop(ctx, "1", "c1", deskMsg("pop", "p1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, want := current("1"), "pop:p1"; got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
	progress("1", "c1", "ringing", true)
	progress("1", "c1", "connected", true)
	if got, want := current("1"), "pop:p1,call:connected"; got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
	progress("1", "c0", "late ended", false) // an older call's progress
	if got, want := current("1"), "pop:p1,call:connected"; got != want {
		t.Errorf("after another call's progress, current = %q, want %q", got, want)
	}
	if got := current("2"); got != "" {
		t.Errorf("agent 2 sees agent 1's call: %q", got)
	}
	if _, err := bus.SetCurrentPop(ctx, "1", "c2", deskMsg("pop", "p2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, want := current("1"), "pop:p2"; got != want {
		t.Errorf("a new pop must replace the call and its progress: current = %q, want %q", got, want)
	}
	if err := bus.ClearCurrent(ctx, "1", "c1"); err != nil {
		t.Fatal(err)
	}
	if got, want := current("1"), "pop:p2"; got != want {
		t.Errorf("clearing another call cleared the current one: %q", got)
	}
	if err := bus.ClearCurrent(ctx, "1", "c2"); err != nil {
		t.Fatal(err)
	}
	if got := current("1"); got != "" {
		t.Errorf("after ClearCurrent, current = %q", got)
	}
	// Click-to-call: progress without a pop becomes the current call.
	progress("1", "c3", "dialing", true)
	if got, want := current("1"), "call:dialing"; got != want {
		t.Errorf("current = %q, want %q", got, want)
	}
	if err := bus.ClearCurrent(ctx, "1", ""); err != nil {
		t.Fatal(err)
	}
	if got := current("1"); got != "" {
		t.Errorf("after ClearCurrent(any), current = %q", got)
	}

	t.Run("Expiry", func(t *testing.T) {
		if _, err := bus.SetCurrentPop(ctx, "5", "c1", deskMsg("pop", "p"), 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deskEventually(t, "the current pop to expire", func() bool { return current("5") == "" })
	})
}

// TestDeskBus_Resubscribe kills the subscription's connection on the server:
// go-redis must reconnect and resubscribe, the bus must call resync, and
// messages must flow again.
func TestDeskBus_Resubscribe(t *testing.T) {
	t.Parallel()
	name := "desk-resub-" + hex.EncodeToString([]byte(time.Now().Format("150405.000000")))
	rdb, site := mustDeskRedis(t, name)
	bus := routing.NewDeskBus(rdb, site)
	ctx := deskCtx(t)
	in := subscribeDesk(t, bus, "a")
	if err := bus.SetPresence(ctx, "1", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Messages come from another process, so through the subscription.
	other := routing.NewDeskBus(rdb, site)
	if _, err := other.Publish(ctx, "1", deskMsg("pop", "before")); err != nil {
		t.Fatal(err)
	}
	deskEventually(t, "the first message", func() bool { return len(in.texts()) == 1 })

	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") && strings.Contains(line, "cmd=subscribe") {
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "id="); ok {
					id = v
				}
			}
		}
	}
	if id == "" {
		t.Fatalf("no subscriber connection named %s in CLIENT LIST:\n%s", name, list)
	}
	if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
		t.Fatal(err)
	}
	deskEventually(t, "a resync after the reconnect", func() bool { return in.resyncCount() > 0 })
	// Publish until one gets through: delivery is at most once while the
	// subscription is being restored.
	deskEventually(t, "a message after the reconnect", func() bool {
		if _, err := other.Publish(ctx, "1", deskMsg("pop", "after")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(strings.Join(in.texts(), ","), "1:after")
	})
}

func TestDeskBus_Unavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:1"}, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	bus := routing.NewDeskBus(rdb, "nowhere")
	ctx := deskCtx(t)
	if _, err := bus.Publish(ctx, "1", deskMsg("pop", "x")); ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE {
		t.Errorf("Publish = %v, want EUNAVAILABLE", err)
	}
	if _, err := bus.DeskConnected(ctx, "1"); ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE {
		t.Errorf("DeskConnected = %v, want EUNAVAILABLE", err)
	}
	if _, err := bus.Subscribe(ctx, "a", func(string, ringdesk.DeskMessage) {}, nil); ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE {
		t.Errorf("Subscribe = %v, want EUNAVAILABLE", err)
	}
}

// gateHook holds every script call until gate is closed.
type gateHook struct{ gate chan struct{} }

func (h gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := strings.ToLower(cmd.Name()); n == "evalsha" || n == "eval" {
			<-h.gate
		}
		return next(ctx, cmd)
	}
}
func (h gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestDeskBus_LocalBeforeRedis: a desk on the sending process's node gets
// the pop before the script that keeps and publishes it has answered.
func TestDeskBus_LocalBeforeRedis(t *testing.T) {
	t.Parallel()
	_, site := mustDeskRedis(t, "")
	gate := make(chan struct{})
	hooked := redis.NewClient(&redis.Options{Addr: routingtest.Addr(), Protocol: 2})
	t.Cleanup(func() { hooked.Close() })
	hooked.AddHook(gateHook{gate})
	bus := routing.NewDeskBus(hooked, site)
	ctx := deskCtx(t)
	in := subscribeDesk(t, bus, "h")
	done := make(chan error, 1)
	go func() {
		_, err := bus.SetCurrentPop(ctx, "7", "c7", deskMsg("pop", "early"), time.Minute)
		done <- err
	}()
	deskEventually(t, "the pop handed over while the script waits", func() bool { return len(in.texts()) == 1 })
	select {
	case err := <-done:
		t.Fatalf("SetCurrentPop returned (%v) while its script was held", err)
	default:
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(in.texts(), ","); got != "7:early" {
		t.Fatalf("node h got %s, want the pop once", got)
	}
}
