package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestParseSNMP(t *testing.T) {
	in := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 302349 330 17947 323114 17940 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 0 0 0 0 0 0 0\n"
	if got := parseSNMP(in); got != (udpCounters{InErrors: 17947, RcvbufErrors: 17940}) {
		t.Fatalf("parseSNMP = %+v", got)
	}
}

func TestParseSocketDrops(t *testing.T) {
	in := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		"  123: 0100007F:9876 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 0\n" +
		"  456: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0000000000000000 42\n"
	if got := parseSocketDrops(in, 5060); got != 42 {
		t.Fatalf("drops = %d, want 42", got)
	}
	if got := parseSocketDrops(in, 5061); got != 0 {
		t.Fatalf("drops of an unknown port = %d", got)
	}
}

func TestSentTime(t *testing.T) {
	for _, name := range []string{
		"T2026-11-28\t07:03:45.477383\t1795849425.477383", // as sipp sends it
		"T2026-11-2807:03:45.4773831795849425.477383",     // control characters stripped by ringdesk
		`"T2026-11-28 07:03:45.477383 1795849425.477383"`,
	} {
		got, ok := sentTime(name)
		if !ok || got.Unix() != 1795849425 || got.Nanosecond() != 477383000 {
			t.Errorf("sentTime(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := sentTime("Ada Lovelace"); ok {
		t.Error("a plain name has no send time")
	}
}

func TestParseAgentLogLine(t *testing.T) {
	d, ok := parseAgentLogLine("INV 2026-11-28\t07:06:26.645800\t1795849586.645800 SENT 1795849586.645720\n")
	if !ok || d != 80*time.Microsecond {
		t.Fatalf("got %v, %v; want 80µs", d, ok)
	}
	if _, ok := parseAgentLogLine("INV 2026-11-28\t07:06:26.645800\t1795849586.645800 SENT \n"); ok {
		t.Fatal("a line without a send time was parsed")
	}
}

func TestRingdeskTimings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ringdesk.log")
	log := `time=2026-11-28T07:11:20.1Z level=INFO msg="call offered" component=telephony call_id=x
time=2026-11-28T07:11:20.2Z level=INFO msg="agent rung" component=telephony call_id=x agent_id=7 invite_to_pop=3.5ms pop_to_ring=500µs
time=2026-11-28T07:11:20.3Z level=INFO msg="agent rung" component=telephony call_id=y agent_id=8 invite_to_pop=1.25ms pop_to_ring=250µs
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	pop, ring, next, err := ringdeskTimings(path, 0)
	if err != nil || next != int64(len(log)) {
		t.Fatal(err, next)
	}
	if len(pop) != 2 || pop[0] != 3500*time.Microsecond || ring[1] != 1500*time.Microsecond {
		t.Fatalf("pop %v ring %v", pop, ring)
	}
}

func TestParseSippStats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat.csv")
	in := "StartTime;ElapsedTime(C);OutgoingCall(C);SuccessfulCall(C);FailedCall(C);CurrentCall;Retransmissions(C);FailedTimeoutOnRecv(C);\n" +
		"x;00:00:00;0;0;0;0;0;0;\n" +
		"x;00:00:01;49;47;0;2;0;0;\n" +
		"x;00:00:02;100;97;1;2;3;1;\n" +
		"x;00:00:03;100;99;1;0;3;1;\n"
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := parseSippStats(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sippStats{Outgoing: 100, Successful: 99, Failed: 1, Retransmissions: 3, FailedTimeout: 1, CreateSeconds: 2}
	if st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
}

func TestParseRates(t *testing.T) {
	if r, err := parseRates("50, 100,200"); err != nil || len(r) != 3 || r[2] != 200 {
		t.Fatalf("got %v, %v", r, err)
	}
	for _, bad := range []string{"", "0", "100,50", "x"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q) accepted", bad)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds)
	if l.N != 100 || l.P50 != 50 || l.P99 != 99 || l.Max != 100 {
		t.Fatalf("summary = %+v", l)
	}
	if summarize(nil).N != 0 {
		t.Fatal("empty summary")
	}
}

func TestFinish(t *testing.T) {
	b := &bench{o: options{MaxWait: time.Second}}
	fast := latency{N: 1000, P50: 5, P99: 20}
	r := stepResult{Rate: 100, Planned: 1000, CPUSeconds: 2, AgentE2E: fast}
	b.finish(&r, sippStats{Outgoing: 1000, Successful: 1000, CreateSeconds: 10})
	if !r.OK || r.Achieved != 100 || r.CPUPerCallMS != 2 {
		t.Fatalf("clean step = %+v", r)
	}
	r = stepResult{Rate: 100, Planned: 1000}
	b.finish(&r, sippStats{Outgoing: 1000, Successful: 998, Failed: 1, Current: 1, CreateSeconds: 10})
	if r.OK || r.Failed != 2 {
		t.Fatalf("failed step = %+v", r)
	}
	r = stepResult{Rate: 100, Planned: 1000, AgentE2E: fast}
	b.finish(&r, sippStats{Outgoing: 1000, Successful: 1000, CreateSeconds: 20})
	if r.OK || r.Achieved != 50 {
		t.Fatalf("slow step = %+v", r)
	}
	r = stepResult{Rate: 100, Planned: 1000, AgentE2E: latency{N: 1000, P50: 900, P99: 1500}}
	b.finish(&r, sippStats{Outgoing: 1000, Successful: 1000, CreateSeconds: 10})
	if r.OK || !strings.Contains(r.Why, "not keeping up") {
		t.Fatalf("queueing step = %+v", r)
	}
}

// TestQuickCallpath runs the quick benchmark (BENCH_QUICK: 10,000
// customers, 20 agents, two short steps) against real MariaDB and Redis
// with sipp, and Kamailio when it is installed: every call must succeed,
// pop and be logged.
func TestQuickCallpath(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the quick call-path benchmark takes half a minute")
	}
	dsn, raddr := os.Getenv("RINGDESK_TEST_MYSQL_DSN"), os.Getenv("RINGDESK_TEST_REDIS_ADDR")
	if dsn == "" || raddr == "" {
		t.Skip("RINGDESK_TEST_MYSQL_DSN and RINGDESK_TEST_REDIS_ADDR are not set (scripts/test.sh sets them)")
	}
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp not found (Debian package sip-tester): %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ringdesk")
	if out, err := exec.Command("go", "build", "-o", bin, "../ringdesk").CombinedOutput(); err != nil {
		t.Fatalf("build ringdesk: %v\n%s", err, out)
	}
	suffix := randSuffix()
	dbName := "rdtest_callbench_" + suffix
	env := map[string]string{
		"BENCH_QUICK": "1", "BENCH_DSN": strings.TrimSuffix(dsn, "/") + "/" + dbName, "BENCH_REDIS": raddr,
		"BENCH_SITE": "cbtest" + suffix, "BENCH_RINGDESK": bin, "BENCH_SIPP": sipp, "BENCH_OUT": filepath.Join(dir, "out"),
		// This checks that the bench works, not how fast the machine is:
		// a busy CI machine must not fail it on latency.
		"BENCH_MAX_WAIT": "20s",
	}
	if k, err := exec.LookPath("kamailio"); err == nil {
		env["BENCH_KAMAILIO"] = k
	} else if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		env["BENCH_KAMAILIO"] = "/usr/sbin/kamailio"
	}
	opts, err := parseOptions(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupQuick(t, dsn, dbName, raddr, env["BENCH_SITE"]) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := runCallpath(ctx, opts)
	if rep != nil {
		var out strings.Builder
		if werr := writeReport(&out, opts, rep); werr != nil {
			t.Error(werr)
		}
		t.Log(out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ringdesk.AllPassed || len(rep.Ringdesk.Steps) != 2 || rep.Ringdesk.Best != opts.Rates[len(opts.Rates)-1] {
		t.Fatalf("ringdesk steps did not all pass: %+v", rep.Ringdesk)
	}
	for _, s := range rep.Ringdesk.Steps {
		if s.Pops != s.Attempted || s.LoggedFinal != s.Attempted || s.AgentE2E.N != s.Attempted || s.PopInternal.N != s.Attempted {
			t.Errorf("%d/s: %d calls, %d pops, %d logged, %d agent INVITEs timed, %d ringdesk timings",
				s.Rate, s.Attempted, s.Pops, s.LoggedFinal, s.AgentE2E.N, s.PopInternal.N)
		}
		if s.CPUSeconds <= 0 || s.RSSPeakMiB <= 0 || s.HostCalibMS <= 0 {
			t.Errorf("%d/s: no CPU (%v s), RSS (%v MiB) or host calibration (%v ms) measured", s.Rate, s.CPUSeconds, s.RSSPeakMiB, s.HostCalibMS)
		}
	}
	if env["BENCH_KAMAILIO"] != "" && (rep.Kamailio == nil || !rep.Kamailio.AllPassed) {
		t.Errorf("kamailio steps did not all pass: %+v (notes %v)", rep.Kamailio, rep.Notes)
	}
	if _, err := os.Stat(rep.File); err != nil {
		t.Errorf("no JSON report: %v", err)
	}
	checkResetCallLog(t, ctx, opts.DSN)
}

// checkResetCallLog runs the bench's call-log reset on the database a quick
// run left, which holds that run's calls: afterwards only the history the
// reset gives is there.
func checkResetCallLog(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	raw := storetest.MustOpenRaw(t, dsn)
	count := func(q string) int {
		var n int
		if err := raw.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if count(`SELECT COUNT(*) FROM calls WHERE sip_call_id <> ''`) == 0 || count(`SELECT COUNT(*) FROM call_events`) == 0 {
		t.Fatal("the quick run logged no calls: nothing for the reset to empty")
	}
	callers := [][]string{{"+441614960999"}} // no customer's
	rows, err := raw.QueryContext(ctx, `SELECT e164 FROM customer_phones WHERE e164 IS NOT NULL ORDER BY id LIMIT 30`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		callers = append(callers, []string{e}, []string{e}) // each twice: one history
	}
	rows.Close()
	var agents []*benchAgent
	for _, id := range []int64{1, 2} {
		agents = append(agents, &benchAgent{user: &ringdesk.User{ID: id}})
	}
	b := &bench{raw: raw}
	n, err := b.resetCallLog(ctx, callers, agents)
	if err != nil {
		t.Fatal(err)
	}
	holders := count(`SELECT COUNT(DISTINCT customer_id) FROM calls`)
	if n == 0 || holders != n || count(`SELECT COUNT(*) FROM calls`) != n*historyCalls ||
		count(`SELECT COUNT(*) FROM calls WHERE sip_call_id <> ''`) != 0 || count(`SELECT COUNT(*) FROM call_events`) != 0 ||
		count(`SELECT COUNT(*) FROM cases WHERE status = 'open'`) != (n+historyCaseEvery-1)/historyCaseEvery {
		t.Errorf("after the reset: %d holders reported, %d customers with calls, %d calls, %d run calls, %d events, %d open cases",
			n, holders, count(`SELECT COUNT(*) FROM calls`), count(`SELECT COUNT(*) FROM calls WHERE sip_call_id <> ''`),
			count(`SELECT COUNT(*) FROM call_events`), count(`SELECT COUNT(*) FROM cases WHERE status = 'open'`))
	}
}

func cleanupQuick(t *testing.T, dsn, dbName, raddr, site string) {
	cfg, err := store.ParseDSN(strings.TrimSuffix(dsn, "/") + "/")
	if err == nil {
		if db, err := sql.Open("mysql", cfg.FormatDSN()); err == nil {
			if _, err := db.Exec("DROP DATABASE IF EXISTS `" + dbName + "`"); err != nil {
				t.Logf("drop %s: %v", dbName, err)
			}
			db.Close()
		}
	}
	ctx := context.Background()
	if rdb, err := routing.OpenRedis(ctx, routing.RedisOptions{Addrs: []string{raddr}}); err == nil {
		if err := wipeSite(ctx, rdb, site); err != nil {
			t.Logf("wipe redis site %s: %v", site, err)
		}
		rdb.Close()
	}
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
