package store_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

// BenchmarkLookupByPhone measures caller-ID lookups over the demo data set:
// 1,000,000 customers with about 1.5 million numbers (RINGDESK_BENCH_CUSTOMERS
// changes the count). It reports lookups per second and the p50 and p99
// latency of single lookups, serially and with 8 concurrent callers.
//
// Seeding takes a minute or two, so it happens once per run; with
// RINGDESK_BENCH_DSN naming a database ("user:pass@tcp(host:port)/name")
// that database is migrated, seeded only where customers are missing (Seed
// is idempotent), and kept for the next run. Otherwise a fresh database is
// created on the test server and dropped at the end. The database's region
// is GB.
//
//	go test -run '^$' -bench BenchmarkLookupByPhone -benchtime 20000x ./store/
func BenchmarkLookupByPhone(b *testing.B) {
	ctx := context.Background()
	customers := 1_000_000
	if v := os.Getenv("RINGDESK_BENCH_CUSTOMERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("RINGDESK_BENCH_CUSTOMERS=%q: want a positive number", v)
		}
		customers = n
	}
	db, raw := openBenchDB(b)
	start := time.Now()
	res, err := db.Seed(ctx, store.SeedOptions{Customers: customers})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seed: %d customers (%d created, %d there already) in %v", customers, res.Created, res.Existing,
		time.Since(start).Round(time.Millisecond))

	// 10,000 random stored numbers, as entered (national form), so that a
	// lookup pays for normalisation as a caller ID does.
	numbers := sampleNumbers(b, raw, 10_000)

	b.Run("Serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			found, err := db.LookupByPhone(ctx, numbers[i%len(numbers)])
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if len(found) == 0 {
				b.Fatalf("no customer for stored number %q", numbers[i%len(numbers)])
			}
		}
		b.StopTimer()
		reportLatency(b, lat)
	})

	b.Run("Parallel8", func(b *testing.B) {
		var mu sync.Mutex
		lat := make([]time.Duration, 0, b.N)
		var callers atomic.Uint64
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((8 + procs - 1) / procs) // 8 concurrent callers
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(callers.Add(1), 1))
			var mine []time.Duration
			for pb.Next() {
				num := numbers[r.IntN(len(numbers))]
				t0 := time.Now()
				found, err := db.LookupByPhone(ctx, num)
				mine = append(mine, time.Since(t0))
				if err != nil {
					b.Error(err)
					return
				}
				if len(found) == 0 {
					b.Errorf("no customer for stored number %q", num)
					return
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		b.StopTimer()
		reportLatency(b, lat)
	})
}

// reportLatency reports throughput and percentiles of the lookups timed.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// openBenchDB opens RINGDESK_BENCH_DSN, or a fresh test database.
func openBenchDB(b *testing.B) (*store.DB, *sql.DB) {
	b.Helper()
	dsn := os.Getenv("RINGDESK_BENCH_DSN")
	if dsn == "" {
		return mustOpenDBWithSQL(b, "GB")
	}
	ctx := context.Background()
	norm, err := store.NewNormalizer("GB")
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(ctx, dsn, norm, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return db, storetest.MustOpenRaw(b, dsn)
}

// sampleNumbers returns n parseable stored numbers picked at random (with a
// fixed seed) by phone ID.
func sampleNumbers(b *testing.B, raw *sql.DB, n int) []string {
	b.Helper()
	var lo, hi int64
	if err := raw.QueryRow(`SELECT MIN(id), MAX(id) FROM customer_phones`).Scan(&lo, &hi); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	numbers := make([]string, 0, n)
	for len(numbers) < n {
		ids := make([]any, 500)
		for i := range ids {
			ids[i] = lo + r.Int64N(hi-lo+1)
		}
		query := `SELECT raw FROM customer_phones WHERE e164 IS NOT NULL AND id IN (?` + strings.Repeat(",?", len(ids)-1) + `)`
		rows, err := raw.Query(query, ids...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				b.Fatal(err)
			}
			numbers = append(numbers, s)
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	r.Shuffle(len(numbers), func(i, j int) { numbers[i], numbers[j] = numbers[j], numbers[i] })
	return numbers[:n]
}
