package routing_test

import (
	"context"
	"fmt"
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
// is available again). There are more agents than goroutines, so every
// enqueue finds an agent. Reports cycles per second as matches/s and the
// 99th percentile of one cycle's latency.
//
//	go test ./routing -run '^$' -bench Cycle -benchtime 100000x
func BenchmarkCycle(b *testing.B) {
	// clients = parallelism × GOMAXPROCS concurrent callers.
	b.Run("Plain/p1", func(b *testing.B) { benchmarkCycle(b, false, 1) })
	b.Run("Plain/p16", func(b *testing.B) { benchmarkCycle(b, false, 16) })
	b.Run("AutoPipeline/p16", func(b *testing.B) { benchmarkCycle(b, true, 16) })
}

func benchmarkCycle(b *testing.B, autoPipeline bool, parallelism int) {
	e := newEnv(b)
	r := e.router("bench", func(c *routing.Config) {
		c.TickInterval = 100 * time.Millisecond
		c.AutoPipeline = autoPipeline
	})
	ctx := context.Background()
	agents := ids("a", 4*parallelism*runtime.GOMAXPROCS(0)+8)
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
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(parallelism)
	cpu0, self0 := redisCPU(b, e), selfCPU(b)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		for pb.Next() {
			id := fmt.Sprintf("c%d", seq.Add(1))
			t0 := time.Now()
			p, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: []string{"q"}})
			if err != nil {
				b.Error(err)
				return
			}
			if p.Status != ringdesk.CallRinging {
				b.Errorf("call %s not matched: %+v", id, p)
				return
			}
			if err := r.Answer(ctx, id, p.AgentID); err != nil {
				b.Error(err)
				return
			}
			if err := r.End(ctx, id); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
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
