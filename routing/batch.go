package routing

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// batcher runs the operations on calls and agents of all of a node's
// goroutines through shared runs of the batch script ("smart batching"):
// an operation waits only while MaxInFlight batches are already on their
// way to Redis, and then goes with every other operation that arrived
// meanwhile. At low load every batch holds one operation, so nothing waits
// for a batch to fill; under load the batches grow by themselves.
//
// Why: Redis runs scripts on one thread, and most of a short script's cost
// there is fixed (reading and answering the request, starting the script,
// its time read and its event stream entry). Sharing that cost among the
// operations of a batch is what lets one Redis carry the target load.
// Operations in a batch run in arrival order, each as atomically as a
// script of its own.
type batcher struct {
	exec        func(ctx context.Context, args []any) (any, error) // runs one batch script
	maxBatch    int
	maxInFlight int
	timeout     time.Duration

	mu       sync.Mutex
	pending  []*batchOp
	inFlight int
}

type batchOp struct {
	ctx   context.Context
	label string // what failed, for errors: "enqueue call"
	args  []any  // name, count, arguments; once per operation
	n     int    // operations in args, each with its slot in the reply
	res   []any  // per operation
	errs  []error
	done  chan struct{}
	// one holds res and errs for a single operation (do): no allocation.
	one struct {
		res [1]any
		err [1]error
	}
}

// do runs one operation and returns its result. When ctx ends before the
// operation was sent, it is not run; when it ends later, the operation
// may still take effect (as with any request already on the wire).
func (b *batcher) do(ctx context.Context, label, name string, args ...any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	op := &batchOp{ctx: ctx, label: label, n: 1, done: make(chan struct{})}
	op.args = append(make([]any, 0, len(args)+2), name, len(args))
	op.args = append(op.args, args...)
	res, errs, err := b.wait(op)
	if err != nil {
		return nil, err
	}
	return res[0], errs[0]
}

// seq runs operations (each its name, then its arguments) one after the
// other in one batch, as do runs one: nothing of another batch runs
// between them. An operation whose name starts with "?" runs only when the
// one before it succeeded. It returns each one's result and error; err is
// for the whole (ctx ended before they were sent, Redis unreachable), and
// then nothing is in res or errs.
func (b *batcher) seq(ctx context.Context, label string, ops ...[]any) (res []any, errs []error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", label, err)
	}
	op := &batchOp{ctx: ctx, label: label, n: len(ops), done: make(chan struct{})}
	size := 0
	for _, o := range ops {
		size += len(o) + 1
	}
	op.args = make([]any, 0, size)
	for _, o := range ops {
		op.args = append(op.args, o[0], len(o)-1)
		op.args = append(op.args, o[1:]...)
	}
	return b.wait(op)
}

// wait queues op, starts a sender when fewer than maxInFlight are on
// their way, and waits for op's results.
func (b *batcher) wait(op *batchOp) ([]any, []error, error) {
	b.mu.Lock()
	b.pending = append(b.pending, op)
	start := b.inFlight < b.maxInFlight
	if start {
		b.inFlight++
	}
	b.mu.Unlock()
	if start {
		go b.loop()
	}
	select {
	case <-op.done:
		if op.res == nil {
			return nil, nil, op.errs[0]
		}
		return op.res, op.errs, nil
	case <-op.ctx.Done():
		return nil, nil, fmt.Errorf("%s: %w", op.label, op.ctx.Err())
	}
}

// loop sends batches while operations are pending, then ends.
func (b *batcher) loop() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.maxBatch)
		if n == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		ops := make([]*batchOp, n)
		copy(ops, b.pending)
		rest := copy(b.pending, b.pending[n:])
		clear(b.pending[rest:])
		b.pending = b.pending[:rest]
		b.mu.Unlock()
		b.send(ops)
	}
}

func (b *batcher) send(ops []*batchOp) {
	live := ops[:0:0]
	n := 0
	for _, op := range ops {
		n += len(op.args)
	}
	args := make([]any, 0, n) // sized at once: grown, it was 1 % of the call path's allocations
	slots := 0
	for _, op := range ops {
		if err := op.ctx.Err(); err != nil { // its caller is gone: do not run it
			op.errs = []error{fmt.Errorf("%s: %w", op.label, err)}
			close(op.done)
			continue
		}
		live = append(live, op)
		args = append(args, op.args...)
		slots += op.n
	}
	if len(live) == 0 {
		return
	}
	// The batch is not any one caller's: it gets its own deadline (the
	// client's read timeout usually ends a dead connection sooner).
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	v, err := b.exec(ctx, args)
	cancel()
	res, ok := v.([]any)
	if err == nil && (!ok || len(res) != 2*slots) {
		err = fmt.Errorf("unexpected reply to a batch of %d: %v", slots, v)
	}
	for _, op := range live {
		if err != nil {
			op.errs = []error{formatError(op.label, err)}
		} else {
			if op.n == 1 {
				op.res, op.errs = op.one.res[:], op.one.err[:]
			} else {
				op.res, op.errs = make([]any, op.n), make([]error, op.n)
			}
			for i := range op.n {
				op.res[i], op.errs[i] = opResult(op.label, res[2*i], res[2*i+1])
			}
			res = res[2*op.n:]
		}
		close(op.done)
	}
}

// opResult unpacks one operation's two slots of the batch reply: 1,
// result or 0, "code message".
func opResult(label string, status, v any) (any, error) {
	switch n, _ := status.(int64); n {
	case 1:
		return v, nil
	case 0:
		if msg, ok := v.(string); ok {
			return nil, scriptError(label, msg)
		}
	}
	return nil, fmt.Errorf("%s: unexpected reply %v, %v", label, status, v)
}
