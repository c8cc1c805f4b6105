package routing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// env is one test's Redis site with one or more routers (nodes) on it.
type env struct {
	t    testing.TB
	rdb  redis.UniversalClient
	site string
}

func newEnv(t testing.TB) *env {
	rdb, site := routingtest.MustRedis(t)
	return &env{t: t, rdb: rdb, site: site}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// router opens a router as node on the env's site and closes it at cleanup.
func (e *env) router(node string, opts ...func(*routing.Config)) *routing.Router {
	e.t.Helper()
	cfg := routing.Config{Site: e.site, Node: node, HeartbeatTTL: 2 * time.Second, TickInterval: 50 * time.Millisecond, Logger: quietLogger()}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := routing.NewRouter(e.rdb, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Open(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = r.Close() })
	return r
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := ringdesk.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func members(ids ...string) []ringdesk.QueueMember {
	ms := make([]ringdesk.QueueMember, len(ids))
	for i, id := range ids {
		ms[i] = ringdesk.QueueMember{AgentID: id}
	}
	return ms
}

func agentState(t testing.TB, r ringdesk.Router, id string) *ringdesk.Agent {
	t.Helper()
	a, err := r.FindAgent(ctxT(t), id)
	must(t, err)
	return a
}

func callOf(t testing.TB, r ringdesk.Router, id string) *ringdesk.RoutedCall {
	t.Helper()
	c, err := r.FindCall(ctxT(t), id)
	must(t, err)
	return c
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextNotice waits for the next notice of a router with kind.
func nextNotice(t testing.TB, r ringdesk.Router, kind string) ringdesk.RoutingEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-r.Notices():
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s notice", kind)
		}
	}
}

func enqueue(t testing.TB, r ringdesk.Router, id string, prio int, queues ...string) *ringdesk.Placement {
	t.Helper()
	p, err := r.Enqueue(ctxT(t), &ringdesk.WaitingCall{ID: id, Queues: queues, Priority: prio})
	must(t, err)
	return p
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
