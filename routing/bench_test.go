package routing_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// BenchmarkCycle measures full routing cycles on a real Redis: enqueue (and
// match, in the same script), confirm (Answer) and release (End, the agent
// is available again). There are more agents than callers, so every
// enqueue finds an agent. Reports cycles per second as matches/s and the
// 99th percentile of one cycle's latency.
//
// Closed/pN runs parallelism × GOMAXPROCS callers, each starting its next
// cycle when the last one ends: the most cycles per second, but with N
// callers latency is N ÷ throughput by Little's law, whatever the engine.
// Closed/p8 (16 callers on 2 CPUs) is about as many as carry 10,000
// cycles per second: its p99 is the latency at that throughput.
// Rate/R offers R cycles per second whatever happens (open loop, each
// cycle's latency counted from when it was due, so a stall is not hidden):
// the latency at a given load.
//
//	go test ./routing -run '^$' -bench Cycle -benchtime 100000x
//
// BENCH_INFLIGHT=n sets Config.MaxInFlight (default 2); BENCH_TICK sets
// the tick interval (default 100ms; scripts/bench.sh redis-cost slows it so
// that counted work is the cycles' own).
func BenchmarkCycle(b *testing.B) {
	b.Run("Closed/p1", func(b *testing.B) { benchmarkCycle(b, 1, 0) })
	b.Run("Closed/p8", func(b *testing.B) { benchmarkCycle(b, 8, 0) })
	b.Run("Closed/p16", func(b *testing.B) { benchmarkCycle(b, 16, 0) })
	b.Run("Rate/5000", func(b *testing.B) { benchmarkCycle(b, 0, 5000) })
	b.Run("Rate/8000", func(b *testing.B) { benchmarkCycle(b, 0, 8000) })
	b.Run("Rate/10000", func(b *testing.B) { benchmarkCycle(b, 0, 10000) })
}

func benchmarkCycle(b *testing.B, parallelism, rate int) {
	e := newEnv(b)
	tick := 100 * time.Millisecond
	if v := os.Getenv("BENCH_TICK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("BENCH_TICK=%q: want a positive duration such as 1h", v)
		}
		tick = d
	}
	r := e.router("bench", func(c *routing.Config) {
		c.TickInterval = tick
		c.OfferInReply = true // as Ringdesk's serve runs it: the cycle takes the agent from the reply
		c.MaxInFlight, _ = strconv.Atoi(os.Getenv("BENCH_INFLIGHT"))
	})
	ctx := context.Background()
	n := 4*parallelism*runtime.GOMAXPROCS(0) + 8
	if rate > 0 {
		n = rate / 4 // 250 ms of cycles in flight before calls wait for agents
	}
	agents := ids("a", n)
	must(b, r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: members(agents...)}))
	for _, a := range agents {
		must(b, r.Login(ctx, a, true))
	}
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // the telephony side would consume offers
		for {
			select {
			case <-r.Notices():
			case <-dctx.Done():
				return
			}
		}
	}()

	var seq atomic.Int64
	var failed atomic.Bool
	cycle := func() bool {
		id := fmt.Sprintf("c%d", seq.Add(1))
		p, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: []string{"q"}})
		if err == nil && p.Status != ringdesk.CallRinging {
			// Every agent is in a cycle: more cycles are in flight than
			// the run has agents, so the engine is not keeping up.
			err = fmt.Errorf("call %s found no agent free (%d agents, all in cycles still in flight: not keeping up): %+v", id, n, p)
		}
		if err == nil {
			err = r.Answer(ctx, id, p.AgentID)
		}
		if err == nil {
			err = r.End(ctx, id)
		}
		if err != nil && !failed.Swap(true) {
			b.Error(err)
		}
		return err == nil
	}
	lat := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	cpu0, self0 := redisCPU(b, e), selfCPU(b)
	b.ResetTimer()
	start := time.Now()
	if rate > 0 {
		lat = lat[:b.N]
		interval := time.Second / time.Duration(rate)
		var wg sync.WaitGroup
		for i := range b.N {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if cycle() {
					lat[i] = time.Since(due)
				} else {
					lat[i] = -1
				}
			}()
		}
		wg.Wait()
		lat = slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			mine := make([]time.Duration, 0, 1024)
			for pb.Next() {
				t0 := time.Now()
				if !cycle() {
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu1, self1 := redisCPU(b, e), selfCPU(b)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "matches/s")
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	// Redis's own CPU per cycle says how many cycles one Redis core can
	// carry, whatever else the machine is doing.
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(len(lat)), "redis-µs/cycle")
	b.ReportMetric(float64((self1-self0).Microseconds())/float64(len(lat)), "client-µs/cycle")
}

// selfCPU returns the CPU time this process (the engine's side) has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU returns the CPU time (user + system) the Redis server has used.
func redisCPU(b *testing.B, e *env) time.Duration {
	info, err := e.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("INFO cpu %s: %v", k, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkSnapshot measures the supervisors' snapshot of 100 queues and
// 2,000 agents (each in 3 queues, in mixed states, 500 calls waiting).
func BenchmarkSnapshot(b *testing.B) {
	e := newEnv(b)
	r := e.router("bench")
	ctx := context.Background()
	agents := ids("a", 2000)
	for q := range 100 {
		var ms []ringdesk.QueueMember
		for i, a := range agents {
			if i%100 == q || (i+33)%100 == q || (i+66)%100 == q {
				ms = append(ms, ringdesk.QueueMember{AgentID: a})
			}
		}
		must(b, r.PutQueue(ctx, &ringdesk.Queue{Name: fmt.Sprintf("q%d", q), RingTimeout: time.Hour, Members: ms}))
	}
	for i, a := range agents {
		if i%4 != 3 {
			must(b, r.Login(ctx, a, i%4 == 0))
		}
	}
	for i := range 500 {
		_, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: fmt.Sprintf("c%d", i), Queues: []string{fmt.Sprintf("q%d", i%100)}})
		must(b, err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := r.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Queues) != 100 || len(s.Agents) != 2000 {
			b.Fatalf("snapshot has %d queues, %d agents", len(s.Queues), len(s.Agents))
		}
	}
}
