package telephony_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk/telephony"
)

func TestRateLimitedHandler(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	h := telephony.NewRateLimitedHandler(slog.NewTextHandler(&buf, nil), 3, time.Second, clk.fn())
	log := slog.New(h).With("component", "telephony")

	for i := 0; i < 100; i++ {
		log.Error("failed to parse", "n", i)
	}
	log.Info("other message")
	if got := strings.Count(buf.String(), "failed to parse"); got != 3 {
		t.Fatalf("%d lines of the flooded message, want 3:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "other message") {
		t.Fatal("another message was suppressed with the flooded one")
	}

	// The next window starts with a summary of what was suppressed.
	clk.add(time.Second)
	buf.Reset()
	log.Error("failed to parse", "n", 100)
	out := buf.String()
	if !strings.Contains(out, "suppressed repeated log messages") || !strings.Contains(out, "count=97") ||
		!strings.Contains(out, `msg_suppressed="failed to parse"`) || !strings.Contains(out, "level=WARN") {
		t.Fatalf("no summary:\n%s", out)
	}
	if !strings.Contains(out, "n=100") {
		t.Fatalf("first record of the new window missing:\n%s", out)
	}

	// Flush writes summaries of ended windows without a new record.
	for i := 0; i < 10; i++ {
		log.Error("failed to parse")
	}
	buf.Reset()
	h.Flush(context.Background())
	if buf.Len() != 0 {
		t.Fatalf("flushed a window that has not ended:\n%s", buf.String())
	}
	clk.add(2 * time.Second)
	h.Flush(context.Background())
	if !strings.Contains(buf.String(), "count=8") {
		t.Fatalf("flush:\n%s", buf.String())
	}
	buf.Reset()
	h.Flush(context.Background())
	if buf.Len() != 0 {
		t.Fatalf("summary written twice:\n%s", buf.String())
	}
}

func TestRateLimitedHandlerShortensPayloads(t *testing.T) {
	var buf bytes.Buffer
	h := telephony.NewRateLimitedHandler(slog.NewTextHandler(&buf, nil), 0, 0, nil)
	payload := "INVITE sip:x SIP/2.0\r\n" + strings.Repeat("Y", 5000)
	slog.New(h).Error("failed to parse", "data", payload, "raw", []byte(payload), "short", "ok")
	slog.New(h).With("data", payload).Info("with attrs")
	out := buf.String()
	if strings.Contains(out, strings.Repeat("Y", 200)) {
		t.Fatalf("payload logged whole (%d bytes)", len(out))
	}
	if !strings.Contains(out, `INVITE sip:x SIP/2.0\\r\\nYYY`) || !strings.Contains(out, "(5022 bytes)") || !strings.Contains(out, "short=ok") {
		t.Fatalf("want an escaped prefix and the length:\n%s", out)
	}
	if len(out) > 1200 {
		t.Fatalf("%d bytes for three lines", len(out))
	}
}

func TestEscapedPrefix(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 10, `abc`},
		{"abcdef", 3, `abc…(6 bytes)`},
		{"a\x00\r\n\x1b", 10, `a\x00\r\n\x1b`},
		{"\xff\xfe", 10, `\xff\xfe`},
		{`say "hi"`, 10, `say \"hi\"`},
		{"x", -1, `…(1 bytes)`},
	} {
		if got := telephony.EscapedPrefix([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("EscapedPrefix(%q, %d) = %s, want %s", tt.in, tt.n, got, tt.want)
		}
	}
}
