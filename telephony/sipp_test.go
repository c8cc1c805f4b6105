package telephony_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
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
func runSipp(t *testing.T, scenario, transport, target string, calls int, extra ...string) {
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
		"-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err")
	cmd.Args = append(append(cmd.Args, extra...), target)
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

// TestSippTrunkDigest has sipp act as a trunk with credentials: its first
// INVITE is challenged 401, the authenticated retry is admitted (the test
// handler then answers 486 Busy Here).
func TestSippTrunkDigest(t *testing.T) {
	sippPath(t)
	trunks := []ringdesk.Trunk{{Name: "sipp", Sources: mustSources(t, "127.0.0.1"), Username: "trunk1", Password: "s3cret"}}
	var mu sync.Mutex
	admitted := 0
	srv := startServerWith(t, nil, slog.LevelInfo, trunks, func(req *sip.Request, tx sip.ServerTransaction, tr *ringdesk.Trunk) {
		mu.Lock()
		admitted++
		mu.Unlock()
		res := sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil)
		if err := tx.Respond(res); err != nil {
			t.Errorf("respond: %v", err)
		}
		// Over TCP, wait for the ACK of the final (see sipgo-notes.md).
		select {
		case <-tx.Done():
		case <-time.After(5 * time.Second):
		}
	})
	for _, transport := range []string{"udp", "tcp"} {
		target := srv.UDPAddr().String()
		if transport == "tcp" {
			target = srv.TCPAddr().String()
		}
		t.Run(transport, func(t *testing.T) {
			runSipp(t, "invite_digest.xml", transport, target, 10, "-au", "trunk1", "-ap", "s3cret",
				"-auth_uri", "+442079460000@"+target)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if admitted != 20 {
		t.Fatalf("%d INVITEs admitted, want 20", admitted)
	}
	t.Run("wrong password", func(t *testing.T) {
		// The retry is challenged again: the scenario expects 486 and fails.
		sipp := sippPath(t)
		sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", "invite_digest.xml"))
		cmd := exec.Command(sipp, "-sf", sf, "-t", "u1", "-i", "127.0.0.1", "-m", "1",
			"-timeout", "10s", "-timeout_error", "-nostdin", "-au", "trunk1", "-ap", "wrong",
			"-auth_uri", "+442079460000@"+srv.UDPAddr().String(),
			srv.UDPAddr().String())
		cmd.Dir = t.TempDir()
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("sipp succeeded with a wrong password:\n%s", tail(out, 2000))
		}
	})
}
