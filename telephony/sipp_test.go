package telephony_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// sippPath finds sipp (Debian package sip-tester). Without it the test
// fails, except under -short.
func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if testing.Short() {
			t.Skip("sipp not installed (-short)")
		}
		t.Fatalf("sipp not found on PATH (install Debian package sip-tester): %v", err)
	}
	return p
}

// runSipp runs a scenario against the server for calls calls and fails the
// test unless every call succeeds.
func runSipp(t *testing.T, scenario, transport, target string, calls int) {
	t.Helper()
	sipp := sippPath(t)
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	cmd := exec.CommandContext(ctx, sipp,
		"-sf", sf, "-t", mode, "-i", "127.0.0.1",
		"-m", strconv.Itoa(calls), "-r", "50", "-l", "10",
		"-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err",
		target)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := filepath.Glob(filepath.Join(cmd.Dir, "*errors.log"))
		for _, f := range errs {
			t.Logf("sipp error log %s", f)
		}
		t.Fatalf("sipp %s over %s: %v\n%s", scenario, transport, err, tail(out, 3000))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func TestSipp(t *testing.T) {
	sippPath(t)
	srv := startServer(t, nil, slog.LevelInfo)
	for _, transport := range []string{"udp", "tcp"} {
		target := srv.UDPAddr().String()
		if transport == "tcp" {
			target = srv.TCPAddr().String()
		}
		t.Run("options/"+transport, func(t *testing.T) {
			runSipp(t, "options.xml", transport, target, 50)
		})
		t.Run("untrusted invite 403/"+transport, func(t *testing.T) {
			runSipp(t, "invite_untrusted.xml", transport, target, 20)
		})
	}
}
