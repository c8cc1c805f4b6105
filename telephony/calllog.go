package telephony

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringdesk/ringdesk"
)

// CallStore is the call log in MySQL; store.DB implements it.
type CallStore interface {
	// CreateCall returns ECONFLICT when the row exists (a replay).
	CreateCall(ctx context.Context, c *ringdesk.Call) error
	UpdateCall(ctx context.Context, id string, upd ringdesk.CallUpdate) error
	// AppendCallEvent ignores an event whose (call, seq) is recorded.
	AppendCallEvent(ctx context.Context, ev ringdesk.CallEvent) error
}

// CallBatchStore is a CallStore that applies many writes in one
// transaction; store.DB implements it. The call log uses it when it can.
type CallBatchStore interface {
	CallStore
	// WriteCallLog writes creates, then each call's merged update, then
	// events, all or nothing. It returns the updated calls that have no
	// row, and EINVALID, writing nothing, for a create or event that
	// CreateCall or AppendCallEvent would refuse.
	WriteCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
		events []ringdesk.CallEvent) (missing []string, err error)
}

// maxBatch bounds the writes applied in one transaction.
const maxBatch = 1000

// callOp is one write of the call log, as kept in the spool (one JSON line).
type callOp struct {
	Op     string               `json:"op"` // create | update | event
	Call   *ringdesk.Call       `json:"call,omitempty"`
	ID     string               `json:"id,omitempty"`
	Update *ringdesk.CallUpdate `json:"update,omitempty"`
	Event  *ringdesk.CallEvent  `json:"event,omitempty"`
}

// CallLog writes call rows and events without ever blocking the call path:
// writes are queued in memory and applied in order by one goroutine, each
// with a small budget. A write that fails (MySQL down or slow) goes to an
// append-only spool file, and so does every later write until the spool
// has been replayed into MySQL, so the order per call is kept. Replays are
// idempotent: creates that conflict, events already recorded and updates
// applied twice change nothing. No call record is lost while the process
// lives; the spool survives a restart and is replayed by the next Open.
//
// The spool has a size cap (WithSpoolLimit), so a long MySQL outage cannot
// fill the disk the rest of the node needs. When a write would pass it, the
// call goes on as ever, what is already spooled stays, and the write is
// logged at ERROR with the whole record (to be re-entered from the log)
// and counted (Overflows).
type CallLog struct {
	store  CallStore
	path   string
	budget time.Duration
	retry  time.Duration
	gap    time.Duration // least time between the starts of two batches
	limit  int64
	log    *slog.Logger
	last   time.Time // when the last batch started

	spoolBytes atomic.Int64  // size of the spool file
	overflows  atomic.Uint64 // writes the full spool could not keep

	mu      sync.Mutex
	queue   []callOp
	wake    chan struct{}
	idle    *sync.Cond // signalled when the queue drains
	busy    bool
	spooled bool // the spool file holds writes not yet in MySQL

	cancel context.CancelFunc
	done   chan struct{}
}

// CallLogOption configures a CallLog.
type CallLogOption func(*CallLog)

// WithWriteBudget bounds each MySQL write (default 2 s).
func WithWriteBudget(d time.Duration) CallLogOption { return func(l *CallLog) { l.budget = d } }

// WithReplayInterval sets how often the spool is replayed while MySQL is
// down (default 2 s).
func WithReplayInterval(d time.Duration) CallLogOption { return func(l *CallLog) { l.retry = d } }

// DefaultBatchGap is the least time between the starts of two MySQL
// batches while writes keep coming (see WithBatchGap). At 500 calls/s,
// 100 ms against 20 ms took MySQL from 0.69-0.75 to mostly ~0.6 ms of CPU
// per call (scripts/bench.sh callpath): fewer, larger transactions, and
// more of a call's updates merged into one row write.
const DefaultBatchGap = 100 * time.Millisecond

// WithBatchGap sets the least time between the starts of two MySQL batches
// (default DefaultBatchGap; 0 writes each batch as soon as the last one
// is done). Writes that arrive sooner wait and go together: at hundreds
// of calls per second MySQL's work is mostly per statement and per
// transaction, not per row, and each call makes several writes within
// milliseconds. A write still reaches MySQL at most a gap after it would
// have; the first after a quiet spell goes at once.
func WithBatchGap(d time.Duration) CallLogOption {
	return func(l *CallLog) { l.gap = max(d, 0) }
}

// BatchGap returns the least time between two batches (WithBatchGap).
func (l *CallLog) BatchGap() time.Duration { return l.gap }

// DefaultSpoolLimit is the spool's size cap unless WithSpoolLimit says
// otherwise: at a few hundred bytes a record, about a million records.
const DefaultSpoolLimit = 256 << 20

// WithSpoolLimit caps the spool file at n bytes (default
// DefaultSpoolLimit); n <= 0 keeps the default.
func WithSpoolLimit(n int64) CallLogOption {
	return func(l *CallLog) {
		if n > 0 {
			l.limit = n
		}
	}
}

// NewCallLog returns a call log writing to store, spooling to
// dir/calllog.spool. Start it with Open.
func NewCallLog(store CallStore, dir string, logger *slog.Logger, opts ...CallLogOption) *CallLog {
	l := &CallLog{store: store, path: filepath.Join(dir, "calllog.spool"), budget: 2 * time.Second,
		retry: 2 * time.Second, gap: DefaultBatchGap, limit: DefaultSpoolLimit, log: logger, wake: make(chan struct{}, 1)}
	l.idle = sync.NewCond(&l.mu)
	for _, o := range opts {
		o(l)
	}
	return l
}

// Open starts the writer; a spool left by an earlier run is replayed first.
func (l *CallLog) Open() error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o750); err != nil {
		return fmt.Errorf("open call log spool: %w", err)
	}
	if fi, err := os.Stat(l.path); err == nil && fi.Size() > 0 {
		l.spooled = true
		l.spoolBytes.Store(fi.Size())
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan struct{})
	go l.run(ctx)
	return nil
}

// Close flushes what it can within ctx (the rest stays in the spool) and
// stops the writer.
func (l *CallLog) Close(ctx context.Context) error {
	err := l.Sync(ctx)
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	// Whatever is still queued goes to the spool.
	l.mu.Lock()
	rest := l.queue
	l.queue = nil
	l.mu.Unlock()
	if serr := l.appendSpool(rest); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// Sync waits until every queued write is in MySQL or in the spool.
func (l *CallLog) Sync(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.idle.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queue) > 0 || l.busy {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.idle.Wait()
	}
	return nil
}

// SpoolBytes is the size of the spool: writes waiting for MySQL.
func (l *CallLog) SpoolBytes() int64 { return l.spoolBytes.Load() }

// Overflows counts the writes the spool could not keep because it was
// full (each was logged at ERROR with its record).
func (l *CallLog) Overflows() uint64 { return l.overflows.Load() }

// Spooled reports whether writes are waiting in the spool for MySQL.
func (l *CallLog) Spooled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spooled
}

// Create queues a new call row.
func (l *CallLog) Create(c ringdesk.Call) { l.push(callOp{Op: "create", Call: &c}) }

// Update queues a state transition.
func (l *CallLog) Update(id string, upd ringdesk.CallUpdate) {
	l.push(callOp{Op: "update", ID: id, Update: &upd})
}

// Event queues a call event.
func (l *CallLog) Event(ev ringdesk.CallEvent) { l.push(callOp{Op: "event", Event: &ev}) }

func (l *CallLog) push(op callOp) {
	l.mu.Lock()
	l.queue = append(l.queue, op)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *CallLog) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.retry)
	defer t.Stop()
	for {
		l.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-t.C:
			l.mu.Lock()
			spooled := l.spooled
			l.mu.Unlock()
			if spooled {
				l.replay(ctx)
			}
		}
	}
}

// drain applies queued writes in order, to MySQL or, while the spool is
// in use, to the spool. What has queued up meanwhile goes to MySQL as one
// batch (one transaction) when the store can: at hundreds of calls per
// second, a dozen single-row statements per call were most of MySQL's work.
func (l *CallLog) drain(ctx context.Context) {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.busy = false
			l.idle.Broadcast()
			l.mu.Unlock()
			return
		}
		if wait := l.gap - time.Since(l.last); wait > 0 && !l.spooled && len(l.queue) < maxBatch {
			l.busy = true
			l.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				l.mu.Lock()
				l.busy = false
				l.idle.Broadcast()
				l.mu.Unlock()
				return
			case <-t.C:
			}
			continue
		}
		l.last = time.Now()
		n := min(len(l.queue), maxBatch)
		ops := append([]callOp(nil), l.queue[:n]...)
		l.queue = l.queue[n:]
		if len(l.queue) == 0 {
			l.queue = nil // let the backing array go
		}
		l.busy = true
		spooled := l.spooled
		l.mu.Unlock()

		done := 0
		if !spooled {
			var err error
			done, err = l.applyAll(ctx, ops)
			if err == nil {
				continue
			}
			l.log.Warn("call log write failed: spooling to disk", "error", err, "spool", l.path)
		}
		_ = l.appendSpool(ops[done:]) // what it cannot keep it reports lost
		l.mu.Lock()
		l.spooled = true
		l.mu.Unlock()
	}
}

// errSpoolFull is appendSpool's answer when the record would pass the cap.
var errSpoolFull = errors.New("call log spool is full")

// lost reports a write that neither MySQL nor the spool could keep, loudly
// and with the whole record, so that it can be re-entered from the log.
func (l *CallLog) lost(op callOp, err error) {
	if errors.Is(err, errSpoolFull) {
		l.overflows.Add(1)
	}
	rec, _ := json.Marshal(op)
	l.log.Error("call log record not kept: re-enter it from this line", "error", err, "op", op.Op,
		"spool", l.path, "spool_bytes", l.spoolBytes.Load(), "spool_limit", l.limit, "record", string(rec))
}

// applyAll writes ops to MySQL: as one batch when the store can, else (or
// when the batch is refused) one by one. It returns how many ops are in
// MySQL, in order, and the error that stopped the rest.
//
// A batch that failed because MySQL is away or struggling (EUNAVAILABLE:
// out of time, connection lost, deadlock) is tried once more and then
// left to the caller (the spool), not written one by one: that sends a
// struggling server a statement per write instead of a few per batch.
func (l *CallLog) applyAll(ctx context.Context, ops []callOp) (int, error) {
	if bs, ok := l.store.(CallBatchStore); ok && len(ops) > 1 {
		err := l.applyBatch(ctx, bs, ops)
		if ringdesk.ErrorCode(err) == ringdesk.EUNAVAILABLE {
			l.log.Debug("call log batch failed: trying it again", "error", err, "ops", len(ops))
			err = l.applyBatch(ctx, bs, ops)
			if ringdesk.ErrorCode(err) == ringdesk.EUNAVAILABLE {
				return 0, err
			}
		}
		if err == nil {
			return len(ops), nil
		}
		// One by one finds the write at fault, as before batching; a
		// refused batch is a bug (or bad data) worth seeing in the log.
		l.log.Warn("call log batch refused: writing it one by one", "error", err, "ops", len(ops))
	}
	for i, op := range ops {
		if err := l.apply(ctx, op); err != nil {
			return i, err
		}
	}
	return len(ops), nil
}

func (l *CallLog) applyBatch(ctx context.Context, bs CallBatchStore, ops []callOp) error {
	// Sized at once: a batch is mostly events (five per call).
	var creates []*ringdesk.Call
	events := make([]ringdesk.CallEvent, 0, len(ops))
	updates := map[string]ringdesk.CallUpdate{}
	for _, op := range ops {
		switch op.Op {
		case "create":
			creates = append(creates, op.Call)
		case "update":
			updates[op.ID] = mergeCallUpdates(updates[op.ID], *op.Update)
		case "event":
			events = append(events, *op.Event)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.budget)
	defer cancel()
	missing, err := bs.WriteCallLog(ctx, creates, updates, events)
	for _, id := range missing {
		l.log.Error("call log write rejected", "error", "no call row", "op", "update", "call_id", id)
	}
	return err
}

// mergeCallUpdates folds b into a: the fields b sets win, so applying the
// merge once has the outcome of applying a then b.
func mergeCallUpdates(a, b ringdesk.CallUpdate) ringdesk.CallUpdate {
	if b.State != "" {
		a.State = b.State
	}
	if b.QueueID != nil {
		a.QueueID = b.QueueID
	}
	if b.AgentID != nil {
		a.AgentID = b.AgentID
	}
	if b.CustomerID != nil {
		a.CustomerID = b.CustomerID
	}
	if b.AnsweredAt != nil {
		a.AnsweredAt = b.AnsweredAt
	}
	if b.EndedAt != nil {
		a.EndedAt = b.EndedAt
	}
	if b.WaitMS != nil {
		a.WaitMS = b.WaitMS
	}
	if b.TalkMS != nil {
		a.TalkMS = b.TalkMS
	}
	if b.EndReason != nil {
		a.EndReason = b.EndReason
	}
	return a
}

func (l *CallLog) apply(ctx context.Context, op callOp) error {
	ctx, cancel := context.WithTimeout(ctx, l.budget)
	defer cancel()
	var err error
	switch op.Op {
	case "create":
		err = l.store.CreateCall(ctx, op.Call)
		if ringdesk.ErrorCode(err) == ringdesk.ECONFLICT {
			err = nil // already logged: a replay
		}
	case "update":
		err = l.store.UpdateCall(ctx, op.ID, *op.Update)
	case "event":
		err = l.store.AppendCallEvent(ctx, *op.Event)
	default:
		return nil
	}
	if code := ringdesk.ErrorCode(err); code == ringdesk.EINVALID || code == ringdesk.ENOTFOUND {
		// Retrying cannot help; keep the record in the log, not the spool.
		l.log.Error("call log write rejected", "error", err, "op", op.Op)
		return nil
	}
	return err
}

// appendSpool appends ops to the spool in one write and one fsync (one
// per record was a disk flush per call-log write: a few thousand a second
// at 500 calls/s during a MySQL outage). A record that would take the
// spool past its size cap is not written (errSpoolFull); it and any
// record the write or the sync fails for are reported lost, and the first
// such error is returned.
func (l *CallLog) appendSpool(ops []callOp) error {
	var buf []byte
	var kept []callOp
	var first error
	lose := func(op callOp, err error) {
		l.lost(op, err)
		if first == nil {
			first = err
		}
	}
	size := l.spoolBytes.Load()
	for _, op := range ops {
		b, err := json.Marshal(op)
		if err != nil {
			lose(op, err)
			continue
		}
		if size+int64(len(buf)+len(b)+1) > l.limit {
			lose(op, errSpoolFull)
			continue
		}
		buf = append(append(buf, b...), '\n')
		kept = append(kept, op)
	}
	if len(buf) == 0 {
		return first
	}
	if err := l.writeSpool(buf); err != nil {
		for _, op := range kept {
			lose(op, err)
		}
	}
	return first
}

// writeSpool appends buf to the spool file and syncs it.
func (l *CallLog) writeSpool(buf []byte) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	n, err := f.Write(buf)
	l.spoolBytes.Add(int64(n))
	if err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// replay applies the spool in order. On the first failure it stops and
// the whole spool is tried again later (every write is idempotent). When
// it all went in, the spool is removed and writes go to MySQL again.
func (l *CallLog) replay(ctx context.Context) {
	// New writes keep going to the spool (busy) while it is replayed.
	l.mu.Lock()
	l.busy = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.busy = false
		l.idle.Broadcast()
		l.mu.Unlock()
	}()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		l.mu.Lock()
		l.spooled = false
		l.mu.Unlock()
		return
	}
	if err != nil {
		l.log.Error("open call log spool", "error", err)
		return
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	// Replayed in batches, as drain writes (a long outage's spool holds
	// hundreds of thousands of records).
	n, line := 0, 0
	var chunk []callOp
	apply := func() bool {
		done, err := l.applyAll(ctx, chunk)
		n += done
		chunk = chunk[:0]
		if err != nil {
			l.log.Debug("call log replay: mysql still unavailable", "error", err, "replayed", n)
			return false
		}
		return true
	}
	for sc.Scan() {
		line++
		var op callOp
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			l.log.Error("call log spool: bad line skipped", "line", line, "error", err)
			continue
		}
		chunk = append(chunk, op)
		if len(chunk) == maxBatch && !apply() {
			_ = f.Close()
			return
		}
	}
	_ = f.Close()
	if err := sc.Err(); err != nil {
		l.log.Error("read call log spool", "error", err)
		return
	}
	if len(chunk) > 0 && !apply() {
		return
	}
	// Writes queued meanwhile are neither in MySQL nor in the spool: they
	// come after everything replayed, so drain may send them to MySQL.
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Remove(l.path); err != nil {
		l.log.Error("remove call log spool", "error", err)
		return
	}
	l.spoolBytes.Store(0)
	l.spooled = false
	l.log.Info("call log spool replayed into mysql", "records", n)
}
