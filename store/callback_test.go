package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestCallbacks(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	// The call path writes "overflow-" + the routing result as the end reason.
	if ringdesk.EndReasonCallback != "overflow-"+ringdesk.ResultCallback {
		t.Fatalf("EndReasonCallback %q does not match the call path's overflow-%s", ringdesk.EndReasonCallback, ringdesk.ResultCallback)
	}
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	qID, err := db.CreateQueue(ctx, &ringdesk.Queue{Name: "sales", RingTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, reason string, at time.Time, queueID int64) {
		t.Helper()
		end, wait := at, int64(90_000)
		c := &ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "07700 900" + id[len(id)-3:], CallerE164: "+447700900" + id[len(id)-3:],
			QueueID: queueID, State: ringdesk.CallStateOverflowed, OfferedAt: at.Add(-90 * time.Second), EndedAt: &end, WaitMS: wait, EndReason: reason}
		if err := db.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mk("cb-001", ringdesk.EndReasonCallback, base.Add(2*time.Minute), qID)
	mk("cb-002", ringdesk.EndReasonCallback, base.Add(1*time.Minute), 0)
	mk("cb-003", ringdesk.EndReasonCallback, base.Add(3*time.Minute), qID)
	mk("to-004", "overflow-timeout", base, qID) // not a callback request

	ids := func(cbs []*ringdesk.Callback) string {
		var s []string
		for _, c := range cbs {
			s = append(s, c.CallID)
		}
		return strings.Join(s, ",")
	}
	open, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(open); got != "cb-002,cb-001,cb-003" {
		t.Fatalf("open worklist %s, want oldest request first", got)
	}
	if c := open[0]; c.Status != ringdesk.CallbackOpen || c.CallerE164 != "+447700900002" || c.WaitMS != 90_000 ||
		!c.RequestedAt.Equal(base.Add(time.Minute)) || c.DoneAt != nil {
		t.Fatalf("entry %+v", c)
	}
	inQueue, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{QueueID: qID})
	if err != nil || ids(inQueue) != "cb-001,cb-003" {
		t.Fatalf("sales worklist %s, %v", ids(inQueue), err)
	}

	t.Run("CloseOnce", func(t *testing.T) {
		// Two agents take the same request: exactly one closes it.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				errs[i] = db.CloseCallback(ctx, "cb-002", int64(i+1), ringdesk.CallbackDone, "called back, sorted")
			})
		}
		wg.Wait()
		codes := []string{ringdesk.ErrorCode(errs[0]), ringdesk.ErrorCode(errs[1])}
		if !(codes[0] == "" && codes[1] == ringdesk.ECONFLICT) && !(codes[1] == "" && codes[0] == ringdesk.ECONFLICT) {
			t.Fatalf("two closes: %v, %v; want one ok and one conflict", errs[0], errs[1])
		}
		done, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{Status: ringdesk.CallbackDone})
		if err != nil || ids(done) != "cb-002" || done[0].Note != "called back, sorted" || done[0].DoneAt == nil || done[0].DoneBy == 0 {
			t.Fatalf("done list %+v, %v", done, err)
		}
		open, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{})
		if err != nil || ids(open) != "cb-001,cb-003" {
			t.Fatalf("open after close %s, %v", ids(open), err)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, status, note, code string
		}{
			{"status", "cb-001", "maybe", "", ringdesk.EINVALID},
			{"open is not a close", "cb-001", ringdesk.CallbackOpen, "", ringdesk.EINVALID},
			{"long note", "cb-001", ringdesk.CallbackDone, strings.Repeat("x", 4001), ringdesk.EINVALID},
			{"bad utf8", "cb-001", ringdesk.CallbackDone, "\xff", ringdesk.EINVALID},
			{"not a callback", "to-004", ringdesk.CallbackDone, "", ringdesk.ENOTFOUND},
			{"no such call", "nope", ringdesk.CallbackCancelled, "", ringdesk.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := db.CloseCallback(ctx, tc.id, 1, tc.status, tc.note); ringdesk.ErrorCode(err) != tc.code {
					t.Fatalf("err %v, want %s", err, tc.code)
				}
			})
		}
		if _, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{Status: "later"}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Fatalf("bad status filter: %v", err)
		}
		// Nothing changed.
		open, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{})
		if err != nil || ids(open) != "cb-001,cb-003" {
			t.Fatalf("open after bad input %s, %v", ids(open), err)
		}
		all, err := db.FindCallbacks(ctx, ringdesk.CallbackFilter{Status: "all"})
		if err != nil || ids(all) != "cb-002,cb-001,cb-003" {
			t.Fatalf("all %s, %v", ids(all), err)
		}
	})
}
