package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress prints how a long job goes: rows done, rate and ETA. On a
// terminal it redraws one line at most every 200 ms; otherwise (a log, CI)
// it prints a plain line every interval, so logs stay readable.
type progress struct {
	w        io.Writer
	what     string
	total    int // 0 when unknown
	tty      bool
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	start   time.Time
	last    time.Time
	printed bool
}

func newProgress(w io.Writer, what string, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	p := &progress{w: w, what: what, total: total, tty: tty, interval: 5 * time.Second, now: time.Now}
	if tty {
		p.interval = 200 * time.Millisecond
	}
	p.start = p.now()
	p.last = p.start
	return p
}

// update reports done rows; it is cheap enough to call for every row.
func (p *progress) update(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	p.print(done, now, false)
}

// setTotal changes the expected total, e.g. as an estimate firms up.
func (p *progress) setTotal(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = n
}

// finish prints the final line.
func (p *progress) finish(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.print(done, p.now(), true)
}

func (p *progress) print(done int, now time.Time, final bool) {
	elapsed := now.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	line := fmt.Sprintf("%s: %d", p.what, done)
	if p.total > 0 {
		line += fmt.Sprintf("/%d (%.0f%%)", p.total, 100*float64(done)/float64(p.total))
	}
	line += fmt.Sprintf(", %.0f/s", rate)
	switch {
	case final:
		line += fmt.Sprintf(", took %s", elapsed.Round(100*time.Millisecond))
	case p.total > 0 && rate > 0 && done < p.total:
		eta := time.Duration(float64(p.total-done) / rate * float64(time.Second))
		line += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if final {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}
