package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store"
)

// benchRealm is the SIP realm of serve's default configuration, which the
// bench agents' digest credentials are made for.
const benchRealm = "ringdesk"

// report is everything one run measured.
type report struct {
	Started  time.Time `json:"started"`
	Machine  machine   `json:"machine"`
	Options  options   `json:"options"`
	Ringdesk phase     `json:"ringdesk"`
	Kamailio *phase    `json:"kamailio,omitempty"`
	// Ratio is Ringdesk's highest sustained rate over Kamailio's.
	Ratio      float64  `json:"ratio_ringdesk_to_kamailio,omitempty"`
	RatioBound string   `json:"ratio_bound,omitempty"` // "≤" when Kamailio passed every step
	Latency    string   `json:"latency_source"`
	Notes      []string `json:"notes"`
	File       string   `json:"-"`
}

type machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

// phase is one system under test: its steps and best sustained rate.
type phase struct {
	Name      string       `json:"name"`
	Best      int          `json:"best_sustained_cps"` // highest rate that passed, 0 if none
	AllPassed bool         `json:"all_passed"`
	Steps     []stepResult `json:"steps"`
}

// stepResult is one rate step.
type stepResult struct {
	Rate       int       `json:"rate_cps"`
	Planned    int       `json:"planned_calls"`
	Attempted  int       `json:"attempted"`
	Succeeded  int       `json:"succeeded"`
	Failed     int       `json:"failed"` // failed by sipp, plus calls still open when it ended
	Achieved   float64   `json:"achieved_cps"`
	Sipp       sippStats `json:"sipp"`
	SippErrors []string  `json:"sipp_errors,omitempty"`
	OK         bool      `json:"ok"`
	Why        string    `json:"why,omitempty"` // why it did not pass
	LoadStart  string    `json:"load_start"`
	LoadEnd    string    `json:"load_end"`
	// HostCalibMS is hostCalibration before the step: how fast the
	// machine was then (lower is faster).
	HostCalibMS float64 `json:"host_calib_ms"`
	Wall        float64 `json:"wall_s"`
	PopE2E      latency `json:"invite_to_pop_e2e"`          // caller's send → desk's receipt
	AgentE2E    latency `json:"invite_to_agent_invite_e2e"` // caller's send → phone's receipt
	PopInternal latency `json:"invite_to_pop_ringdesk"`     // ringdesk's own, from its log
	AgentIntern latency `json:"invite_to_agent_invite_ringdesk"`
	Pops        int     `json:"pops"`
	// PopsUnavailable are pops whose customer lookup did not make it in
	// time (match "unavailable"): the agent saw the number, not the record.
	PopsUnavailable int     `json:"pops_unavailable"`
	CPUSeconds      float64 `json:"cpu_s"`
	CPUPerCallMS    float64 `json:"cpu_ms_per_call"`
	CPUShare        float64 `json:"cpu_cores"` // CPU seconds per wall second of the step
	// The other processes on the machine that each call costs CPU in
	// (ms per succeeded call over the step): MySQL, Redis, the sipp
	// phones and the sipp caller. 0 when not visible.
	MySQLMSPerCall  float64 `json:"mysql_cpu_ms_per_call"`
	RedisMSPerCall  float64 `json:"redis_cpu_ms_per_call"`
	PhonesMSPerCall float64 `json:"phones_cpu_ms_per_call"`
	CallerMSPerCall float64 `json:"caller_cpu_ms_per_call"`
	// DesksMSPerCall is this program's own CPU: the desk WebSocket
	// clients, mostly. It runs on the same machine as the rest.
	DesksMSPerCall float64 `json:"desks_cpu_ms_per_call"`
	RSSPeakMiB     float64 `json:"rss_peak_mib"`
	SocketDrops    int64   `json:"socket_drops"`  // the server's UDP socket (/proc/net/udp)
	RcvbufErrors   int64   `json:"rcvbuf_errors"` // machine-wide /proc/net/snmp deltas
	InErrors       int64   `json:"in_errors"`
	Logged         int     `json:"logged"` // calls rows for the step's Call-IDs
	LoggedFinal    int     `json:"logged_final"`
	LoggedStates   string  `json:"logged_states,omitempty"`
	LogLag         float64 `json:"log_lag_s"` // from sipp's end until every row was final
	Profile        string  `json:"profile,omitempty"`
}

// bench holds what a run started, so that stop can end all of it.
type bench struct {
	o    options
	work string // scratch directory for this run
	env  []string

	db  *store.DB
	raw *sql.DB
	rdb redis.UniversalClient

	mysqlPid  int // the servers the call path uses, for their CPU
	redisPid  int
	serve     *child
	serveLog  string
	sipPort   int
	httpPort  int
	pprofPort int
	phones    []*child
	phoneLogs []string
	desks     *desks
}

func runCallpath(ctx context.Context, o options) (*report, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	work := filepath.Join(o.Out, "callpath-"+stamp)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if err := writeScenarios(work); err != nil {
		return nil, err
	}
	rep := &report{Started: time.Now().UTC(), Options: o, File: filepath.Join(o.Out, "callpath-"+stamp+".json"),
		Machine: machine{Cores: runtime.NumCPU(), CPU: cpuModel(), LoadStart: loadAvg()},
		Latency: "e2e: the caller sipp's send time ([timestamp] in the From display name) to the desk client's " +
			"receipt of the pop / the phone sipp's receipt of the agent INVITE (one clock, loopback); ringdesk: " +
			"its own invitedAt→pop sent and →agent INVITE sent, from its 'agent rung' log line"}
	b := &bench{o: o, work: work, env: benchEnv(o)}
	defer b.close()
	defer b.stop()

	logf("work directory %s", work)
	if err := b.prepareDB(ctx); err != nil {
		return nil, err
	}
	callers, err := b.callers(ctx)
	if err != nil {
		return nil, err
	}
	if err := writeInjection(filepath.Join(work, "callers.csv"), callers); err != nil {
		return nil, err
	}
	agents, err := b.agents(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := b.resetCallLog(ctx, callers, agents)
	if err != nil {
		return nil, fmt.Errorf("reset the bench call log: %w", err)
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("call log emptied before the run; each of the %d customers among the callers has %d past calls, every %dth an open case",
		n, historyCalls, historyCaseEvery))
	logf("call log reset: %d customers among the callers with %d past calls each, an open case for every %dth (%v)",
		n, historyCalls, historyCaseEvery, time.Since(start).Round(time.Millisecond))
	if err := b.startRingdesk(ctx, agents); err != nil {
		return rep, err
	}
	rep.Ringdesk = phase{Name: "ringdesk"}
	b.runSteps(ctx, &rep.Ringdesk, o.Rates, b.ringdeskStep)
	// Ringdesk stops before Kamailio starts: each has the machine alone.
	b.stop()

	if o.Kamailio != "" && ctx.Err() == nil {
		k, err := b.runKamailio(ctx)
		if err != nil {
			rep.Notes = append(rep.Notes, "kamailio: "+err.Error())
		}
		rep.Kamailio = k
		if k != nil && k.Best > 0 && ctx.Err() == nil {
			rep.Ratio = float64(rep.Ringdesk.Best) / float64(k.Best)
			if k.AllPassed {
				rep.RatioBound = "≤"
			}
		}
	}
	rep.Machine.LoadEnd = loadAvg()
	rep.Notes = append(rep.Notes, fmt.Sprintf("machine load average %s at start, %s at end (1/5/15 min): other work on the machine makes figures noisy",
		rep.Machine.LoadStart, rep.Machine.LoadEnd))
	if ctx.Err() != nil {
		rep.Notes = append(rep.Notes, "interrupted: the last step's figures are partial and no ratio is given")
		return rep, ctx.Err()
	}
	return rep, nil
}

// benchEnv is the environment of ringdesk children: the caller's, without
// RINGDESK_* settings (the bench passes its own as flags).
func benchEnv(o options) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RINGDESK_") {
			env = append(env, kv)
		}
	}
	return env
}

// ringdeskCmd runs a ringdesk subcommand against the bench database.
func (b *bench) ringdeskCmd(ctx context.Context, args ...string) *exec.Cmd {
	base := []string{args[0], "--mysql.dsn", b.o.DSN, "--redis.addrs", b.o.Redis, "--redis.site", b.o.Site}
	cmd := exec.CommandContext(ctx, b.o.Ringdesk, append(base, args[1:]...)...)
	cmd.Env = b.env
	return cmd
}

// prepareDB creates, migrates and seeds the bench database. A database
// seeded before is kept: only what is missing is added.
func (b *bench) prepareDB(ctx context.Context) error {
	cfg, err := store.ParseDSN(b.o.DSN)
	if err != nil {
		return err
	}
	name := cfg.DBName
	if name == "" {
		return errors.New("the bench DSN names no database")
	}
	admin := cfg.Clone()
	admin.DBName = ""
	adb, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		return err
	}
	_, err = adb.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(name, "`", "")+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	adb.Close()
	if err != nil {
		return fmt.Errorf("create bench database %s: %w", name, err)
	}
	if out, err := b.ringdeskCmd(ctx, "migrate").CombinedOutput(); err != nil {
		return fmt.Errorf("ringdesk migrate: %v\n%s", err, out)
	}
	if b.raw, err = sql.Open("mysql", cfg.FormatDSN()); err != nil {
		return err
	}
	var n int
	last := fmt.Sprintf("DEMO-%07d", b.o.Customers)
	if err := b.raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE account_number = ?`, last).Scan(&n); err != nil {
		return fmt.Errorf("check seed: %w", err)
	}
	if n == 0 {
		logf("seeding %d customers into %s (once: the database is kept for later runs)", b.o.Customers, name)
		cmd := b.ringdeskCmd(ctx, "seed", "--customers", strconv.Itoa(b.o.Customers), "--demo-users")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ringdesk seed: %w", err)
		}
	} else {
		logf("%s already holds the %d seeded customers", name, b.o.Customers)
	}
	norm, err := store.NewNormalizer("GB")
	if err != nil {
		return err
	}
	b.db, err = store.Open(ctx, b.o.DSN, norm, store.Options{MaxOpenConns: 4})
	return err
}

// callers returns the caller numbers of the -inf file: E.164 numbers of
// seeded customers, picked at random, and a share of numbers in Ofcom's
// drama range (0161 496 0xxx) that no customer has.
func (b *bench) callers(ctx context.Context) ([][]string, error) {
	want := min(20000, b.o.Customers)
	var lo, hi int64
	if err := b.raw.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM customer_phones`).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("sample callers: %w", err)
	}
	r := rand.New(rand.NewPCG(4, 2))
	var known []string
	for tries := 0; len(known) < want && tries < 1000; tries++ {
		ids := make([]string, 500)
		for i := range ids {
			ids[i] = strconv.FormatInt(lo+r.Int64N(hi-lo+1), 10)
		}
		rows, err := b.raw.QueryContext(ctx, `SELECT e164 FROM customer_phones WHERE e164 IS NOT NULL AND id IN (`+strings.Join(ids, ",")+`)`)
		if err != nil {
			return nil, fmt.Errorf("sample callers: %w", err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return nil, err
			}
			known = append(known, s)
		}
		rows.Close()
	}
	if len(known) == 0 {
		return nil, errors.New("sample callers: no customer numbers in the bench database")
	}
	taken := map[string]bool{}
	rows, err := b.raw.QueryContext(ctx, `SELECT e164 FROM customer_phones WHERE e164 LIKE '+441614960%'`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		taken[s] = true
	}
	rows.Close()
	var out [][]string
	for _, k := range known[:min(len(known), want)] {
		if r.Float64() < b.o.Unknown {
			u := fmt.Sprintf("+441614960%03d", r.IntN(1000))
			if !taken[u] {
				out = append(out, []string{u})
				continue
			}
		}
		out = append(out, []string{k})
	}
	return out, nil
}

// benchAgent is one agent of the bench: a login with a SIP phone.
type benchAgent struct {
	user    *ringdesk.User
	sipUser string
	sipPass string
	token   string
}

// agents makes sure the bench agents exist as members of the demo queue
// (SeedDemoSetup adds every agent* user), and sets the queue up for the
// bench.
func (b *bench) agents(ctx context.Context) ([]*benchAgent, error) {
	out := make([]*benchAgent, b.o.Agents)
	var missing []int
	for i := range out {
		a := &benchAgent{sipUser: fmt.Sprintf("b%04d", i+1), sipPass: fmt.Sprintf("bench-sip-%04d", i+1)}
		u, err := b.db.FindUserByUsername(ctx, fmt.Sprintf("agentb%04d", i+1))
		switch {
		case err == nil:
			a.user = u
		case ringdesk.ErrorCode(err) == ringdesk.ENOTFOUND:
			missing = append(missing, i)
		default:
			return nil, err
		}
		out[i] = a
	}
	if len(missing) > 0 {
		logf("creating %d bench agents", len(missing))
		// Password hashing (argon2id) dominates: two at a time.
		var mu sync.Mutex
		var firstErr error
		var wg sync.WaitGroup
		work := make(chan int)
		for range 2 {
			wg.Go(func() {
				for i := range work {
					u := &ringdesk.User{Username: fmt.Sprintf("agentb%04d", i+1), Role: ringdesk.RoleAgent,
						DisplayName: fmt.Sprintf("Bench agent %d", i+1), SIPUsername: out[i].sipUser, SIPRealm: benchRealm}
					err := b.db.CreateUser(ctx, u, "bench-agent-password", out[i].sipPass)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("create bench agent %s: %w", u.Username, err)
					}
					out[i].user = u
					mu.Unlock()
				}
			})
		}
		for _, i := range missing {
			work <- i
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}
	if _, err := b.db.SeedDemoSetup(ctx, benchRealm); err != nil {
		return nil, err
	}
	wrap := 30
	if b.o.WrapUp == "0" {
		wrap = 0
	}
	// No overflow and room to queue: a call the agents cannot take at once
	// waits (and shows in the latency) instead of being turned away.
	if _, err := b.raw.ExecContext(ctx, `UPDATE queues SET wrapup_s = ?, max_len = 100000, max_wait_s = 600,
		ring_timeout_s = 20, strategy = 'longest-idle', overflow_kind = '' WHERE name = ?`, wrap, store.DemoQueue); err != nil {
		return nil, fmt.Errorf("set up the bench queue: %w", err)
	}
	return out, nil
}

// startRingdesk wipes the bench site in Redis, starts serve, registers the
// phones and connects the desks.
func (b *bench) startRingdesk(ctx context.Context, agents []*benchAgent) error {
	var err error
	if b.rdb, err = routing.OpenRedis(ctx, routing.RedisOptions{Addrs: []string{b.o.Redis}}); err != nil {
		return err
	}
	if err := wipeSite(ctx, b.rdb, b.o.Site); err != nil {
		return err
	}
	key, err := routing.SharedSecret(ctx, b.rdb, b.o.Site, "desk-token")
	if err != nil {
		return err
	}
	auth, err := agentdesk.NewTokenAuth(key)
	if err != nil {
		return err
	}
	for _, a := range agents {
		if a.token, err = auth.Issue(a.user, time.Now().Add(24*time.Hour)); err != nil {
			return err
		}
	}
	if cfg, err := store.ParseDSN(b.o.DSN); err == nil {
		if cfg.Net == "unix" {
			b.mysqlPid = unixListenerPID(cfg.Addr)
		} else if _, p, err := net.SplitHostPort(cfg.Addr); err == nil {
			b.mysqlPid = listenerPID(atoi(p))
		}
	}
	if strings.HasPrefix(b.o.Redis, "/") {
		b.redisPid = unixListenerPID(b.o.Redis)
	} else if _, p, err := net.SplitHostPort(b.o.Redis); err == nil {
		b.redisPid = listenerPID(atoi(p))
	}
	if b.sipPort, err = freeUDPPort(); err != nil {
		return err
	}
	if b.httpPort, err = freeTCPPort(); err != nil {
		return err
	}
	if b.pprofPort, err = freeTCPPort(); err != nil {
		return err
	}
	b.serveLog = filepath.Join(b.work, "ringdesk.log")
	logFile, err := os.Create(b.serveLog)
	if err != nil {
		return err
	}
	cmd := b.ringdeskCmd(context.WithoutCancel(ctx), "serve", "--node", "callbench",
		"--http.listen", fmt.Sprintf("127.0.0.1:%d", b.httpPort),
		"--sip.listen_udp", fmt.Sprintf("127.0.0.1:%d", b.sipPort), "--sip.listen_tcp=",
		"--sip.advertise_host", "127.0.0.1", "--calls.spool_dir", filepath.Join(b.work, "spool"),
		"--log.level", b.o.LogLevel, "--shutdown_timeout", "10s", "--runtime.max_procs", strconv.Itoa(b.o.MaxProcs),
		"--debug.pprof_listen", fmt.Sprintf("127.0.0.1:%d", b.pprofPort))
	if b.serve, err = startChild("ringdesk serve", cmd, logFile); err != nil {
		logFile.Close()
		return err
	}
	logf("ringdesk serve pid %d: SIP udp 127.0.0.1:%d, HTTP 127.0.0.1:%d, log %s", b.serve.Pid(), b.sipPort, b.httpPort, b.serveLog)
	if err := waitHealthy(ctx, b.serve, fmt.Sprintf("http://127.0.0.1:%d/healthz", b.httpPort)); err != nil {
		return fmt.Errorf("%w\n%s", err, strings.Join(firstLines(b.serveLog, 30), "\n"))
	}

	// Phones: the agents are spread over a few sipp processes; each
	// registers its agents from the port it then answers on.
	byPhone := make([][][]string, b.o.Phones)
	for i, a := range agents {
		byPhone[i%b.o.Phones] = append(byPhone[i%b.o.Phones], []string{a.sipUser, a.sipPass})
	}
	target := fmt.Sprintf("127.0.0.1:%d", b.sipPort)
	for p, rows := range byPhone {
		port, err := freeUDPPort()
		if err != nil {
			return err
		}
		if err := registerPhones(ctx, port, target, rows); err != nil {
			return fmt.Errorf("phone %d: %w", p+1, err)
		}
		logPath := filepath.Join(b.work, fmt.Sprintf("phone%d.log", p+1))
		ph := exec.Command(b.o.Sipp, "-sf", filepath.Join(b.work, "agent.xml"), "-t", "u1", "-i", "127.0.0.1",
			"-p", strconv.Itoa(port), "-d", strconv.FormatInt(b.o.Hold.Milliseconds(), 10), "-nostdin",
			"-buff_size", "4194304", "-trace_logs", "-log_file", logPath,
			"-trace_err", "-error_file", filepath.Join(b.work, fmt.Sprintf("phone%d-errors.log", p+1)))
		ph.Dir = b.work
		c, err := startChild(fmt.Sprintf("sipp phone %d", p+1), ph, nil)
		if err != nil {
			return err
		}
		b.phones = append(b.phones, c)
		b.phoneLogs = append(b.phoneLogs, logPath)
	}
	logf("%d agents registered from %d sipp phone processes (hold %s)", len(agents), b.o.Phones, b.o.Hold)

	tokens := make([]string, len(agents))
	for i, a := range agents {
		tokens[i] = a.token
	}
	if b.desks, err = connectDesks(ctx, fmt.Sprintf("ws://127.0.0.1:%d/desk/ws", b.httpPort), tokens, b.o.WrapUp == "desk"); err != nil {
		return err
	}
	// The logins are answered asynchronously: give them a moment.
	time.Sleep(time.Second)
	if n := b.desks.ackErrors.Load(); n > 0 {
		return fmt.Errorf("%d desk logins were refused", n)
	}
	logf("%d desks connected and ready (wrap-up: %s)", len(agents), b.o.WrapUp)
	return nil
}

// wipeSite deletes the bench site's Redis keys left by an earlier run.
func wipeSite(ctx context.Context, rdb redis.UniversalClient, site string) error {
	iter := rdb.Scan(ctx, 0, "rd:{"+site+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("wipe bench site: %w", err)
	}
	if len(keys) > 0 {
		return rdb.Del(ctx, keys...).Err()
	}
	return nil
}

func waitHealthy(ctx context.Context, c *child, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.Exited() {
			return fmt.Errorf("%s exited: %v", c.name, c.err)
		}
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not become healthy at %s within 60 s", c.name, url)
}

// stepFunc runs one step at rate with planned calls.
type stepFunc func(ctx context.Context, rate, calls int, warm bool) stepResult

// runSteps runs a short warm-up, then the rising steps until one fails.
func (b *bench) runSteps(ctx context.Context, ph *phase, rates []int, step stepFunc) {
	warm := min(rates[0], 50)
	logf("%s: warm-up, %d calls at %d/s", ph.Name, warm*2, warm)
	step(ctx, warm, warm*2, true)
	ph.AllPassed = true
	for _, rate := range rates {
		if ctx.Err() != nil {
			ph.AllPassed = false
			return
		}
		calls := min(int(float64(rate)*b.o.StepTime.Seconds()), b.o.StepMaxCalls)
		logf("%s: %d calls at %d/s (load %s)", ph.Name, calls, rate, loadAvg())
		r := step(ctx, rate, calls, false)
		ph.Steps = append(ph.Steps, r)
		logf("%s: %d/s → attempted %d, succeeded %d, failed %d, achieved %.0f/s, host calibration %.1f ms, ok=%v %s",
			ph.Name, rate, r.Attempted, r.Succeeded, r.Failed, r.Achieved, r.HostCalibMS, r.OK, r.Why)
		if r.OK {
			ph.Best = rate
		} else {
			ph.AllPassed = false
			if !b.o.KeepGoing {
				return
			}
		}
	}
}

// runCaller places one step's calls with sipp against target.
func (b *bench) runCaller(ctx context.Context, name, target string, rate, calls int) (sippStats, []string, *child, error) {
	port, err := freeUDPPort()
	if err != nil {
		return sippStats{}, nil, nil, err
	}
	base := filepath.Join(b.work, fmt.Sprintf("%s-%dcps", name, rate))
	stat, errs := base+"-stat.csv", base+"-errors.log"
	limit := max(1000, rate*10)
	timeout := time.Duration(float64(calls)/float64(rate)*float64(time.Second)) + 60*time.Second
	cmd := exec.Command(b.o.Sipp, "-sf", filepath.Join(b.work, "caller.xml"), "-t", "u1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-inf", filepath.Join(b.work, "callers.csv"), "-key", "did", store.DemoDID,
		"-r", strconv.Itoa(rate), "-rp", "1000", "-m", strconv.Itoa(calls), "-l", strconv.Itoa(limit),
		"-recv_timeout", "30000", "-timeout", strconv.Itoa(int(timeout.Seconds()))+"s", "-nostdin",
		"-buff_size", "4194304", "-trace_stat", "-stf", stat, "-fd", "1",
		"-trace_err", "-error_file", errs, target)
	cmd.Dir = b.work
	c, err := startChild("sipp caller", cmd, nil)
	if err != nil {
		return sippStats{}, nil, nil, err
	}
	werr := c.Wait(ctx)
	if ctx.Err() != nil {
		_ = c.Stop(5 * time.Second)
		return sippStats{}, nil, c, ctx.Err()
	}
	_ = werr // sipp exits 1 when a call failed: the statistics say how many
	st, err := parseSippStats(stat)
	if err != nil {
		return st, nil, c, err
	}
	var lines []string
	if st.Failed > 0 || st.Current > 0 {
		lines = firstLines(errs, 8)
	}
	return st, lines, c, nil
}

// CPU returns the CPU time of an ended child.
func (c *child) CPU() time.Duration {
	if c == nil || c.cmd.ProcessState == nil {
		return 0
	}
	return c.cmd.ProcessState.UserTime() + c.cmd.ProcessState.SystemTime()
}

// ringdeskStep runs one step against ringdesk serve.
func (b *bench) ringdeskStep(ctx context.Context, rate, calls int, warm bool) stepResult {
	r := stepResult{Rate: rate, Planned: calls, LoadStart: loadAvg(), HostCalibMS: hostCalibration()}
	pid := b.serve.Pid()
	cpu0, _ := procCPU(pid, false)
	phonePids := make([]int, len(b.phones))
	for i, p := range b.phones {
		phonePids[i] = p.Pid()
	}
	mysql0, redis0, phones0, self0 := cpuOf(b.mysqlPid), cpuOf(b.redisPid), cpuOf(phonePids...), cpuOf(os.Getpid())
	snmp0 := readUDPCounters()
	drops0 := socketDrops(b.sipPort)
	logOff := fileSize(b.serveLog)
	phoneOff := make([]int64, len(b.phoneLogs))
	for i, p := range b.phoneLogs {
		phoneOff[i] = fileSize(p)
	}
	_, _, _ = b.desks.take()
	rss := sampleRSS(pid, false)
	var prof sync.WaitGroup
	if !warm && b.o.ProfileFrom > 0 && rate >= b.o.ProfileFrom {
		secs := max(1, int(float64(calls)/float64(rate))-1)
		r.Profile = filepath.Join(b.work, fmt.Sprintf("ringdesk-%dcps.pprof", rate))
		prof.Go(func() {
			fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", b.pprofPort, secs), r.Profile)
		})
		// What the step allocates: the allocs profile counts since the
		// start, so one before and one after (compare them with
		// go tool pprof -sample_index=alloc_space -base before after).
		fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", b.pprofPort),
			strings.TrimSuffix(r.Profile, ".pprof")+"-allocs-before.pprof")
		prof.Go(func() {
			time.Sleep(time.Duration(secs) * time.Second)
			fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", b.pprofPort),
				strings.TrimSuffix(r.Profile, ".pprof")+"-allocs-after.pprof")
		})
		// Where the goroutines wait, halfway through the step.
		prof.Go(func() {
			time.Sleep(time.Duration(secs) * time.Second / 2)
			fetchProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", b.pprofPort),
				strings.TrimSuffix(r.Profile, ".pprof")+"-goroutines.txt")
		})
	}
	start := time.Now()
	st, errs, caller, err := b.runCaller(ctx, "ringdesk", fmt.Sprintf("127.0.0.1:%d", b.sipPort), rate, calls)
	sippEnd := time.Now()
	r.Sipp, r.SippErrors = st, errs
	if err != nil {
		r.Why = err.Error()
		rss.Stop()
		prof.Wait()
		return r
	}
	// Every call placed must be in MySQL, in a final state.
	r.Logged, r.LoggedFinal, r.LoggedStates = b.waitLogged(ctx, caller.Pid(), start, st.Outgoing)
	r.LogLag = time.Since(sippEnd).Seconds()
	prof.Wait()
	r.Wall = time.Since(start).Seconds()
	r.RSSPeakMiB = float64(rss.Stop()) / (1 << 20)
	cpu1, _ := procCPU(pid, false)
	snmp1 := readUDPCounters()
	r.CPUSeconds = (cpu1 - cpu0).Seconds()
	r.CPUShare = r.CPUSeconds / r.Wall
	n := float64(max(st.Successful, 1))
	r.MySQLMSPerCall = float64((cpuOf(b.mysqlPid) - mysql0).Microseconds()) / 1000 / n
	r.RedisMSPerCall = float64((cpuOf(b.redisPid) - redis0).Microseconds()) / 1000 / n
	r.PhonesMSPerCall = float64((cpuOf(phonePids...) - phones0).Microseconds()) / 1000 / n
	r.CallerMSPerCall = float64(caller.CPU().Microseconds()) / 1000 / n
	r.DesksMSPerCall = float64((cpuOf(os.Getpid()) - self0).Microseconds()) / 1000 / n
	r.SocketDrops = socketDrops(b.sipPort) - drops0
	r.RcvbufErrors, r.InErrors = snmp1.RcvbufErrors-snmp0.RcvbufErrors, snmp1.InErrors-snmp0.InErrors
	r.LoadEnd = loadAvg()

	pops, _, unavailable := b.desks.take()
	r.Pops, r.PopsUnavailable = len(pops), unavailable
	r.PopE2E = summarize(pops)
	var agentLat []time.Duration
	for i, p := range b.phoneLogs {
		l, _, _ := agentLogLatencies(p, phoneOff[i])
		agentLat = append(agentLat, l...)
	}
	r.AgentE2E = summarize(agentLat)
	toPop, toRing, _, _ := ringdeskTimings(b.serveLog, logOff)
	r.PopInternal, r.AgentIntern = summarize(toPop), summarize(toRing)
	b.finish(&r, st)
	if r.OK && r.LoggedFinal < r.Attempted {
		r.OK = false
		r.Why = fmt.Sprintf("only %d of %d calls logged in a final state", r.LoggedFinal, r.Attempted)
	}
	if r.OK && r.PopsUnavailable > 0 {
		// The point of the pop is the caller's record on screen.
		r.OK = false
		r.Why = fmt.Sprintf("%d pops without the caller's record (lookup unavailable)", r.PopsUnavailable)
	}
	if !r.OK {
		// The log tells why: keep its warnings of this step in view.
		r.SippErrors = append(r.SippErrors, grepLog(b.serveLog, logOff, 8)...)
	}
	// Let the agents come back to ready before the next step.
	time.Sleep(time.Second)
	return r
}

// finish fills the outcome of a step from sipp's statistics.
func (b *bench) finish(r *stepResult, st sippStats) {
	r.Attempted = st.Outgoing
	r.Succeeded = st.Successful
	r.Failed = st.Failed + st.Current
	if st.CreateSeconds > 0 {
		r.Achieved = float64(st.Outgoing) / max(st.CreateSeconds, float64(r.Planned)/float64(r.Rate))
	}
	if r.Succeeded > 0 {
		r.CPUPerCallMS = r.CPUSeconds * 1000 / float64(r.Succeeded)
	}
	switch {
	case r.Failed > 0:
		r.Why = fmt.Sprintf("%d calls failed", r.Failed)
	case r.Attempted < r.Planned:
		r.Why = fmt.Sprintf("only %d of %d calls placed", r.Attempted, r.Planned)
	case r.Succeeded < r.Attempted:
		r.Why = fmt.Sprintf("only %d of %d calls succeeded", r.Succeeded, r.Attempted)
	case r.Achieved < 0.9*float64(r.Rate):
		// sipp or the server could not keep the pace: not sustained.
		r.Why = fmt.Sprintf("calls placed at %.0f/s, under 90%% of %d/s", r.Achieved, r.Rate)
	case r.AgentE2E.N == 0 || r.AgentE2E.P99 > ms(b.o.MaxWait):
		// Calls waited ever longer for an agent: a longer step would
		// have failed them.
		r.Why = fmt.Sprintf("not keeping up: INVITE→agent-INVITE p99 %.0f ms over %s", r.AgentE2E.P99, b.o.MaxWait)
	default:
		r.OK = true
	}
}

// waitLogged waits until every call of the step's sipp (its Call-IDs end
// in -PID@host) has its row in a final state, or 30 s pass without
// progress. It returns the rows, those final, and the count per state.
func (b *bench) waitLogged(ctx context.Context, sippPid int, since time.Time, want int) (int, int, string) {
	pattern := fmt.Sprintf("%%-%d@%%", sippPid)
	var total, final int
	var states string
	lastChange := time.Now()
	for {
		rows, err := b.raw.QueryContext(ctx, `SELECT state, COUNT(*) FROM calls WHERE offered_at >= ? AND sip_call_id LIKE ? GROUP BY state ORDER BY state`,
			since.Add(-2*time.Second).UTC(), pattern)
		if err != nil {
			return total, final, "query failed: " + err.Error()
		}
		t, f := 0, 0
		var parts []string
		for rows.Next() {
			var s string
			var n int
			_ = rows.Scan(&s, &n)
			t += n
			switch s {
			case ringdesk.CallStateEnded, ringdesk.CallStateAbandoned, ringdesk.CallStateOverflowed, ringdesk.CallStateFailed:
				f += n
			}
			parts = append(parts, fmt.Sprintf("%s=%d", s, n))
		}
		rows.Close()
		if t != total || f != final {
			lastChange = time.Now()
		}
		total, final, states = t, f, strings.Join(parts, " ")
		if (total >= want && final >= want) || time.Since(lastChange) > 30*time.Second || ctx.Err() != nil {
			return total, final, states
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// grepLog returns up to n WARN/ERROR lines of the log after offset.
func grepLog(path string, offset int64, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 64<<20))
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, "ringdesk: "+line)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

func fetchProfile(url, path string) {
	res, err := http.Get(url)
	if err != nil {
		logf("cpu profile: %v", err)
		return
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, res.Body)
}

// stop ends everything the bench started, in reverse order.
func (b *bench) stop() {
	if b.desks != nil {
		b.desks.Close()
		b.desks = nil
	}
	if b.serve != nil {
		if err := b.serve.Stop(20 * time.Second); err != nil {
			logf("%v", err)
		}
		b.serve = nil
	}
	for _, p := range b.phones {
		_ = p.Stop(5 * time.Second)
	}
	b.phones = nil
	if b.rdb != nil {
		_ = b.rdb.Close()
		b.rdb = nil
	}
}

// close releases the database handles.
func (b *bench) close() {
	if b.db != nil {
		b.db.Close()
	}
	if b.raw != nil {
		b.raw.Close()
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
