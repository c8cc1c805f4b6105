package main

import (
	"strings"
	"testing"
	"time"
)

func TestProgressLines(t *testing.T) {
	var out strings.Builder
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(&out, "customers", 1000)
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock

	p.update(10) // too soon: nothing printed
	clock = clock.Add(5 * time.Second)
	p.update(250) // 50/s, 750 left → ETA 15s
	clock = clock.Add(15 * time.Second)
	p.finish(1000)

	want := "customers: 250/1000 (25%), 50/s, ETA 15s\ncustomers: 1000/1000 (100%), 50/s, took 20s\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestProgressTerminalRedraws(t *testing.T) {
	var out strings.Builder
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(&out, "rows", 0)
	p.tty, p.interval = true, 200*time.Millisecond
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock
	clock = clock.Add(time.Second)
	p.update(100)
	p.finish(100)
	want := "\r\033[Krows: 100, 100/s\r\033[Krows: 100, 100/s, took 1s\n"
	if got := out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
