package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

// mustOpenDBWithSQL is storetest.MustOpenDB plus a plain connection to the
// same database, so tests check what landed with their own SQL rather than
// through the code under test.
func mustOpenDBWithSQL(tb testing.TB, region string) (*store.DB, *sql.DB) {
	tb.Helper()
	db, dsn := storetest.MustOpenDBWithDSN(tb, region)
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return db, raw
}

// counts returns the number of customers and of phones in the database.
func counts(tb testing.TB, raw *sql.DB) (customers, phones int) {
	tb.Helper()
	if err := raw.QueryRow(`SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM customer_phones)`).Scan(&customers, &phones); err != nil {
		tb.Fatal(err)
	}
	return customers, phones
}

// dump returns every customer with its phones as one line each, by account
// number, without IDs and timestamps, which differ between databases, but
// with whether it is soft-deleted.
func dump(tb testing.TB, raw *sql.DB) []string {
	tb.Helper()
	rows, err := raw.Query(`SELECT COALESCE(c.account_number, ''), c.name, c.company, c.email, c.status, c.tags, c.address, c.notes, c.deleted_at IS NOT NULL,
		COALESCE(GROUP_CONCAT(CONCAT_WS('|', p.position, p.label, p.raw, COALESCE(p.e164, '-'), p.extension, p.invalid)
			ORDER BY p.position SEPARATOR ' ; '), '')
		FROM customers c LEFT JOIN customer_phones p ON p.customer_id = c.id
		GROUP BY c.id ORDER BY c.account_number, c.name, c.company, c.email, c.id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f [10]string
		if err := rows.Scan(&f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9]); err != nil {
			tb.Fatal(err)
		}
		out = append(out, strings.Join(f[:], " # "))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestSeed(t *testing.T) {
	ctx := context.Background()

	t.Run("Deterministic", func(t *testing.T) {
		// Same N, different batch sizes: the same customers and numbers.
		db1, raw1 := mustOpenDBWithSQL(t, "GB")
		db2, raw2 := mustOpenDBWithSQL(t, "GB")
		if _, err := db1.Seed(ctx, store.SeedOptions{Customers: 600, BatchSize: 100}); err != nil {
			t.Fatal(err)
		}
		if _, err := db2.Seed(ctx, store.SeedOptions{Customers: 600, BatchSize: 250}); err != nil {
			t.Fatal(err)
		}
		d1, d2 := dump(t, raw1), dump(t, raw2)
		if len(d1) != 600 {
			t.Fatalf("seeded %d customers, want 600", len(d1))
		}
		if !reflect.DeepEqual(d1, d2) {
			for i := range d1 {
				if d1[i] != d2[i] {
					t.Fatalf("customer %d differs:\n%s\n%s", i, d1[i], d2[i])
				}
			}
		}
		if got, want := d1[0][:len("DEMO-0000001 #")], "DEMO-0000001 #"; got != want {
			t.Errorf("first account = %q, want %q", got, want)
		}

		// Another seed gives other people.
		db3, raw3 := mustOpenDBWithSQL(t, "GB")
		if _, err := db3.Seed(ctx, store.SeedOptions{Customers: 600, Seed: 7}); err != nil {
			t.Fatal(err)
		}
		if d3 := dump(t, raw3); reflect.DeepEqual(d1, d3) {
			t.Error("seed 7 gave the same data as the default seed")
		}
	})

	t.Run("Shape", func(t *testing.T) {
		for _, region := range []string{"GB", "US", "DE"} {
			t.Run(region, func(t *testing.T) {
				db, raw := mustOpenDBWithSQL(t, region)
				const n = 1000
				res, err := db.Seed(ctx, store.SeedOptions{Customers: n})
				if err != nil {
					t.Fatal(err)
				}
				customers, phones := counts(t, raw)
				if customers != n || res.Created != n || res.Existing != 0 {
					t.Fatalf("customers = %d, result %+v, want %d created", customers, res, n)
				}
				if res.Phones != phones {
					t.Errorf("result says %d phones, table has %d", res.Phones, phones)
				}
				if perCustomer := float64(phones) / n; perCustomer < 1.4 || perCustomer > 1.6 {
					t.Errorf("%.2f numbers per customer, want about 1.5", perCustomer)
				}
				// Only the deliberately unparseable numbers (i%250 == 7:
				// 7, 257, 507, 757) are flagged; the generated ones are
				// valid numbers of the region.
				var invalid, noE164 int
				if err := raw.QueryRow(`SELECT SUM(invalid), SUM(e164 IS NULL) FROM customer_phones`).Scan(&invalid, &noE164); err != nil {
					t.Fatal(err)
				}
				if invalid != 4 || noE164 != 4 {
					t.Errorf("invalid = %d, without E.164 = %d, want 4 and 4", invalid, noE164)
				}
				var wrongRegion int
				cc := map[string]string{"GB": "+44", "US": "+1", "DE": "+49"}[region]
				if err := raw.QueryRow(`SELECT COUNT(*) FROM customer_phones WHERE e164 IS NOT NULL AND e164 NOT LIKE ?`, cc+"%").Scan(&wrongRegion); err != nil {
					t.Fatal(err)
				}
				if wrongRegion != 0 {
					t.Errorf("%d numbers outside %s", wrongRegion, region)
				}
				// One in 200 shares a number: 5 numbers held by two customers.
				var shared int
				if err := raw.QueryRow(`SELECT COUNT(*) FROM (SELECT e164 FROM customer_phones WHERE e164 IS NOT NULL
					GROUP BY e164 HAVING COUNT(DISTINCT customer_id) > 1) s`).Scan(&shared); err != nil {
					t.Fatal(err)
				}
				if shared != n/200 {
					t.Errorf("%d shared numbers, want %d", shared, n/200)
				}
				// A shared number finds both customers.
				var num string
				if err := raw.QueryRow(`SELECT p.raw FROM customer_phones p JOIN customers c ON c.id = p.customer_id
					WHERE c.account_number = 'DEMO-0000200' AND p.position = 0`).Scan(&num); err != nil {
					t.Fatal(err)
				}
				found, err := db.LookupByPhone(ctx, num)
				if err != nil {
					t.Fatal(err)
				}
				var accounts []string
				for _, c := range found {
					accounts = append(accounts, c.AccountNumber)
				}
				slices.Sort(accounts)
				if got, want := strings.Join(accounts, ","), "DEMO-0000199,DEMO-0000200"; got != want {
					t.Errorf("LookupByPhone(%q) = %s, want %s", num, got, want)
				}
			})
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		db, raw := mustOpenDBWithSQL(t, "GB")
		var progress [][2]int
		first, err := db.Seed(ctx, store.SeedOptions{Progress: func(done, total int) {
			progress = append(progress, [2]int{done, total})
		}})
		if err != nil {
			t.Fatal(err)
		}
		if first.Created != store.DefaultSeedCustomers {
			t.Fatalf("first run created %d, want the default %d", first.Created, store.DefaultSeedCustomers)
		}
		if got, want := fmt.Sprint(progress), "[[1000 2000] [2000 2000]]"; got != want {
			t.Errorf("progress = %s, want %s", got, want)
		}
		before := dump(t, raw)
		c0, p0 := counts(t, raw)

		second, err := db.Seed(ctx, store.SeedOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if second.Created != 0 || second.Existing != store.DefaultSeedCustomers || second.Phones != 0 {
			t.Errorf("second run = %+v, want nothing created", second)
		}
		if c, p := counts(t, raw); c != c0 || p != p0 {
			t.Errorf("after a second run: %d customers, %d phones; want %d, %d", c, p, c0, p0)
		}
		if after := dump(t, raw); !reflect.DeepEqual(before, after) {
			t.Error("a second run changed the data")
		}

		// A larger N adds only what is missing.
		third, err := db.Seed(ctx, store.SeedOptions{Customers: 2100, BatchSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		if third.Created != 100 || third.Existing != 2000 {
			t.Errorf("growing to 2100 = %+v, want 100 created, 2000 existing", third)
		}
		if c, _ := counts(t, raw); c != 2100 {
			t.Errorf("%d customers, want 2100", c)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := storetest.MustOpenDB(t, "GB")
		if _, err := db.Seed(ctx, store.SeedOptions{Customers: -1}); err == nil {
			t.Error("negative count: no error")
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		db, raw := mustOpenDBWithSQL(t, "GB")
		ctx, cancel := context.WithCancel(ctx)
		_, err := db.Seed(ctx, store.SeedOptions{Customers: 5000, BatchSize: 500, Progress: func(done, total int) {
			if done >= 1000 {
				cancel()
			}
		}})
		if err == nil {
			t.Fatal("cancelled seed returned no error")
		}
		c, _ := counts(t, raw)
		if c < 1000 || c >= 5000 {
			t.Errorf("%d customers after cancelling at 1000 of 5000", c)
		}
		// Running again completes the set.
		if _, err := db.Seed(context.Background(), store.SeedOptions{Customers: 5000}); err != nil {
			t.Fatal(err)
		}
		if c, _ := counts(t, raw); c != 5000 {
			t.Errorf("%d customers after completing, want 5000", c)
		}
	})
}
