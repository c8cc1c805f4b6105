package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestUpdateCallAndEvents(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.CreateCall(ctx, &ringdesk.Call{ID: "c1", Direction: ringdesk.Inbound, CallerRaw: "07700 900123", OfferedAt: now}); err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		ans, end := now.Add(2*time.Second), now.Add(9*time.Second)
		wait, talk, reason := int64(2000), int64(7000), "caller-hangup"
		upd := ringdesk.CallUpdate{State: ringdesk.CallStateEnded, AnsweredAt: &ans, EndedAt: &end, WaitMS: &wait, TalkMS: &talk, EndReason: &reason}
		for i := 0; i < 2; i++ { // twice: a replay changes nothing
			if err := db.UpdateCall(ctx, "c1", upd); err != nil {
				t.Fatal(err)
			}
		}
		c, err := db.FindCallByID(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if c.State != ringdesk.CallStateEnded || c.WaitMS != 2000 || c.TalkMS != 7000 || c.EndReason != reason ||
			c.AnsweredAt == nil || !c.AnsweredAt.Equal(ans) || c.EndedAt == nil || !c.EndedAt.Equal(end) {
			t.Fatalf("call %+v", c)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := db.UpdateCall(ctx, "nope", ringdesk.CallUpdate{State: ringdesk.CallStateEnded}); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Fatalf("err %v, want ENOTFOUND", err)
		}
	})
	t.Run("EventsOnce", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			for seq, kind := range []string{"offered", "queued", "abandoned"} {
				if err := db.AppendCallEvent(ctx, ringdesk.CallEvent{CallID: "c1", Seq: seq + 1, Kind: kind, At: now}); err != nil {
					t.Fatal(err)
				}
			}
		}
		evs, err := db.FindCallEvents(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(evs), 3; got != want {
			t.Fatalf("%d events, want %d", got, want)
		}
		if evs[2].Kind != "abandoned" || evs[2].Seq != 3 {
			t.Fatalf("last event %+v", evs[2])
		}
	})
}

func TestQueuesAndDIDs(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	u := &ringdesk.User{Username: "alice", Role: ringdesk.RoleAgent, SIPUsername: "1001", SIPRealm: "ringdesk"}
	if err := db.CreateUser(ctx, u, "login-password", "sip-password"); err != nil {
		t.Fatal(err)
	}
	u, err := db.FindUserBySIPUsername(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	agentID := strconv.FormatInt(u.ID, 10)
	qid, err := db.CreateQueue(ctx, &ringdesk.Queue{Name: "sales", RingTimeout: 15 * time.Second, WrapUp: 10 * time.Second,
		Overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}, Members: []ringdesk.QueueMember{{AgentID: agentID, Tier: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDID(ctx, "020 7946 0000", qid); err != nil {
		t.Fatal(err)
	}
	routes, err := db.FindDIDRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].Number != "+442079460000" || routes[0].Queue != "sales" || routes[0].QueueID != qid {
		t.Fatalf("routes %+v", routes)
	}
	qs, err := db.FindQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 {
		t.Fatalf("%d queues, want 1", len(qs))
	}
	q := qs[0]
	if q.Name != "sales" || q.RingTimeout != 15*time.Second || q.WrapUp != 10*time.Second || q.Overflow.Kind != ringdesk.OverflowCallback ||
		len(q.Members) != 1 || q.Members[0].AgentID != agentID || q.Members[0].Tier != 2 {
		t.Fatalf("queue %+v", q)
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindUserByID(ctx, u.ID)
	if err != nil || got.SIPUsername != "1001" {
		t.Fatalf("find user by id: %+v, %v", got, err)
	}
	if _, err := db.FindUserByID(ctx, u.ID+100); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("err %v, want ENOTFOUND", err)
	}
}

func TestFindOpenCases(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := &ringdesk.Customer{Name: "Ada Lovelace", Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}}}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []ringdesk.Case{{Subject: "a", Status: ringdesk.CaseOpen}, {Subject: "b", Status: ringdesk.CaseClosed},
		{Subject: "c", Status: ringdesk.CasePending}} {
		k.CustomerID, k.Priority = c.ID, "normal"
		if err := db.CreateCase(ctx, &k); err != nil {
			t.Fatal(err)
		}
	}
	cases, err := db.FindOpenCases(ctx, c.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 || cases[0].Subject != "c" || cases[1].Subject != "a" {
		t.Fatalf("open cases %+v, want c then a", cases)
	}
}

// TestWriteCallLog: a batch writes new rows, merged updates and events in
// one go; replaying it keeps the rows and events there, and a bad event
// refuses the whole batch.
func TestWriteCallLog(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := db.CreateCall(ctx, &ringdesk.Call{ID: "old", Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now}); err != nil {
		t.Fatal(err)
	}
	uid, talk := int64(7), int64(3000)
	creates := []*ringdesk.Call{
		{ID: "new1", Direction: ringdesk.Inbound, CallerRaw: "07700 900123", CallerE164: "+447700900123", OfferedAt: now},
		{ID: "new2", Direction: ringdesk.Outbound, Callee: "1234"},
	}
	updates := map[string]ringdesk.CallUpdate{
		"new1":    {State: ringdesk.CallStateAnswered, AgentID: &uid},
		"old":     {State: ringdesk.CallStateEnded, TalkMS: &talk},
		"missing": {State: ringdesk.CallStateEnded},
	}
	events := []ringdesk.CallEvent{{CallID: "new1", Seq: 1, Kind: "offered", At: now}, {CallID: "new1", Seq: 2, Kind: "answered", At: now}}
	for range 2 { // the second time is a replay
		missing, err := db.WriteCallLog(ctx, creates, updates, events)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) != 1 || missing[0] != "missing" {
			t.Fatalf("missing = %v", missing)
		}
	}
	c, err := db.FindCallByID(ctx, "new1")
	if err != nil || c.State != ringdesk.CallStateAnswered || c.AgentID != 7 || c.CallerE164 != "+447700900123" {
		t.Fatalf("new1 = %+v, %v", c, err)
	}
	if c, err := db.FindCallByID(ctx, "new2"); err != nil || c.State != ringdesk.CallStateOffered || c.OfferedAt.IsZero() {
		t.Fatalf("new2 = %+v, %v", c, err)
	}
	if c, err := db.FindCallByID(ctx, "old"); err != nil || c.State != ringdesk.CallStateEnded || c.TalkMS != 3000 {
		t.Fatalf("old = %+v, %v", c, err)
	}
	if evs, err := db.FindCallEvents(ctx, "new1"); err != nil || len(evs) != 2 {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	_, err = db.WriteCallLog(ctx, []*ringdesk.Call{{ID: "new3", Direction: ringdesk.Inbound}}, nil, []ringdesk.CallEvent{{CallID: "new3", Seq: 1}})
	if ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("bad event: %v, want EINVALID", err)
	}
	if _, err := db.FindCallByID(ctx, "new3"); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("a refused batch wrote its call: %v", err)
	}
}

// A call created and updated in one batch is written by one INSERT that
// carries the update, and a replay of that batch (the row is there) still
// applies the update's columns and keeps the others.
func TestWriteCallLogFoldsUpdatesIntoCreates(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	cust, wait := int64(42), int64(-5)
	answered := now.Add(2 * time.Second)
	creates := []*ringdesk.Call{{ID: "f1", Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now}}
	updates := map[string]ringdesk.CallUpdate{"f1": {State: ringdesk.CallStateAnswered, CustomerID: &cust,
		AnsweredAt: &answered, WaitMS: &wait}}
	if _, err := db.WriteCallLog(ctx, creates, updates, nil); err != nil {
		t.Fatal(err)
	}
	c, err := db.FindCallByID(ctx, "f1")
	if err != nil || c.State != ringdesk.CallStateAnswered || c.CustomerID != 42 || c.WaitMS != 0 ||
		c.AnsweredAt == nil || !c.AnsweredAt.Equal(answered) || c.CallerRaw != "1" {
		t.Fatalf("f1 = %+v, %v", c, err)
	}
	if len(updates) != 1 {
		t.Errorf("WriteCallLog changed the caller's updates: %v", updates)
	}
	// The row moves on; a replay of the first batch sets its columns again
	// (as replaying the update would) and keeps the rest of the row.
	talk := int64(900)
	if _, err := db.WriteCallLog(ctx, nil, map[string]ringdesk.CallUpdate{"f1": {State: ringdesk.CallStateEnded, TalkMS: &talk}}, nil); err != nil {
		t.Fatal(err)
	}
	creates[0].CallerRaw = "changed"
	if _, err := db.WriteCallLog(ctx, creates, updates, nil); err != nil {
		t.Fatal(err)
	}
	c, err = db.FindCallByID(ctx, "f1")
	if err != nil || c.State != ringdesk.CallStateAnswered || c.TalkMS != 900 || c.CallerRaw != "1" || c.CustomerID != 42 {
		t.Fatalf("f1 after replay = %+v, %v", c, err)
	}
}

// A batch that runs out of time is EUNAVAILABLE (the call log tries it
// again or spools it) and writes nothing.
func TestWriteCallLogTransient(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.WriteCallLog(ctx, []*ringdesk.Call{{ID: "t1", Direction: ringdesk.Inbound, CallerRaw: "1"}}, nil, nil)
	if ringdesk.ErrorCode(err) != ringdesk.EUNAVAILABLE {
		t.Fatalf("err = %v, want EUNAVAILABLE", err)
	}
	if _, err := db.FindCallByID(context.Background(), "t1"); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("a failed batch wrote its call: %v", err)
	}
}

// An update that does not set the state (the call path's customer update,
// when its create went in an earlier batch) is written like any other:
// the upsert's INSERT half must name every column without a default.
func TestWriteCallLogUpdateWithoutState(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	if _, err := db.WriteCallLog(ctx, []*ringdesk.Call{{ID: "s1", Direction: ringdesk.Inbound, CallerRaw: "1"}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	cust := int64(9)
	missing, err := db.WriteCallLog(ctx, nil, map[string]ringdesk.CallUpdate{"s1": {CustomerID: &cust}}, nil)
	if err != nil || len(missing) != 0 {
		t.Fatalf("customer-only update: missing %v, %v", missing, err)
	}
	if c, err := db.FindCallByID(ctx, "s1"); err != nil || c.CustomerID != 9 || c.State != ringdesk.CallStateOffered {
		t.Fatalf("s1 = %+v, %v", c, err)
	}
}
