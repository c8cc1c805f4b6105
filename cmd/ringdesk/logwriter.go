package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logWriter gathers serve's log lines and writes them out together. Under
// load serve logs a few lines per call (2,000 a second at 500 calls/s),
// and a write(2) each was ~2 % of its CPU. A line waits at most
// logFlushEvery; a line at WARN or above goes out at once with those
// before it (logHandler), and so does everything when the buffer passes
// logFlushBytes or the writer is closed.
type logWriter struct {
	mu      sync.Mutex
	w       io.Writer
	buf     []byte
	every   time.Duration
	pending *time.Timer // set while lines wait
	closed  bool
	err     error // the last write's error, reported by Flush and Close
}

const (
	logFlushEvery = 50 * time.Millisecond
	logFlushBytes = 32 << 10
)

func newLogWriter(w io.Writer, every time.Duration) *logWriter {
	return &logWriter{w: w, every: every}
}

// Write takes one record as the handler formatted it.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// After Close (a late goroutine): straight out, nothing is lost.
		return l.w.Write(p)
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= logFlushBytes {
		l.flushLocked()
	} else if l.pending == nil {
		l.pending = time.AfterFunc(l.every, func() { _ = l.Flush() })
	}
	return len(p), nil
}

// Flush writes out what waits.
func (l *logWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.err
}

func (l *logWriter) flushLocked() {
	if l.pending != nil {
		l.pending.Stop()
		l.pending = nil
	}
	if len(l.buf) == 0 {
		return
	}
	if _, err := l.w.Write(l.buf); err != nil {
		l.err = err
	}
	if cap(l.buf) > 4*logFlushBytes {
		l.buf = nil // a burst of long lines: do not keep its buffer
	} else {
		l.buf = l.buf[:0]
	}
}

// Close writes out what waits; later lines are written as they come.
func (l *logWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	l.closed = true
	return l.err
}

// logHandler flushes its writer after each record at WARN or above, so that
// warnings and errors are seen at once, in order with what came before.
type logHandler struct {
	slog.Handler
	w *logWriter
}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		_ = h.w.Flush()
	}
	return err
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(attrs), h.w}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{h.Handler.WithGroup(name), h.w}
}
