package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer records each write the log writer makes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	fail   error
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) state() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

// Info lines wait and go out together, in order, within the interval; a
// warning goes out at once with the lines before it; Close leaves nothing
// behind, and lines after it are written as they come.
func TestLogWriter(t *testing.T) {
	out := &syncBuffer{}
	lw := newLogWriter(out, time.Hour) // only a warning, the size or Close flush
	log := slog.New(logHandler{slog.NewTextHandler(lw, nil), lw}).With("component", "test")

	log.Info("one")
	log.Info("two")
	if got, n := out.state(); got != "" || n != 0 {
		t.Fatalf("info lines written before any flush: %d writes %q", n, got)
	}
	log.Warn("three")
	got, n := out.state()
	if n != 1 || strings.Count(got, "\n") != 3 || !(strings.Index(got, "msg=one") < strings.Index(got, "msg=two") &&
		strings.Index(got, "msg=two") < strings.Index(got, "msg=three")) {
		t.Fatalf("after a warning: %d writes %q, want the three lines in order in one write", n, got)
	}
	if !strings.Contains(got, "component=test") {
		t.Fatalf("attributes lost: %q", got)
	}

	// Past the size bound the lines go out without waiting.
	long := strings.Repeat("x", 1000)
	for range 40 {
		log.Info(long)
	}
	if _, n := out.state(); n != 2 {
		t.Fatalf("%d writes after 40 KB of lines, want one more", n)
	}

	log.Info("last")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := out.state(); !strings.HasSuffix(got, "msg=last component=test\n") || strings.Count(got, "\n") != 3+40+1 {
		t.Fatalf("Close left lines behind: %d lines, ends %q", strings.Count(got, "\n"), got[max(0, len(got)-40):])
	}
	log.Info("after close")
	if got, _ := out.state(); !strings.HasSuffix(got, "msg=\"after close\" component=test\n") {
		t.Fatalf("a line after Close was not written: ends %q", got[max(0, len(got)-40):])
	}
}

// A line waits at most the interval.
func TestLogWriterInterval(t *testing.T) {
	out := &syncBuffer{}
	lw := newLogWriter(out, 20*time.Millisecond)
	defer lw.Close()
	fmt.Fprintln(lw, "a")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.state(); got == "a\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a line waited more than 5 s (interval 20 ms)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The next line starts a new wait.
	fmt.Fprintln(lw, "b")
	for {
		if got, n := out.state(); got == "a\nb\n" && n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a second line was not written within the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Many goroutines logging at once lose and tear no line (run with -race),
// and a failed write is reported by Flush.
func TestLogWriterConcurrent(t *testing.T) {
	out := &syncBuffer{}
	lw := newLogWriter(out, time.Millisecond)
	log := slog.New(logHandler{slog.NewTextHandler(lw, nil), lw})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				if i%100 == 99 {
					log.Warn("w", "g", g, "i", i)
				} else {
					log.Info("i", "g", g, "i", i)
				}
			}
		})
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := out.state()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.Contains(l, " g=") {
			t.Fatalf("torn line %q", l)
		}
	}

	boom := errors.New("disk full")
	lw = newLogWriter(&syncBuffer{fail: boom}, time.Hour)
	fmt.Fprintln(lw, "lost")
	if err := lw.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush after a failed write = %v, want %v", err, boom)
	}
}
