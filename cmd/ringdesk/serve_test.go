package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store/storetest"
	"github.com/ringdesk/ringdesk/telephony"
)

// testConfig points at a fresh test database and the test Redis.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MySQL.DSN = storetest.MustCreateDatabase(t)
	addr := os.Getenv("RINGDESK_TEST_REDIS_ADDR")
	if addr == "" {
		if testing.Short() {
			t.Skip("no Redis: run scripts/test.sh")
		}
		t.Fatal("no Redis for tests: run scripts/test.sh, or set RINGDESK_TEST_REDIS_ADDR")
	}
	cfg.Redis.Addrs = []string{addr}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.SIP.ListenUDP, cfg.SIP.ListenTCP = "127.0.0.1:0", "127.0.0.1:0"
	// A site and node of its own, so parallel tests share Redis safely.
	cfg.Redis.Site = fmt.Sprintf("t%d", time.Now().UnixNano())
	cfg.Node = "test-node"
	cfg.Calls.SpoolDir = t.TempDir()
	cfg.SIP.AdvertiseHost = "127.0.0.1"
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// mustOpenMain opens every part of serve on cfg, closed when the test ends.
func mustOpenMain(t *testing.T, cfg Config) *Main {
	t.Helper()
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t.Cleanup(func() { m.Close() })
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func getHealth(t *testing.T, addr string) (int, HealthBody) {
	t.Helper()
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body HealthBody
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// HealthBody mirrors web.HealthReport as a client sees it.
type HealthBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func TestServeHealthAndMetrics(t *testing.T) {
	cfg := testConfig(t)
	m := mustOpenMain(t, cfg)
	ctx := context.Background()
	code, body := getHealth(t, m.HTTP.Addr())
	if code != 200 || body.Status != "ok" || body.Checks["mysql"] != "up" || body.Checks["redis"] != "up" {
		t.Fatalf("healthz = %d %+v, want 200 with both up", code, body)
	}
	// The schema was applied on start.
	if v, err := m.DB.SchemaVersion(ctx); err != nil || v < 11 {
		t.Errorf("schema version = %d, %v", v, err)
	}
	res, err := http.Get("http://" + m.HTTP.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `ringdesk_http_requests_total{code="2xx",route="GET /healthz"} 1`) {
		t.Errorf("metrics do not count the health request:\n%.2000s", b)
	}
	for _, want := range []string{"ringdesk_calllog_spool_overflow_total 0", "ringdesk_calllog_spool_bytes 0",
		"ringdesk_lookup_late_total 0", "ringdesk_lookup_shed_total 0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%.2000s", want, b)
		}
	}
}

func TestHealthReportsRedisDown(t *testing.T) {
	cfg := testConfig(t)
	m := mustOpenMain(t, cfg)
	// Redis that stops answering: close the client's connections for good.
	m.Redis.Close()
	code, body := getHealth(t, m.HTTP.Addr())
	if code != http.StatusServiceUnavailable || body.Checks["mysql"] != "up" || !strings.HasPrefix(body.Checks["redis"], "down") {
		t.Fatalf("healthz = %d %+v, want 503 with redis down, mysql up", code, body)
	}
	m.Redis = nil // already closed
}

func TestServeStopsOnSignalAndRejectsBadConfig(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // serve sets it for the process
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string {
		return map[string]string{"RINGDESK_MYSQL_DSN": cfg.MySQL.DSN, "RINGDESK_REDIS_ADDRS": cfg.Redis.Addrs[0], "RINGDESK_HTTP_LISTEN": addr,
			"RINGDESK_SIP_LISTEN_UDP": "127.0.0.1:0", "RINGDESK_SIP_LISTEN_TCP": "127.0.0.1:0", "RINGDESK_REDIS_SITE": cfg.Redis.Site, "RINGDESK_CALLS_SPOOL_DIR": cfg.Calls.SpoolDir,
			"RINGDESK_RUNTIME_GC_PERCENT": "300", "RINGDESK_RUNTIME_MAX_PROCS": "1"}[k]
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, env, []string{"serve"}) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// serve set the collector's pace (no GOGC in its environment).
	if prev := debug.SetGCPercent(100); prev != 300 {
		t.Errorf("GC percent %d while serving, want runtime.gc_percent's 300", prev)
	}
	// and how many CPUs run Go code at once.
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS %d while serving, want runtime.max_procs's 1", n)
	}
	// and sipgo's transaction linger (sip.transaction_linger's default).
	if sip.Timer_J != telephony.DefaultTransactionLinger || sip.Timer_L != telephony.DefaultTransactionLinger || sip.Timer_M != telephony.DefaultTransactionLinger {
		t.Errorf("sipgo Timer J, L, M = %v, %v, %v while serving, want %v", sip.Timer_J, sip.Timer_L, sip.Timer_M, telephony.DefaultTransactionLinger)
	}
	cancel() // as SIGTERM does through signal.NotifyContext
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after shutdown, want 0", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}

	var stderr strings.Builder
	env = &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &stderr, getenv: func(k string) string {
		return map[string]string{"RINGDESK_PHONE_DEFAULT_REGION": "Narnia"}[k]
	}}
	if code := run(context.Background(), env, []string{"serve"}); code != 1 || !strings.Contains(stderr.String(), "phone.default_region") {
		t.Errorf("bad config: exit %d, stderr %q; want 1 naming the key", code, stderr.String())
	}
}

// The call log writes to MySQL at calls.batch_gap's pace.
func TestServeCallLogBatchGap(t *testing.T) {
	cfg := testConfig(t)
	cfg.Calls.BatchGap = 37 * time.Millisecond
	m := mustOpenMain(t, cfg)
	if m.Calls == nil {
		t.Fatal("no call log (the test config has no SIP listener?)")
	}
	if got := m.Calls.BatchGap(); got != cfg.Calls.BatchGap {
		t.Fatalf("call log batch gap %v, want calls.batch_gap's %v", got, cfg.Calls.BatchGap)
	}
}

// An agent's desk connects to the running server with a token printed by
// `ringdesk user token`, and is greeted; a forged token is refused.
func TestServeDeskSocketWithCLIToken(t *testing.T) {
	cfg := testConfig(t)
	m := mustOpenMain(t, cfg)
	ctx := context.Background()
	if err := m.DB.CreateUser(ctx, &ringdesk.User{Username: "desky", Role: ringdesk.RoleAgent}, "desk-password", ""); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, cfg, "", "user", "token", "desky", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("user token: %d %s", code, errOut)
	}
	token := strings.TrimSpace(out)
	url := "ws://" + m.HTTP.Addr() + "/desk/ws?token="
	hdr := http.Header{"Origin": {"http://" + m.HTTP.Addr()}}
	conn, _, err := websocket.DefaultDialer.Dial(url+token, hdr)
	if err != nil {
		t.Fatalf("dial desk: %v", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg struct {
		Type string `json:"type"`
		V    int    `json:"v"`
	}
	if err := conn.ReadJSON(&msg); err != nil || msg.Type != "hello" || msg.V != 1 {
		t.Fatalf("first message = %+v, %v; want hello v1", msg, err)
	}
	if _, res, err := websocket.DefaultDialer.Dial(url+token+"x", hdr); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("tampered token: err %v, response %v; want 401", err, res)
	}
	if code, _, errOut := cli(t, cfg, "", "user", "token", "nobody"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("token for unknown user: %d %q", code, errOut)
	}
}

// A real phone (sipp) registers with digest through `serve`'s SIP listener:
// the right SIP password binds it in Redis, a wrong one gets 403 and binds
// nothing.
func TestServeRegistersPhoneWithSipp(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if testing.Short() {
			t.Skip("sipp not installed (-short)")
		}
		t.Fatalf("sipp not found (Debian package sip-tester; scripts/setup.sh installs it): %v", err)
	}
	cfg := testConfig(t)
	m := mustOpenMain(t, cfg)
	ctx := context.Background()
	if err := m.DB.CreateUser(ctx, &ringdesk.User{Username: "phoney", Role: ringdesk.RoleAgent, SIPUsername: "2001", SIPRealm: cfg.SIP.Realm},
		"login-password", "sip-password-2001"); err != nil {
		t.Fatal(err)
	}
	regs := routing.NewRegistrations(m.Redis, cfg.Redis.Site)
	register := func(scenario, password string) ([]byte, error) {
		sf, err := filepath.Abs(filepath.Join("..", "..", "telephony", "testdata", "sipp", scenario))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, sipp, "-sf", sf, "-t", "u1", "-i", "127.0.0.1", "-p", "0", "-m", "1",
			"-s", "2001", "-au", "2001", "-ap", password, "-timeout", "20s", "-timeout_error", "-nostdin",
			m.SIP.UDPAddr().String())
		cmd.Dir = t.TempDir()
		return cmd.CombinedOutput()
	}
	if out, err := register("register_refused.xml", "not-the-password"); err != nil {
		t.Fatalf("wrong password: sipp did not get 403: %v\n%s", err, out)
	}
	if bs, err := regs.Bindings(ctx, "2001"); err != nil || len(bs) != 0 {
		t.Fatalf("bindings after a refused REGISTER: %+v, %v", bs, err)
	}
	if out, err := register("register.xml", "sip-password-2001"); err != nil {
		t.Fatalf("right password: sipp did not get 200: %v\n%s", err, out)
	}
	bs, err := regs.Bindings(ctx, "2001")
	if err != nil || len(bs) != 1 || bs[0].UserAgent != "sipp-phone" || bs[0].Node != "test-node" ||
		!strings.HasPrefix(bs[0].Source, "127.0.0.1:") {
		t.Fatalf("bindings after REGISTER = %+v, %v", bs, err)
	}
}
