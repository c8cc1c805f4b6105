package telephony_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
	"github.com/ringdesk/ringdesk/telephony"
)

// flakyStore is the real store behind a switch that makes every write
// fail as if MySQL were down.
type flakyStore struct {
	*store.DB
	down atomic.Bool
}

func (f *flakyStore) err() error {
	if f.down.Load() {
		return ringdesk.Errorf(ringdesk.EUNAVAILABLE, "MySQL is down (test).")
	}
	return nil
}

func (f *flakyStore) CreateCall(ctx context.Context, c *ringdesk.Call) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.DB.CreateCall(ctx, c)
}

func (f *flakyStore) UpdateCall(ctx context.Context, id string, u ringdesk.CallUpdate) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.DB.UpdateCall(ctx, id, u)
}

func (f *flakyStore) AppendCallEvent(ctx context.Context, ev ringdesk.CallEvent) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.DB.AppendCallEvent(ctx, ev)
}

func (f *flakyStore) WriteCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
	events []ringdesk.CallEvent) ([]string, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DB.WriteCallLog(ctx, creates, updates, events)
}

// TestCallLogBatch: writes that queue up go to MySQL in batches with the
// outcome of writing them one by one, and a write MySQL refuses is
// rejected alone while the rest of its batch is written.
func TestCallLogBatch(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	log := telephony.NewCallLog(db, t.TempDir(), quiet())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Queued before Open: the writer finds them all at once.
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 300
	for i := range n {
		id := fmt.Sprintf("batch-%03d", i)
		uid, wait, talk, reason := int64(i+1), int64(i), int64(2*i), "caller-hangup"
		log.Create(ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
		log.Event(ringdesk.CallEvent{CallID: id, Seq: 1, Kind: "offered", At: now})
		log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateQueued})
		log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateAnswered, AgentID: &uid, WaitMS: &wait})
		log.Event(ringdesk.CallEvent{CallID: id, Seq: 2, Kind: "answered", At: now})
		log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateEnded, TalkMS: &talk, EndReason: &reason})
		if i == 100 {
			// Refused (no kind): alone.
			log.Event(ringdesk.CallEvent{CallID: id, Seq: 3, At: now})
		}
	}
	log.Update("batch-none", ringdesk.CallUpdate{State: ringdesk.CallStateEnded}) // no row: rejected alone
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close(ctx) }()
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if log.Spooled() {
		t.Fatal("refused writes went to the spool")
	}
	for _, i := range []int{0, 100, n - 1} {
		id := fmt.Sprintf("batch-%03d", i)
		c, err := db.FindCallByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != ringdesk.CallStateEnded || c.AgentID != int64(i+1) || c.WaitMS != int64(i) || c.TalkMS != int64(2*i) || c.EndReason != "caller-hangup" {
			t.Fatalf("call %s = %+v", id, c)
		}
		evs, err := db.FindCallEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Kind != "offered" || evs[1].Kind != "answered" {
			t.Fatalf("events of %s = %+v", id, evs)
		}
	}
}

// countingStore is the real store, counting the batches written.
type countingStore struct {
	*store.DB
	batches atomic.Int64
}

func (c *countingStore) WriteCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
	events []ringdesk.CallEvent) ([]string, error) {
	c.batches.Add(1)
	return c.DB.WriteCallLog(ctx, creates, updates, events)
}

// TestCallLogBatchGap: writes that keep coming go to MySQL at most once per
// gap, together, and none is lost or reordered.
func TestCallLogBatchGap(t *testing.T) {
	// 150 calls over at least 300 ms: with a gap, at most one batch per gap
	// (and the first at once); without, a batch as soon as the last is done.
	for _, tc := range []struct{ gap time.Duration }{{50 * time.Millisecond}, {0}} {
		t.Run(tc.gap.String(), func(t *testing.T) {
			db := &countingStore{DB: storetest.MustOpenDB(t, "GB")}
			log := telephony.NewCallLog(db, t.TempDir(), quiet(), telephony.WithBatchGap(tc.gap))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := log.Open(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = log.Close(ctx) }()
			now := time.Now().UTC().Truncate(time.Millisecond)
			start := time.Now()
			const n = 150
			for i := range n {
				id := fmt.Sprintf("gap-%03d", i)
				log.Create(ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
				log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateQueued})
				log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateEnded})
				time.Sleep(2 * time.Millisecond)
			}
			if err := log.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			if b := db.batches.Load(); tc.gap > 0 && b > int64(elapsed/tc.gap)+2 {
				t.Errorf("%d batches for %d calls in %v with gap %v, want at most %d", b, n, elapsed, tc.gap, int64(elapsed/tc.gap)+2)
			}
			t.Logf("gap %v: %d batches for %d calls", tc.gap, db.batches.Load(), n)
			for i := range n {
				c, err := db.FindCallByID(ctx, fmt.Sprintf("gap-%03d", i))
				if err != nil {
					t.Fatal(err)
				}
				if c.State != ringdesk.CallStateEnded {
					t.Fatalf("call %d is %s, want ended (writes lost or reordered)", i, c.State)
				}
			}
		})
	}
}

// TestCallLogSpool: while MySQL refuses writes the call log keeps them in
// its spool file, in order; when MySQL is back they are replayed, once.
func TestCallLogSpool(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	fs := &flakyStore{DB: db}
	dir := t.TempDir()
	log := telephony.NewCallLog(fs, dir, quiet(), telephony.WithReplayInterval(50*time.Millisecond))
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() { _ = log.Close(ctx) }()

	// One call logged while MySQL is up, a second while it is down.
	now := time.Now().UTC().Truncate(time.Millisecond)
	log.Create(ringdesk.Call{ID: "call-up", Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
	log.Event(ringdesk.CallEvent{CallID: "call-up", Seq: 1, Kind: "offered", At: now})
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	fs.down.Store(true)
	wait, talk, reason := int64(1200), int64(0), "caller-cancel"
	log.Create(ringdesk.Call{ID: "call-down", Direction: ringdesk.Inbound, CallerRaw: "2", OfferedAt: now})
	log.Event(ringdesk.CallEvent{CallID: "call-down", Seq: 1, Kind: "offered", At: now})
	log.Event(ringdesk.CallEvent{CallID: "call-down", Seq: 2, Kind: "abandoned", At: now})
	log.Update("call-down", ringdesk.CallUpdate{State: ringdesk.CallStateAbandoned, EndedAt: &now, WaitMS: &wait, TalkMS: &talk, EndReason: &reason})
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !log.Spooled() {
		t.Fatal("writes while MySQL is down did not go to the spool")
	}
	if fi, err := os.Stat(filepath.Join(dir, "calllog.spool")); err != nil || fi.Size() == 0 {
		t.Fatalf("spool file: %v", err)
	}
	if _, err := db.FindCallByID(ctx, "call-down"); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("call written while MySQL was down: %v", err)
	}

	fs.down.Store(false)
	for log.Spooled() {
		if ctx.Err() != nil {
			t.Fatal("spool never replayed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := db.FindCallByID(ctx, "call-down")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != ringdesk.CallStateAbandoned || c.WaitMS != 1200 || c.EndReason != reason {
		t.Fatalf("replayed call %+v", c)
	}
	evs, err := db.FindCallEvents(ctx, "call-down")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Kind != "offered" || evs[1].Kind != "abandoned" {
		t.Fatalf("replayed events %+v", evs)
	}
	if _, err := os.Stat(filepath.Join(dir, "calllog.spool")); !os.IsNotExist(err) {
		t.Fatalf("spool not removed after replay: %v", err)
	}

	// A replay of the same records (a crash between replay and removal)
	// changes nothing.
	log.Create(ringdesk.Call{ID: "call-down", Direction: ringdesk.Inbound, CallerRaw: "2", OfferedAt: now})
	log.Event(ringdesk.CallEvent{CallID: "call-down", Seq: 2, Kind: "abandoned", At: now})
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if evs, _ := db.FindCallEvents(ctx, "call-down"); len(evs) != 2 {
		t.Fatalf("%d events after a replay, want 2", len(evs))
	}
	if log.Spooled() {
		t.Fatal("a replayed record went to the spool")
	}
}

// TestCallLogSpoolFull: while MySQL is down the spool grows up to its cap;
// past it each write is logged at ERROR with its record and counted, and
// what is already spooled is kept intact and replayed when MySQL is back.
func TestCallLogSpoolFull(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	fs := &flakyStore{DB: db}
	fs.down.Store(true)
	dir := t.TempDir()
	logs := &syncBuffer{}
	const limit = 1500
	log := telephony.NewCallLog(fs, dir, slog.New(slog.NewTextHandler(logs, nil)),
		telephony.WithReplayInterval(50*time.Millisecond), telephony.WithSpoolLimit(limit))
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() { _ = log.Close(ctx) }()
	spool := filepath.Join(dir, "calllog.spool")

	now := time.Now().UTC().Truncate(time.Millisecond)
	n := 0
	for log.Overflows() == 0 {
		n++
		if n > 50 {
			t.Fatal("the spool never filled")
		}
		id := fmt.Sprintf("call-%02d", n)
		log.Create(ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
		if err := log.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) == 0 || len(kept) > limit || int64(len(kept)) != log.SpoolBytes() {
		t.Fatalf("spool holds %d bytes (SpoolBytes %d), want 1..%d", len(kept), log.SpoolBytes(), limit)
	}
	if lines := bytes.Count(kept, []byte("\n")); lines != n-1 {
		t.Fatalf("spool holds %d records, want the %d that fitted", lines, n-1)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), fmt.Sprintf(`\"id\":\"call-%02d\"`, n)) {
		t.Fatalf("the overflowed record is not logged at ERROR with its record:\n%s", logs.String())
	}

	// More writes while full: counted, and the spool is left as it was.
	log.Create(ringdesk.Call{ID: "call-99", Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := log.Overflows(); got != 2 {
		t.Fatalf("%d overflows, want 2", got)
	}
	if again, _ := os.ReadFile(spool); !bytes.Equal(again, kept) {
		t.Fatal("the spool changed while full")
	}

	// MySQL is back: everything spooled goes in, and writes go to MySQL.
	fs.down.Store(false)
	for log.Spooled() {
		if ctx.Err() != nil {
			t.Fatal("spool never replayed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i < n; i++ {
		if _, err := db.FindCallByID(ctx, fmt.Sprintf("call-%02d", i)); err != nil {
			t.Fatalf("spooled call %d not replayed: %v", i, err)
		}
	}
	if log.SpoolBytes() != 0 {
		t.Fatalf("SpoolBytes %d after replay, want 0", log.SpoolBytes())
	}
	log.Create(ringdesk.Call{ID: "call-after", Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindCallByID(ctx, "call-after"); err != nil {
		t.Fatalf("write after the replay: %v", err)
	}
}

// busyStore is the real store whose first failBatches batches fail as a
// struggling MySQL's do (EUNAVAILABLE), counting the single-row writes.
type busyStore struct {
	*store.DB
	failBatches atomic.Int64
	batches     atomic.Int64
	singles     atomic.Int64
}

func (b *busyStore) WriteCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
	events []ringdesk.CallEvent) ([]string, error) {
	b.batches.Add(1)
	if b.failBatches.Add(-1) >= 0 {
		return nil, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "MySQL did not take the batch in time (test).")
	}
	return b.DB.WriteCallLog(ctx, creates, updates, events)
}

func (b *busyStore) CreateCall(ctx context.Context, c *ringdesk.Call) error {
	b.singles.Add(1)
	return b.DB.CreateCall(ctx, c)
}

func (b *busyStore) UpdateCall(ctx context.Context, id string, u ringdesk.CallUpdate) error {
	b.singles.Add(1)
	return b.DB.UpdateCall(ctx, id, u)
}

func (b *busyStore) AppendCallEvent(ctx context.Context, ev ringdesk.CallEvent) error {
	b.singles.Add(1)
	return b.DB.AppendCallEvent(ctx, ev)
}

// TestCallLogBusyMySQL: a batch that fails because MySQL is struggling is
// tried again as a batch, never split into single-row writes; one that
// fails twice is spooled whole.
func TestCallLogBusyMySQL(t *testing.T) {
	for _, fails := range []int64{1, 2} {
		t.Run(fmt.Sprintf("fails=%d", fails), func(t *testing.T) {
			db := &busyStore{DB: storetest.MustOpenDB(t, "GB")}
			db.failBatches.Store(fails)
			log := telephony.NewCallLog(db, t.TempDir(), quiet())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			now := time.Now().UTC().Truncate(time.Millisecond)
			for i := range 20 {
				id := fmt.Sprintf("busy-%02d", i)
				log.Create(ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
				log.Event(ringdesk.CallEvent{CallID: id, Seq: 1, Kind: "offered", At: now})
				log.Update(id, ringdesk.CallUpdate{State: ringdesk.CallStateQueued})
			}
			if err := log.Open(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = log.Close(ctx) }()
			if err := log.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if fails == 1 && (db.singles.Load() != 0 || log.Spooled() || db.batches.Load() != 2) {
				t.Fatalf("after one failed batch: %d batches, %d single writes, spooled %t; want 2, 0, false",
					db.batches.Load(), db.singles.Load(), log.Spooled())
			}
			if fails == 2 && (db.singles.Load() != 0 || !log.Spooled()) {
				t.Fatalf("after two failed batches: %d single writes, spooled %t; want 0, true", db.singles.Load(), log.Spooled())
			}
		})
	}
}

// TestCallLogReplayInBatches: a spool is replayed in batches of writes,
// not a statement per record (a long outage spools hundreds of thousands).
func TestCallLogReplayInBatches(t *testing.T) {
	db := &busyStore{DB: storetest.MustOpenDB(t, "GB")}
	db.failBatches.Store(2) // the first batch fails twice: spooled
	dir := t.TempDir()
	log := telephony.NewCallLog(db, dir, quiet(), telephony.WithReplayInterval(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const calls = 1250 // 2,500 records: the first drain takes 1,000
	for i := range calls {
		id := fmt.Sprintf("spooled-%04d", i)
		log.Create(ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerRaw: "1", OfferedAt: now})
		log.Event(ringdesk.CallEvent{CallID: id, Seq: 1, Kind: "offered", At: now})
	}
	if err := log.Open(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close(ctx) }()
	if err := log.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for log.Spooled() {
		if ctx.Err() != nil {
			t.Fatal("spool never replayed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range []int{0, 600, calls - 1} {
		if _, err := db.FindCallByID(ctx, fmt.Sprintf("spooled-%04d", i)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if db.singles.Load() != 0 || db.batches.Load() > 5 {
		t.Fatalf("%d batches and %d single writes for 2,500 records; want at most 5 and none", db.batches.Load(), db.singles.Load())
	}
}
