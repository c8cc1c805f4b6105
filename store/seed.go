package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/ringdesk/ringdesk"
)

// DefaultSeed is the seed of the demo data when SeedOptions.Seed is zero:
// fixed, so that every installation's demo looks the same and a bug report
// can name a demo customer.
const DefaultSeed int64 = 20260101

// DefaultSeedCustomers is how many demo customers Seed creates by default.
const DefaultSeedCustomers = 2000

// SeedOptions tune Seed. Zero values pick the defaults.
type SeedOptions struct {
	Customers int   // how many demo customers; default DefaultSeedCustomers
	Seed      int64 // seed of the generator; default DefaultSeed
	BatchSize int   // customers per multi-row INSERT and transaction; default 1000

	// Progress, when set, is called after each batch with the customers
	// done so far (created or already there) and the total. It runs on the
	// goroutine that called Seed and should return quickly.
	Progress func(done, total int)
}

// SeedResult summarises a Seed run.
type SeedResult struct {
	Customers int // demo customers asked for
	Created   int // customers created by this run
	Existing  int // customers that were already there and were skipped
	Phones    int // phone numbers created by this run
	Duration  time.Duration
}

// Seed loads deterministic demo customers, so that a new installation has
// records to look callers up in and a benchmark has a known data set.
//
// Customer i (1 ≤ i ≤ Customers) depends only on the seed and i: its account
// number is DEMO-%07d of i, and it has a name and often a company, an email
// under example.com/.net/.org, a status, tags, an address, sometimes notes,
// and one or two numbers in the database's default region (about 1.5 per
// customer). One customer in 200 shares its mobile with the customer before
// it, and one in 250 has an extra number that cannot be parsed, kept raw and
// flagged like any other. Numbers are distinct up to 1,000,000 customers;
// beyond that they repeat.
//
// Seeding is idempotent: customers whose account number exists are skipped,
// so a second run, or a larger N after a smaller one, only adds what is
// missing. Each batch is one transaction; a cancelled ctx keeps the batches
// committed so far, and running Seed again completes the set.
func (db *DB) Seed(ctx context.Context, opts SeedOptions) (SeedResult, error) {
	start := time.Now()
	if opts.Customers < 0 {
		return SeedResult{}, ringdesk.Errorf(ringdesk.EINVALID, "The number of demo customers must not be negative.")
	}
	if opts.Customers == 0 {
		opts.Customers = DefaultSeedCustomers
	}
	if opts.Customers > 9_999_999 {
		return SeedResult{}, ringdesk.Errorf(ringdesk.EINVALID, "At most 9,999,999 demo customers (account numbers have 7 digits).")
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	gen, err := newDemoGenerator(opts.Seed, db.norm.Region())
	if err != nil {
		return SeedResult{}, err
	}
	bs := batchSize(opts.BatchSize)
	res := SeedResult{Customers: opts.Customers}

	// Generating and normalising a batch takes about as long as storing
	// one, so a goroutine prepares the next batch while this one is written.
	type batch struct {
		cs       []*ringdesk.Customer
		existing int
	}
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan batch, 1)
	prepErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the preparer does not outlive Seed
	defer cancel()
	wg.Go(func() {
		defer close(batches)
		for first := 1; first <= opts.Customers; first += bs {
			last := min(first+bs-1, opts.Customers)
			cs, existing, err := db.prepareSeedBatch(ctx, gen, first, last)
			if err != nil {
				prepErr <- err
				return
			}
			select {
			case batches <- batch{cs, existing}:
			case <-ctx.Done():
				return
			}
		}
	})
	done := 0
	for b := range batches {
		outs, err := db.insertBatch(ctx, b.cs)
		if err != nil {
			return res, fmt.Errorf("seed: %w", err)
		}
		for i, o := range outs {
			if o.Existed {
				res.Existing++
				continue
			}
			res.Created++
			res.Phones += len(b.cs[i].Phones)
		}
		res.Existing += b.existing
		done += len(b.cs) + b.existing
		if opts.Progress != nil {
			opts.Progress(done, opts.Customers)
		}
	}
	select {
	case err := <-prepErr:
		return res, fmt.Errorf("seed: %w", err)
	default:
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// prepareSeedBatch generates demo customers first..last, leaves out those
// already stored (so that a re-run does not normalise a million numbers for
// nothing) and prepares the rest for insertBatch, which checks again inside
// its transaction.
func (db *DB) prepareSeedBatch(ctx context.Context, gen *demoGenerator, first, last int) ([]*ringdesk.Customer, int, error) {
	accounts := make([]string, 0, last-first+1)
	for i := first; i <= last; i++ {
		accounts = append(accounts, demoAccount(i))
	}
	var stored []string
	query := `SELECT account_number FROM customers WHERE account_number BETWEEN ? AND ?`
	if err := db.db.SelectContext(ctx, &stored, query, accounts[0], accounts[len(accounts)-1]); err != nil {
		return nil, 0, fmt.Errorf("find demo customers: %w", err)
	}
	have := make(map[string]bool, len(stored))
	for _, a := range stored {
		have[a] = true
	}
	cs := make([]*ringdesk.Customer, 0, len(accounts)-len(stored))
	existing := 0
	for i := first; i <= last; i++ {
		if have[accounts[i-first]] {
			existing++
			continue
		}
		c := gen.customer(i)
		if err := db.prepareBulkCustomer(c); err != nil {
			return nil, 0, fmt.Errorf("demo customer %d: %w", i, err)
		}
		cs = append(cs, c)
	}
	return cs, existing, nil
}

func demoAccount(i int) string { return fmt.Sprintf("DEMO-%07d", i) }

// demoGenerator builds demo customers. It holds no state that changes, so
// customer i is the same whichever batch or run it is generated in.
type demoGenerator struct {
	seed   uint64
	mobile numberTemplate
	fixed  numberTemplate
}

// numberTemplate makes distinct numbers of one kind in a region: an example
// number written nationally ("07400 123456") whose last digits are replaced.
type numberTemplate struct {
	national string // the example as written nationally
	tail     int    // how many trailing digits vary
}

// demoTail is how many trailing digits of a demo number vary: 10^6 numbers
// of each kind.
const demoTail = 6

func newDemoGenerator(seed int64, region string) (*demoGenerator, error) {
	mobile, ok := exampleTemplate(region, phonenumbers.MOBILE)
	if !ok {
		mobile, ok = exampleTemplate(region, phonenumbers.FIXED_LINE)
	}
	if !ok {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "No example phone numbers are known for region %s.", region)
	}
	fixed, ok := exampleTemplate(region, phonenumbers.FIXED_LINE)
	if !ok || fixed.prefix() == mobile.prefix() {
		// Some regions (US, CA) give the same example for both kinds:
		// change the digit before the tail so the two kinds do not collide.
		fixed = mobile.variant(region)
	}
	return &demoGenerator{seed: uint64(seed), mobile: mobile, fixed: fixed}, nil
}

func exampleTemplate(region string, kind phonenumbers.PhoneNumberType) (numberTemplate, bool) {
	num := phonenumbers.GetExampleNumberForType(region, kind)
	if num == nil {
		return numberTemplate{}, false
	}
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	if len(nsn) < 4 {
		return numberTemplate{}, false
	}
	return numberTemplate{national: phonenumbers.Format(num, phonenumbers.NATIONAL), tail: min(demoTail, len(nsn)-2)}, true
}

// prefix returns the digits of the template before the tail.
func (t numberTemplate) prefix() string {
	d := digitsOf(t.national)
	return d[:len(d)-t.tail]
}

// variant returns t with the digit before the tail changed to the first
// other digit that gives a valid number, or t itself when none does.
func (t numberTemplate) variant(region string) numberTemplate {
	pos := digitIndexes(t.national)
	at := pos[len(pos)-t.tail-1]
	for d := byte('1'); d <= '9'; d++ {
		if d == t.national[at] {
			continue
		}
		v := numberTemplate{national: t.national[:at] + string(d) + t.national[at+1:], tail: t.tail}
		if num, err := phonenumbers.Parse(v.national, region); err == nil && phonenumbers.IsValidNumber(num) {
			return v
		}
	}
	return t
}

// number returns the template with its tail replaced by k's digits. k is
// scrambled by a bijection modulo 10^tail (multiplying by a number prime to
// 10) so that consecutive customers do not get consecutive numbers.
func (t numberTemplate) number(k int) string {
	mod := 1
	for range t.tail {
		mod *= 10
	}
	v := (k*7919 + 104729) % mod
	digits := fmt.Sprintf("%0*d", t.tail, v)
	b := []byte(t.national)
	pos := digitIndexes(t.national)
	for j, p := range pos[len(pos)-t.tail:] {
		b[p] = digits[j]
	}
	return string(b)
}

func digitIndexes(s string) []int {
	var pos []int
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			pos = append(pos, i)
		}
	}
	return pos
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

var (
	demoFirst = []string{"Ada", "Alan", "Amara", "Ben", "Carmen", "Chen", "Dara", "David", "Elena", "Emeka",
		"Fatima", "Femi", "Grace", "Hannah", "Hiro", "Ines", "Isaac", "Jamal", "Jana", "Kofi", "Lars", "Leila",
		"Liam", "Maria", "Mateo", "Mei", "Nadia", "Noah", "Olga", "Omar", "Priya", "Quentin", "Rosa", "Ravi",
		"Sara", "Sean", "Tariq", "Tess", "Uma", "Victor", "Wen", "Yusuf", "Zara", "Zoltan"}
	demoLast = []string{"Abbott", "Achebe", "Barnes", "Bauer", "Chowdhury", "Costa", "Dubois", "Evans",
		"Fischer", "Garcia", "Gupta", "Hughes", "Ibrahim", "Jensen", "Kowalski", "Larsen", "Lopez", "Mensah",
		"Murphy", "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Quinn", "Rossi", "Santos", "Schmidt",
		"Singh", "Tanaka", "Turner", "Walsh", "Wong", "Yilmaz", "Zhang"}
	demoCompanyWords = []string{"Acme", "Blue Harbour", "Brightline", "Cedar", "Copperleaf", "Northwind",
		"Harbourview", "Kestrel", "Lumen", "Meridian", "Oakridge", "Pinnacle", "Riverside", "Silverpine",
		"Summit", "Tidewater", "Westfield", "Zephyr"}
	demoCompanyKinds = []string{"Logistics", "Dental", "Builders", "Foods", "Insurance", "Motors", "Print",
		"Software", "Travel", "Energy", "Florists", "Legal"}
	demoCompanySuffix = []string{"Ltd", "plc", "& Co", "Group", "Partners", ""}
	demoStreets       = []string{"High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue",
		"Victoria Road", "Green Lane", "Queen Street", "King's Road", "Harbour Way"}
	demoTowns = []string{"Ashford", "Bramley", "Carlton", "Dunmore", "Eastleigh", "Fairview", "Glenwood",
		"Hillcrest", "Kingsbridge", "Lakeside", "Millbrook", "Northfield"}
	demoTags    = []string{"vip", "wholesale", "retail", "newsletter", "partner", "priority", "trial", "late-payer"}
	demoDomains = []string{"example.com", "example.net", "example.org"}
	demoNotes   = []string{"Prefers a call back in the morning.", "Ask for the accounts department.",
		"Renewal due next quarter.", "Speaks Spanish and English.", "Send invoices by email only."}
	demoJunk = []string{"ask reception", "unknown", "n/a", "see notes"}
)

// customer returns demo customer i.
func (g *demoGenerator) customer(i int) *ringdesk.Customer {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	pickOf := func(s []string) string { return s[r.IntN(len(s))] }
	c := &ringdesk.Customer{AccountNumber: demoAccount(i), Tags: []string{}}

	first, last := pickOf(demoFirst), pickOf(demoLast)
	hasName := r.IntN(100) >= 5 // one in 20 is a company without a contact
	if hasName {
		c.Name = first + " " + last
	}
	if !hasName || r.IntN(100) < 60 {
		c.Company = strings.TrimSpace(pickOf(demoCompanyWords) + " " + pickOf(demoCompanyKinds) + " " + pickOf(demoCompanySuffix))
	}
	if r.IntN(100) < 85 {
		local := strings.ToLower(first + "." + last)
		if !hasName {
			local = "info"
		}
		c.Email = fmt.Sprintf("%s%d@%s", local, i%1000, pickOf(demoDomains))
	}
	switch n := r.IntN(100); {
	case n < 80:
		c.Status = ringdesk.CustomerActive
	case n < 92:
		c.Status = ringdesk.CustomerProspect
	default:
		c.Status = ringdesk.CustomerInactive
	}
	for _, t := range demoTags {
		if r.IntN(100) < 12 {
			c.Tags = append(c.Tags, t)
		}
	}
	c.Address = fmt.Sprintf("%d %s, %s", 1+r.IntN(240), pickOf(demoStreets), pickOf(demoTowns))
	if r.IntN(100) < 20 {
		c.Notes = pickOf(demoNotes)
	}

	// Numbers: a mobile each, a work number for half, the mobile of the
	// customer before for one in 200 (a shared family or office line), and
	// an unparseable extra for one in 250.
	mobile := g.mobile.number(i)
	if i%200 == 0 && i > 1 {
		mobile = g.mobile.number(i - 1)
	}
	c.Phones = append(c.Phones, ringdesk.Phone{Label: "mobile", Raw: mobile})
	if r.IntN(2) == 0 {
		c.Phones = append(c.Phones, ringdesk.Phone{Label: "work", Raw: g.fixed.number(i)})
	}
	if i%250 == 7 {
		c.Phones = append(c.Phones, ringdesk.Phone{Label: "other", Raw: pickOf(demoJunk)})
	}
	return c
}
