package routing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// Operations of many goroutines share script runs (batches); each must get
// its own result, and one failing must not fail or undo the others.
func TestBatchedOperationsAreIndependent(t *testing.T) {
	e := newEnv(t)
	// One batch in flight at a time: whatever arrives meanwhile goes in the
	// next batch together.
	r := e.router("n1", func(c *routing.Config) { c.MaxInFlight = 1; c.MaxBatch = 8 })
	ctx := ctxT(t)
	agents := ids("a", 40)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members(agents...)}))
	// A call hash of the wrong type makes its operations fail inside Redis
	// (WRONGTYPE), not in the script's own checks.
	must(t, e.rdb.Set(ctx, "rd:{"+e.site+"}:c:broken", "x", 0).Err())

	var wg sync.WaitGroup
	errs := make([]error, 120)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				errs[i] = r.Login(ctx, agents[i/3], true)
			case 1:
				errs[i] = r.Answer(ctx, fmt.Sprintf("nocall%d", i), "a0")
			case 2:
				errs[i] = r.Abandon(ctx, "broken")
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch i % 3 {
		case 0:
			must(t, err)
			if s := agentState(t, r, agents[i/3]).State; s != ringdesk.AgentAvailable {
				t.Errorf("agent %s is %s after a batched login", agents[i/3], s)
			}
		case 1:
			mustCode(t, err, ringdesk.ENOTFOUND)
		case 2:
			if err == nil || ringdesk.ErrorCode(err) != ringdesk.EINTERNAL || !strings.Contains(err.Error(), "WRONGTYPE") {
				t.Errorf("abandon of a broken call: %v, want Redis's WRONGTYPE error", err)
			}
		}
	}
}

// An operation whose caller gave up before it was sent is not run.
func TestBatchedOperationCancelled(t *testing.T) {
	e := newEnv(t)
	r := e.router("n1")
	ctx := ctxT(t)
	must(t, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", Members: members("a1")}))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Login(cctx, "a1", true); !errors.Is(err, context.Canceled) {
		t.Fatalf("login with a cancelled context: %v", err)
	}
	if s := agentState(t, r, "a1").State; s != ringdesk.AgentLoggedOut {
		t.Fatalf("agent is %s after a cancelled login", s)
	}
}
