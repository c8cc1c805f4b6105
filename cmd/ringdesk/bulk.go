package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ringdesk/ringdesk/store"
)

func runSeed(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "seed")
	n := fs.Int("customers", store.DefaultSeedCustomers, "number of demo customers (deterministic: the same N gives the same data)")
	demoUsers := fs.Bool("demo-users", false, "also create the demo logins, a support queue, a DID and a loopback trunk")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if *n < 0 {
		return fmt.Errorf("--customers must not be negative")
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if *demoUsers {
		created, err := db.SeedDemoSetup(ctx, cfg.SIP.Realm)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "demo setup: %d login(s) created; queue %q, DID %s, trunk from %s\n",
			len(created), store.DemoQueue, store.DemoDID, store.DemoTrunkCIDR)
	}
	if *n == 0 {
		return nil
	}
	p := newProgress(env.stderr, "seeding customers", *n)
	res, err := db.Seed(ctx, store.SeedOptions{Customers: *n, Progress: func(done, total int) { p.update(done) }})
	if err != nil {
		return err
	}
	p.finish(res.Customers)
	fmt.Fprintf(env.stdout, "seed: %d demo customers (%d created, %d already there), %d phone numbers created, in %s\n",
		res.Customers, res.Created, res.Existing, res.Phones, res.Duration.Round(1e6))
	return nil
}

// mapFlag collects repeated --map "CSV header=field" flags.
type mapFlag map[string]string

func (m mapFlag) String() string { return fmt.Sprint(map[string]string(m)) }
func (m mapFlag) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i <= 0 || i == len(v)-1 {
		return fmt.Errorf("%q is not HEADER=field", v)
	}
	m[strings.TrimSpace(v[:i])] = strings.TrimSpace(v[i+1:])
	return nil
}

func runImport(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "import")
	mapping := mapFlag{}
	fs.Var(mapping, "map", `map a CSV header to a field, e.g. --map "Tel (office)=phone:work" (repeatable; field "-" ignores a column)`)
	maxErrors := fs.Int("max-errors", 100, "print at most this many bad rows (all are counted)")
	// Flags may follow the file name.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 || file == "" {
		fs.Usage()
		return errUsage
	}
	f, err := os.Open(file)
	if err != nil {
		return err // *PathError names the file
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	p := newProgress(env.stderr, "importing rows", 0)
	printed := 0
	sum, err := db.Import(ctx, f, store.ImportOptions{
		Mapping: mapping,
		OnError: func(e store.RowError) {
			if printed < *maxErrors {
				fmt.Fprintf(env.stderr, "%s:%d: %s\n", file, e.Line, e.Reason)
			}
			printed++
		},
		Progress: func(rows int, bytes int64) {
			if size > 0 && rows > 0 && bytes > 0 {
				// Estimate the total rows from the bytes read so far, for the ETA.
				p.setTotal(int(float64(rows) * float64(size) / float64(bytes)))
			}
			p.update(rows)
		},
	})
	if err != nil {
		return err
	}
	p.setTotal(sum.Rows)
	p.finish(sum.Rows)
	if printed > *maxErrors {
		fmt.Fprintf(env.stderr, "... and %d more bad rows\n", printed-*maxErrors)
	}
	fmt.Fprintf(env.stdout, "import %s: %d rows: %d created, %d unchanged, %d failed, in %s\n",
		file, sum.Rows, sum.Created, sum.Unchanged, sum.Failed, sum.Duration.Round(1e6))
	if len(sum.IgnoredColumns) > 0 {
		fmt.Fprintf(env.stdout, "ignored columns: %s (map them with --map)\n", strings.Join(sum.IgnoredColumns, ", "))
	}
	return nil
}
