// Command ringdesk-bench is the load driver behind `scripts/bench.sh
// callpath`: it measures the whole inbound call path of `ringdesk serve`
// (SIP in, caller lookup over the seeded customers, queue, screen-pop over
// the desk WebSocket, the agent's phone rung, the call logged) under sipp
// traffic at rising rates, all on loopback, and, for scale, Kamailio as a
// bare stateful proxy in front of the same kind of sipp phones. It is a
// tool, not part of the product: cmd/ringdesk stays the only wiring of
// Ringdesk itself, which this drives as a child process.
//
//	ringdesk-bench callpath [flags]
//
// Results go to OUT/callpath-TIME.json and a table on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 || os.Args[1] != "callpath" {
		fmt.Fprintln(os.Stderr, "usage: ringdesk-bench callpath [flags]   (ringdesk-bench callpath -h lists them)")
		os.Exit(2)
	}
	opts, err := parseOptions(os.Args[2:], os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ringdesk-bench:", err)
		os.Exit(2)
	}
	rep, err := runCallpath(ctx, opts)
	if rep != nil {
		if werr := writeReport(os.Stdout, opts, rep); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ringdesk-bench:", err)
		os.Exit(1)
	}
}

// options are the benchmark's settings. Every flag has a BENCH_* variable
// (the flag wins), so that scripts/bench.sh passes the environment through.
type options struct {
	Ringdesk      string        `json:"-"`
	Sipp          string        `json:"-"`
	Kamailio      string        `json:"-"` // "" skips the Kamailio run
	DSN           string        `json:"-"`
	Redis         string        `json:"-"`
	Site          string        `json:"site"`
	Customers     int           `json:"customers"`
	Agents        int           `json:"agents"`
	Phones        int           `json:"phones"`
	Hold          time.Duration `json:"hold"`
	Rates         []int         `json:"rates"`
	KamailioRates []int         `json:"kamailio_rates"`
	StepTime      time.Duration `json:"step_time"`
	StepMaxCalls  int           `json:"step_max_calls"`
	Unknown       float64       `json:"unknown_share"`
	WrapUp        string        `json:"wrapup"`   // "desk": the desks end a 30 s wrap-up; "0": none
	MaxWait       time.Duration `json:"max_wait"` // a step whose INVITE→agent-INVITE p99 is longer did not keep up
	ProfileFrom   int           `json:"profile_from"`
	KeepGoing     bool          `json:"keep_going"`
	Quick         bool          `json:"quick"`
	Out           string        `json:"-"`
	LogLevel      string        `json:"log_level"`
	MaxProcs      int           `json:"max_procs"` // ringdesk's runtime.max_procs
	GOGC          string        `json:"gogc,omitempty"`
}

func parseOptions(args []string, getenv func(string) string) (options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	quick := env("BENCH_QUICK", "") == "1"
	defCustomers, defAgents, defRates, defKRates, defStep, defMax := "1000000", "300", "50,100,200,500,1000,1500,2000", "50,100,200,500,1000,1500,2000,3000,4000,6000,8000", "10s", "20000"
	if quick {
		defCustomers, defAgents, defRates, defKRates, defStep, defMax = "10000", "20", "20,50", "20,50", "3s", "500"
	}
	fs := flag.NewFlagSet("callpath", flag.ContinueOnError)
	var o options
	var rates, krates, hold, step, maxWait string
	fs.StringVar(&o.Ringdesk, "ringdesk", env("BENCH_RINGDESK", "var/bin/ringdesk"), "ringdesk binary (BENCH_RINGDESK)")
	fs.StringVar(&o.Sipp, "sipp", env("BENCH_SIPP", "sipp"), "sipp binary (BENCH_SIPP)")
	fs.StringVar(&o.Kamailio, "kamailio", env("BENCH_KAMAILIO", ""), "kamailio binary; empty skips the Kamailio run (BENCH_KAMAILIO)")
	fs.StringVar(&o.DSN, "dsn", env("BENCH_DSN", ""), "MySQL DSN of the bench database, created if missing and kept between runs (BENCH_DSN)")
	fs.StringVar(&o.Redis, "redis", env("BENCH_REDIS", env("RINGDESK_REDIS_ADDRS", "127.0.0.1:6379")), "Redis address (BENCH_REDIS)")
	fs.StringVar(&o.Site, "site", env("BENCH_SITE", "callbench"), "Redis site of the bench: its keys are wiped at start (BENCH_SITE)")
	fs.IntVar(&o.Customers, "customers", atoi(env("BENCH_CUSTOMERS", defCustomers)), "customers seeded (BENCH_CUSTOMERS)")
	fs.IntVar(&o.Agents, "agents", atoi(env("BENCH_AGENTS", defAgents)), "agents: sipp phones and desk clients (BENCH_AGENTS)")
	fs.IntVar(&o.Phones, "phones", atoi(env("BENCH_PHONES", "2")), "sipp processes the agents' phones are spread over (BENCH_PHONES)")
	fs.StringVar(&hold, "hold", env("BENCH_HOLD", "100ms"), "talk time before the agent hangs up (BENCH_HOLD)")
	fs.StringVar(&rates, "rates", env("BENCH_RATES", defRates), "calls/s of the steps, rising (BENCH_RATES)")
	fs.StringVar(&krates, "kamailio-rates", env("BENCH_KAMAILIO_RATES", defKRates), "calls/s of the Kamailio steps (BENCH_KAMAILIO_RATES)")
	fs.StringVar(&step, "step-time", env("BENCH_STEP_TIME", defStep), "how long each step places calls (BENCH_STEP_TIME)")
	fs.IntVar(&o.StepMaxCalls, "step-max-calls", atoi(env("BENCH_STEP_MAX_CALLS", defMax)), "most calls in one step (BENCH_STEP_MAX_CALLS)")
	fs.Float64Var(&o.Unknown, "unknown", atof(env("BENCH_UNKNOWN", "0.1")), "share of callers whose number is no customer's (BENCH_UNKNOWN)")
	fs.StringVar(&o.WrapUp, "wrapup", env("BENCH_WRAPUP", "desk"), `"desk": 30 s wrap-up that each desk ends at once; "0": queue without wrap-up (BENCH_WRAPUP)`)
	fs.StringVar(&maxWait, "max-wait", env("BENCH_MAX_WAIT", "1s"), "a step passes only if INVITE→agent-INVITE p99 is within this: calls queueing ever longer are not a sustained rate (BENCH_MAX_WAIT)")
	fs.IntVar(&o.ProfileFrom, "profile-from", atoi(env("BENCH_PROFILE_FROM", "500")), "take a CPU profile of ringdesk in steps from this rate (0: never) (BENCH_PROFILE_FROM)")
	fs.BoolVar(&o.KeepGoing, "keep-going", env("BENCH_KEEP_GOING", "") == "1", "run every step even after one failed (BENCH_KEEP_GOING=1)")
	fs.StringVar(&o.Out, "out", env("BENCH_OUT", "var/bench"), "directory for the JSON report, logs and profiles (BENCH_OUT)")
	fs.StringVar(&o.LogLevel, "log-level", env("BENCH_LOG_LEVEL", "info"), "ringdesk's log.level; the INFO line 'agent rung' gives ringdesk's own timings (BENCH_LOG_LEVEL)")
	// ringdesk shares the machine with MariaDB, Redis, sipp and the desk
	// clients: with a Go thread for each CPU it spent 15 % more CPU per
	// call (idle threads woken to look for work), CPU those need.
	fs.IntVar(&o.MaxProcs, "max-procs", atoi(env("BENCH_MAX_PROCS", strconv.Itoa(max(1, runtime.NumCPU()/2)))),
		"ringdesk's runtime.max_procs (GOMAXPROCS); 0: every CPU (BENCH_MAX_PROCS)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.MaxProcs < 0 {
		return o, fmt.Errorf("-max-procs %d: want 0 (every CPU) or more", o.MaxProcs)
	}
	o.Quick = quick
	o.GOGC = getenv("GOGC")
	var err error
	if o.Hold, err = time.ParseDuration(hold); err != nil || o.Hold < 0 {
		return o, fmt.Errorf("-hold %q: not a duration", hold)
	}
	if o.StepTime, err = time.ParseDuration(step); err != nil || o.StepTime < time.Second {
		return o, fmt.Errorf("-step-time %q: want a duration of 1s or more", step)
	}
	if o.MaxWait, err = time.ParseDuration(maxWait); err != nil || o.MaxWait <= 0 {
		return o, fmt.Errorf("-max-wait %q: not a positive duration", maxWait)
	}
	if o.Rates, err = parseRates(rates); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if o.KamailioRates, err = parseRates(krates); err != nil {
		return o, fmt.Errorf("-kamailio-rates: %w", err)
	}
	switch {
	case o.DSN == "":
		return o, errors.New("-dsn (BENCH_DSN) is required: the bench database, e.g. ringdesk:ringdesk@tcp(127.0.0.1:13306)/ringdesk_callbench")
	case o.Customers < 1:
		return o, errors.New("-customers must be at least 1")
	case o.Agents < 1 || o.Agents > 9999:
		return o, errors.New("-agents must be 1-9999")
	case o.Phones < 1 || o.Phones > o.Agents:
		return o, errors.New("-phones must be 1 to the number of agents")
	case o.StepMaxCalls < 1:
		return o, errors.New("-step-max-calls must be at least 1")
	case o.Unknown < 0 || o.Unknown > 1:
		return o, errors.New("-unknown must be between 0 and 1")
	case o.WrapUp != "desk" && o.WrapUp != "0":
		return o, errors.New(`-wrapup must be "desk" or "0"`)
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return o, err
	}
	return o, nil
}

func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number of calls per second", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("rates must rise: %d after %d", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no rates")
	}
	return out, nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}

func atof(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return -1
	}
	return f
}

// logf prints progress to stderr, like scripts/lib.sh's say.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "--> "+format+"\n", args...)
}
