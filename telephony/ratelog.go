package telephony

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Defaults for RateLimitedHandler.
const (
	DefaultLogBurst    = 5           // lines per key per window
	DefaultLogWindow   = time.Second // window length
	defaultLogMaxKeys  = 512         // distinct keys tracked before they share one bucket
	defaultMaxAttrLen  = 120         // longest string attribute logged as is
	overflowLogKey     = "\x00other"
	suppressedLogMsg   = "suppressed repeated log messages"
	truncatedAttrLimit = 96
)

// RateLimitedHandler is a slog.Handler that lets at most Burst records per key
// through in each Window and counts the rest; the key is the record's level
// and message, so one noisy message (a flood of junk datagrams, each logged
// by sipgo or by the listener) cannot drown the others or fill the disk. When
// a key's window ends with records suppressed, one summary record
// ("suppressed repeated log messages", with msg and count) is written, either
// by the next record of that key or by Flush, which the Server calls
// periodically.
//
// It also shortens long string attributes: sipgo logs whole payloads (the
// "data" attribute of "failed to parse"), and a log line must never carry a
// whole message from the network. Values longer than 120 bytes are replaced
// by an escaped prefix and their length.
type RateLimitedHandler struct {
	next  slog.Handler
	state *rateState
}

type rateState struct {
	mu      sync.Mutex
	burst   int
	window  time.Duration
	now     func() time.Time
	buckets map[string]*logBucket
	// out is the unwrapped handler summaries go to.
	out slog.Handler
}

type logBucket struct {
	level      slog.Level
	msg        string
	start      time.Time
	count      int
	suppressed int
}

// NewRateLimitedHandler wraps next. burst <= 0 and window <= 0 take the
// defaults (5 lines per key per second). now is the clock (nil: time.Now).
func NewRateLimitedHandler(next slog.Handler, burst int, window time.Duration, now func() time.Time) *RateLimitedHandler {
	if burst <= 0 {
		burst = DefaultLogBurst
	}
	if window <= 0 {
		window = DefaultLogWindow
	}
	if now == nil {
		now = time.Now
	}
	return &RateLimitedHandler{
		next: next,
		state: &rateState{
			burst:   burst,
			window:  window,
			now:     now,
			buckets: make(map[string]*logBucket),
			out:     next,
		},
	}
}

// Enabled reports whether the wrapped handler handles level.
func (h *RateLimitedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle writes r unless its key is over its budget for the current window.
func (h *RateLimitedHandler) Handle(ctx context.Context, r slog.Record) error {
	st := h.state
	key := r.Level.String() + "\x00" + r.Message
	st.mu.Lock()
	now := st.now()
	b, ok := st.buckets[key]
	if !ok {
		if len(st.buckets) >= defaultLogMaxKeys {
			key = overflowLogKey
			b = st.buckets[key]
		}
		if b == nil {
			b = &logBucket{level: r.Level, msg: r.Message, start: now}
			if key == overflowLogKey {
				b.msg = "(other messages)"
			}
			st.buckets[key] = b
		}
	}
	var summary *slog.Record
	if now.Sub(b.start) >= st.window {
		if b.suppressed > 0 {
			s := st.summary(b, now)
			summary = &s
		}
		b.start, b.count, b.suppressed = now, 0, 0
	}
	allowed := b.count < st.burst
	if allowed {
		b.count++
	} else {
		b.suppressed++
	}
	st.mu.Unlock()

	if summary != nil {
		if err := st.out.Handle(ctx, *summary); err != nil {
			return err
		}
	}
	if !allowed {
		return nil
	}
	return h.next.Handle(ctx, shortenAttrs(r))
}

// WithAttrs returns a handler sharing this one's budget.
func (h *RateLimitedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i, a := range attrs {
		attrs[i] = shortenAttr(a)
	}
	return &RateLimitedHandler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup returns a handler sharing this one's budget.
func (h *RateLimitedHandler) WithGroup(name string) slog.Handler {
	return &RateLimitedHandler{next: h.next.WithGroup(name), state: h.state}
}

// Flush writes a summary for every key whose window has ended with records
// suppressed, and forgets idle keys so that the table stays small.
func (h *RateLimitedHandler) Flush(ctx context.Context) {
	st := h.state
	st.mu.Lock()
	now := st.now()
	var out []slog.Record
	for k, b := range st.buckets {
		if now.Sub(b.start) < st.window {
			continue
		}
		if b.suppressed > 0 {
			out = append(out, st.summary(b, now))
		}
		delete(st.buckets, k)
	}
	st.mu.Unlock()
	for _, r := range out {
		_ = st.out.Handle(ctx, r)
	}
}

func (st *rateState) summary(b *logBucket, now time.Time) slog.Record {
	level := b.level
	if level > slog.LevelWarn {
		// A summary is not itself an error.
		level = slog.LevelWarn
	}
	r := slog.NewRecord(now, level, suppressedLogMsg, 0)
	r.AddAttrs(
		slog.String("msg_suppressed", b.msg),
		slog.Int("count", b.suppressed),
		slog.Duration("window", now.Sub(b.start)),
	)
	return r
}

func shortenAttrs(r slog.Record) slog.Record {
	long := false
	r.Attrs(func(a slog.Attr) bool {
		if isLongAttr(a) {
			long = true
			return false
		}
		return true
	})
	if !long {
		return r
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(shortenAttr(a))
		return true
	})
	return nr
}

func isLongAttr(a slog.Attr) bool {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return len(v.String()) > defaultMaxAttrLen
	case slog.KindAny:
		if b, ok := v.Any().([]byte); ok {
			return len(b) > defaultMaxAttrLen
		}
	case slog.KindGroup:
		for _, g := range v.Group() {
			if isLongAttr(g) {
				return true
			}
		}
	}
	return false
}

func shortenAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s := v.String(); len(s) > defaultMaxAttrLen {
			return slog.String(a.Key, EscapedPrefix([]byte(s), truncatedAttrLimit))
		}
	case slog.KindAny:
		if b, ok := v.Any().([]byte); ok && len(b) > defaultMaxAttrLen {
			return slog.String(a.Key, EscapedPrefix(b, truncatedAttrLimit))
		}
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, 0, len(g))
		for _, x := range g {
			out = append(out, shortenAttr(x))
		}
		return slog.Group(a.Key, out...)
	}
	return a
}

// EscapedPrefix returns at most n bytes of b escaped as in a Go string
// literal (control characters and invalid UTF-8 as \r, \x00, ...; no
// surrounding quotes), followed by the total length when b was cut. It is what the listener logs of a rejected message, at DEBUG.
func EscapedPrefix(b []byte, n int) string {
	if n < 0 {
		n = 0
	}
	total := len(b)
	cut := total > n
	if cut {
		b = b[:n]
	}
	s := strconv.Quote(string(b))
	s = s[1 : len(s)-1]
	if cut {
		s += fmt.Sprintf("…(%d bytes)", total)
	}
	return s
}
