package routing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// BenchmarkBatchScript runs batches of one kind of operation straight
// through the batch script (no batcher, no concurrency) and reports the
// time Redis spent inside the script per operation (INFO commandstats):
// where a cycle's Redis time goes, without the I/O around it.
//
//	go test ./routing -run '^$' -bench BatchScript
func BenchmarkBatchScript(b *testing.B) {
	for _, size := range []int{1, 10} {
		b.Run(fmt.Sprintf("size%d", size), func(b *testing.B) { benchmarkBatchScript(b, size) })
	}
}

func benchmarkBatchScript(b *testing.B, size int) {
	rdb, site := routingtest.MustRedis(b)
	r, err := NewRouter(rdb, Config{Site: site, Node: "n1"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := r.s.batch.Load(ctx, rdb).Err(); err != nil {
		b.Fatal(err)
	}
	var ms []ringdesk.QueueMember
	for i := range size {
		ms = append(ms, ringdesk.QueueMember{AgentID: fmt.Sprintf("a%d", i)})
	}
	if err := r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, Members: ms}); err != nil {
		b.Fatal(err)
	}
	for _, m := range ms {
		if err := r.Login(ctx, m.AgentID, true); err != nil {
			b.Fatal(err)
		}
	}
	usec := func() float64 {
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
				for _, kv := range strings.Split(rest, ",") {
					if v, ok := strings.CutPrefix(kv, "usec="); ok {
						f, _ := strconv.ParseFloat(v, 64)
						return f
					}
				}
			}
		}
		return 0
	}
	run := func(name string, args func(i int) []any) float64 {
		var all []any
		for i := range size {
			all = append(all, name)
			a := args(i)
			all = append(all, len(a))
			all = append(all, a...)
		}
		u0 := usec()
		v, err := r.s.batch.Run(ctx, rdb, r.keys, all...).Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range v.([]any) {
			if s.([]any)[0].(int64) != 1 {
				b.Fatalf("%s: %v", name, s)
			}
		}
		return usec() - u0
	}
	var enq, ans, end float64
	b.ResetTimer()
	for n := range b.N {
		id := func(i int) string { return fmt.Sprintf("c%d-%d", n, i) }
		agent := make([]string, size)
		enq += run("enqueue", func(i int) []any { return []any{id(i), "n1", 0, "+15551234567", "q"} })
		for i := range size {
			c, err := r.FindCall(ctx, id(i))
			if err != nil {
				b.Fatal(err)
			}
			agent[i] = c.AgentID
		}
		ans += run("answer", func(i int) []any { return []any{id(i), agent[i]} })
		end += run("end", func(i int) []any { return []any{id(i)} })
	}
	ops := float64(b.N * size)
	b.ReportMetric(enq/ops, "enqueue-µs/op")
	b.ReportMetric(ans/ops, "answer-µs/op")
	b.ReportMetric(end/ops, "end-µs/op")
	b.ReportMetric((enq+ans+end)/ops, "cycle-µs")
}
