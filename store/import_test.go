package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

// importRun is what one Import call did.
type importRun struct {
	sum  store.ImportSummary
	errs []string // "line: reason"
	err  error
}

func runImport(t *testing.T, db *store.DB, file string, opts store.ImportOptions) importRun {
	t.Helper()
	var run importRun
	opts.OnError = func(e store.RowError) { run.errs = append(run.errs, fmt.Sprintf("%d: %s", e.Line, e.Reason)) }
	run.sum, run.err = db.Import(context.Background(), strings.NewReader(file), opts)
	return run
}

// storedCustomer returns the customer with the account number, by SQL.
func storedCustomer(t *testing.T, db *store.DB, raw *sql.DB, account string) *ringdesk.Customer {
	t.Helper()
	var id int64
	if err := raw.QueryRow(`SELECT id FROM customers WHERE account_number = ?`, account).Scan(&id); err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	c, err := db.FindCustomerByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestImport(t *testing.T) {
	var manyTags string // 40 distinct tags of 60 characters: each valid, too long together
	for i := range 40 {
		manyTags += fmt.Sprintf("%060d;", i)
	}
	type want struct {
		sum     store.ImportSummary // Duration is not compared
		errs    []string            // each must contain its text, in order
		errCode string              // of Import's error; nothing may be stored then
		errText string
	}
	tests := []struct {
		name  string
		file  string
		opts  store.ImportOptions
		want  want
		check func(t *testing.T, db *store.DB, raw *sql.DB)
	}{
		{
			name: "AllColumns",
			file: "Name,Company,E-mail,Account Number,Status,Tags,Address,Notes,Phone,Mobile,Work Phone,Phone 2,Fax\n" +
				"Ada Lovelace,Analytical Engines,ada@example.com,ACC-1,Prospect,vip; retail|VIP,\"1 Hill St, London\",\"Likes \"\"tea\"\"\",020 7946 0000,07700 900123,,+1 202 555 0101,\n" +
				"Alan Turing,,alan@example.org,ACC-2,,,,,,07700 900456,,,\n",
			want: want{sum: store.ImportSummary{Rows: 2, Created: 2, IgnoredColumns: []string{}}},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				c := storedCustomer(t, db, raw, "ACC-1")
				if c.Name != "Ada Lovelace" || c.Company != "Analytical Engines" || c.Email != "ada@example.com" ||
					c.Status != "prospect" || c.Address != "1 Hill St, London" || c.Notes != `Likes "tea"` {
					t.Errorf("ACC-1 = %+v", c)
				}
				if got, want := strings.Join(c.Tags, ","), "vip,retail"; got != want {
					t.Errorf("tags = %q, want %q", got, want)
				}
				var phones []string
				for _, p := range c.Phones {
					phones = append(phones, p.Label+"="+p.E164)
				}
				if got, want := strings.Join(phones, " "), "phone=+442079460000 mobile=+447700900123 phone 2=+12025550101"; got != want {
					t.Errorf("phones = %q, want %q", got, want)
				}
				if c := storedCustomer(t, db, raw, "ACC-2"); c.Status != "active" || len(c.Phones) != 1 {
					t.Errorf("ACC-2 = %+v", c)
				}
			},
		},
		{
			name: "UnknownAndWrongColumns",
			file: "given name,Surname,Account_No,Favourite colour,,Phone\n" +
				"Grace,Hopper,ACC-1,blue,,07700 900001\n" +
				"Too,Few,ACC-2\n" +
				"Katherine,Johnson,ACC-3,green,,07700 900003\n" +
				"Too,Many,ACC-4,red,,07700 900004,extra\n" +
				"\n" + // blank lines are skipped, not rows
				"Dorothy,Vaughan,ACC-5,,,\n",
			want: want{
				sum:  store.ImportSummary{Rows: 5, Created: 3, Failed: 2, IgnoredColumns: []string{"Favourite colour", "(column 5)"}},
				errs: []string{"3: The row has 3 fields; the header has 6.", "5: The row has 7 fields; the header has 6."},
			},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				if c := storedCustomer(t, db, raw, "ACC-1"); c.Name != "Grace Hopper" {
					t.Errorf("first + last name = %q, want Grace Hopper", c.Name)
				}
			},
		},
		{
			name: "BrokenQuoting",
			file: "Name,Account\n" +
				"Ann \"Bee\" Smith,ACC-1\n" + // bare quote
				"Good One,ACC-2\n" +
				"\"Cee\" x,ACC-3\n" + // text after a closing quote
				"\"Multi\nLine\",ACC-4\n" + // a quoted newline is fine
				"Good Two,ACC-5\n" +
				"\"Never closed,ACC-6\n" +
				"Swallowed,ACC-7\n",
			want: want{
				sum: store.ImportSummary{Rows: 6, Created: 3, Failed: 3, IgnoredColumns: []string{}},
				errs: []string{
					`2: Broken quoting: bare " in non-quoted-field (line 2, column 5).`,
					`4: Broken quoting: extraneous or missing " in quoted-field (line 4, column 5).`,
					`8: Broken quoting: extraneous or missing " in quoted-field (line 9, column 17).`,
				},
			},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				if c := storedCustomer(t, db, raw, "ACC-4"); c.Name != "Multi\nLine" {
					t.Errorf("quoted newline: name = %q", c.Name)
				}
			},
		},
		{
			name: "InvalidNumbers",
			file: "Name,Account,Phone,Mobile\n" +
				"Kept Raw,ACC-1,not a number,+44 12\n" +
				"Too Long,ACC-2," + strings.Repeat("1", 65) + ",\n",
			want: want{
				sum:  store.ImportSummary{Rows: 2, Created: 1, Failed: 1, IgnoredColumns: []string{}},
				errs: []string{"3: Phone number \"111"},
			},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				c := storedCustomer(t, db, raw, "ACC-1")
				if len(c.Phones) != 2 {
					t.Fatalf("phones = %+v, want both kept", c.Phones)
				}
				for i, want := range []string{"not a number", "+44 12"} {
					if p := c.Phones[i]; p.Raw != want || p.E164 != "" || !p.Invalid {
						t.Errorf("phone %d = %+v, want %q kept raw and flagged", i, p, want)
					}
				}
			},
		},
		{
			name: "SameNumberTwice",
			file: "Name,Account,Phone,Mobile\n" +
				"Twice,ACC-1,020 7946 0000,+44 20 7946 0000\n" +
				"Shares It,ACC-2,,02079460000\n",
			want: want{sum: store.ImportSummary{Rows: 2, Created: 2, IgnoredColumns: []string{}}},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				// Each customer holding the number comes once, by ID.
				found, err := db.LookupByPhone(context.Background(), "0044 20 7946 0000")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range found {
					got = append(got, fmt.Sprintf("%s/%d", c.AccountNumber, len(c.Phones)))
				}
				if want := []string{"ACC-1/2", "ACC-2/1"}; !reflect.DeepEqual(got, want) {
					t.Errorf("LookupByPhone = %q, want %q", got, want)
				}
			},
		},
		{
			name: "ValidationErrors",
			file: "Name,Company,Email,Status,Account,Tags\n" +
				",,nobody@example.com,,ACC-1,\n" +
				"Bad Mail,,not-an-email,,ACC-2,\n" +
				"Bad Status,,,gold,ACC-3,\n" +
				"Bad Account,,,,\"" + strings.Repeat("A", 65) + "\",\n" +
				"Bad UTF-8 \xff,,,,ACC-5,\n" +
				"Too Many Tags,,,,ACC-6," + manyTags + "\n" +
				"Fine,,,ACTIVE,ACC-7,\n",
			want: want{
				sum: store.ImportSummary{Rows: 7, Created: 1, Failed: 6, IgnoredColumns: []string{}},
				errs: []string{
					"2: A customer needs a name or a company.",
					"3: Email \"not-an-email\" is not an email address.",
					"4: Status \"gold\" is not one of active, inactive, prospect.",
					"5: Account number is limited to 64 characters.",
					"6: Text is not valid UTF-8",
					"7: Tags are limited to 2000 characters in all.",
				},
			},
		},
		{
			name: "DuplicateAccountsInFile",
			file: "Name,Account\n" +
				"First,ACC-1\n" +
				"Second,ACC-2\n" +
				"Again Same Batch,acc-1\n" + // the account column compares without case
				"Third,ACC-3\n" +
				"Again Later Batch,ACC-2\n" +
				"Accented,ACCÉ-9\n" +
				"Unaccented,ACCE-9\n" + // equal to ACCÉ-9 in MySQL's collation
				"Fourth,ACC-4\n",
			opts: store.ImportOptions{BatchSize: 3},
			want: want{
				sum: store.ImportSummary{Rows: 8, Created: 5, Failed: 3, IgnoredColumns: []string{}},
				errs: []string{
					`4: Account number "acc-1" is already on line 2.`,
					`6: Account number "ACC-2" appears on an earlier line of this file.`,
					`8: Account number "ACCE-9" belongs to another customer`,
				},
			},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				// The collision failed its row alone; the rest of its batch
				// (Fourth) was committed.
				if c := storedCustomer(t, db, raw, "ACC-4"); c.Name != "Fourth" {
					t.Errorf("ACC-4 = %q", c.Name)
				}
				if c := storedCustomer(t, db, raw, "ACC-1"); c.Name != "First" {
					t.Errorf("ACC-1 = %q, want the first row's", c.Name)
				}
			},
		},
		{
			name: "Empty",
			file: "",
			want: want{errCode: ringdesk.EINVALID, errText: "The file is empty."},
		},
		{
			name: "OnlyBOMAndBlankLines",
			file: "\uFEFF\n\n",
			want: want{errCode: ringdesk.EINVALID, errText: "The file is empty."},
		},
		{
			name: "HeaderOnly",
			file: "Name,Phone\r\n",
			want: want{sum: store.ImportSummary{IgnoredColumns: []string{}}},
		},
		{
			name: "BOM",
			file: "\uFEFFName,Account\r\nWith BOM,ACC-1\r\n",
			want: want{sum: store.ImportSummary{Rows: 1, Created: 1, IgnoredColumns: []string{}}},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				if c := storedCustomer(t, db, raw, "ACC-1"); c.Name != "With BOM" {
					t.Errorf("name = %q", c.Name)
				}
			},
		},
		{
			name: "NoNameOrCompany",
			file: "Email,Phone,Account\na@example.com,07700 900001,ACC-1\n",
			want: want{errCode: ringdesk.EINVALID, errText: `The header has no name or company column (it has: "Email", "Phone", "Account")`},
		},
		{
			name: "Mapping",
			file: "Kunde,Ref,Tel (office),Name,Handy\n" +
				"Ada,R-1,020 7946 0000,ignored,07700 900123\n",
			opts: store.ImportOptions{Mapping: map[string]string{
				"Kunde": "name", "ref": "account_number", "Tel (office)": "phone:work", "Name": "ignore", "HANDY": "phone:mobile"}},
			want: want{sum: store.ImportSummary{Rows: 1, Created: 1, IgnoredColumns: []string{"Name"}}},
			check: func(t *testing.T, db *store.DB, raw *sql.DB) {
				c := storedCustomer(t, db, raw, "R-1")
				if c.Name != "Ada" || len(c.Phones) != 2 || c.Phones[0].Label != "work" || c.Phones[0].E164 != "+442079460000" ||
					c.Phones[1].Label != "mobile" {
					t.Errorf("mapped customer = %+v", c)
				}
			},
		},
		{
			name: "MappingToUnknownField",
			file: "Name,Colour\nAda,blue\n",
			opts: store.ImportOptions{Mapping: map[string]string{"Colour": "favourite"}},
			want: want{errCode: ringdesk.EINVALID, errText: `The mapping for column "Colour" names "favourite", which is not a field`},
		},
		{
			name: "MappingOfMissingColumn",
			file: "Name\nAda\n",
			opts: store.ImportOptions{Mapping: map[string]string{"Telephone": "phone"}},
			want: want{errCode: ringdesk.EINVALID, errText: `The mapping names column "Telephone", which the header does not have.`},
		},
		{
			name: "BrokenHeader",
			file: "Name,\"Acc\"ount\nAda,1\n",
			want: want{errCode: ringdesk.EINVALID, errText: "The header (line 1) cannot be read"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, raw := mustOpenDBWithSQL(t, "GB")
			run := runImport(t, db, tt.file, tt.opts)
			if tt.want.errCode != "" {
				if got := ringdesk.ErrorCode(run.err); got != tt.want.errCode {
					t.Fatalf("error = %v, want code %s", run.err, tt.want.errCode)
				}
				if got := ringdesk.ErrorMessage(run.err); !strings.Contains(got, tt.want.errText) {
					t.Errorf("error message = %q, want it to contain %q", got, tt.want.errText)
				}
				if c, p := counts(t, raw); c != 0 || p != 0 || len(run.errs) != 0 {
					t.Errorf("after a refused file: %d customers, %d phones, row errors %q", c, p, run.errs)
				}
				return
			}
			if run.err != nil {
				t.Fatal(run.err)
			}
			got := run.sum
			got.Duration = 0
			if !reflect.DeepEqual(got, tt.want.sum) {
				t.Errorf("summary = %+v, want %+v", got, tt.want.sum)
			}
			if len(run.errs) != len(tt.want.errs) {
				t.Fatalf("row errors = %q, want %d like %q", run.errs, len(tt.want.errs), tt.want.errs)
			}
			for i := range run.errs {
				if !strings.HasPrefix(run.errs[i], tt.want.errs[i]) {
					t.Errorf("row error %d = %q, want it to start %q", i, run.errs[i], tt.want.errs[i])
				}
			}
			if c, _ := counts(t, raw); c != tt.want.sum.Created {
				t.Errorf("%d customers stored, summary says %d created", c, tt.want.sum.Created)
			}
			if tt.check != nil {
				tt.check(t, db, raw)
			}
		})
	}
}

func TestImportIdempotent(t *testing.T) {
	ctx := context.Background()
	db, raw := mustOpenDBWithSQL(t, "GB")
	file := "Name,Company,Email,Account,Phone,Mobile\n" +
		"Ada,Engines,ada@example.com,ACC-1,020 7946 0000,\n" +
		"Bad Row,,broken,ACC-2,,\n" +
		"No Account,Shop,,,020 7946 0001,07700 900001\n" +
		"No Account,Shop,,,020 7946 0002,\n" + // another person: other number
		"Company Only,,,,,\n" +
		"no account,SHOP,,,07700 900001,020 7946 0001\n" + // the third row again: case and order aside
		"Deleted Later,,,ACC-3,07700 900003,\n"
	first := runImport(t, db, file, store.ImportOptions{BatchSize: 2})
	if first.err != nil {
		t.Fatal(first.err)
	}
	if got, want := first.sum, (store.ImportSummary{Rows: 7, Created: 5, Unchanged: 1, Failed: 1, IgnoredColumns: []string{}}); !reflect.DeepEqual(withoutDuration(got), want) {
		t.Errorf("first import = %+v, want %+v", got, want)
	}
	// A soft-deleted customer keeps its account number and is not revived.
	deleted := storedCustomer(t, db, raw, "ACC-3")
	if err := db.DeleteCustomer(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	before := dump(t, raw)
	c0, p0 := counts(t, raw)

	for _, bs := range []int{0, 1, 3} {
		again := runImport(t, db, file, store.ImportOptions{BatchSize: bs})
		if again.err != nil {
			t.Fatal(again.err)
		}
		if got, want := again.sum, (store.ImportSummary{Rows: 7, Unchanged: 6, Failed: 1, IgnoredColumns: []string{}}); !reflect.DeepEqual(withoutDuration(got), want) {
			t.Errorf("batch size %d: re-import = %+v, want %+v", bs, got, want)
		}
		if c, p := counts(t, raw); c != c0 || p != p0 {
			t.Errorf("batch size %d: re-import left %d customers, %d phones; want %d, %d", bs, c, p, c0, p0)
		}
		if after := dump(t, raw); !reflect.DeepEqual(before, after) {
			t.Errorf("batch size %d: re-import changed the data", bs)
		}
	}
	if _, err := db.FindCustomerByID(ctx, deleted.ID); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Errorf("deleted customer after re-import: %v, want still deleted", err)
	}
}

func withoutDuration(s store.ImportSummary) store.ImportSummary {
	s.Duration = 0
	return s
}

func TestImportProgressAndCancel(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	var b strings.Builder
	b.WriteString("\uFEFFName,Account,Phone\n")
	for i := 1; i <= 2500; i++ {
		fmt.Fprintf(&b, "Customer %d,ACC-%d,07700 9%05d\n", i, i, i)
	}
	file := b.String()

	t.Run("Progress", func(t *testing.T) {
		var calls [][2]int64
		sum, err := db.Import(context.Background(), strings.NewReader(file), store.ImportOptions{
			Progress: func(rows int, bytes int64) { calls = append(calls, [2]int64{int64(rows), bytes}) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Created != 2500 || sum.Duration <= 0 {
			t.Errorf("summary = %+v", sum)
		}
		if len(calls) != 3 {
			t.Fatalf("progress calls = %v, want one per batch of 1000", calls)
		}
		if got, want := calls[len(calls)-1], [2]int64{2500, int64(len(file))}; got != want {
			t.Errorf("last progress = %v, want %v (every row, every byte)", got, want)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i][0] <= calls[i-1][0] || calls[i][1] <= calls[i-1][1] {
				t.Errorf("progress went backwards: %v", calls)
			}
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		db, raw := mustOpenDBWithSQL(t, "GB")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sum, err := db.Import(ctx, strings.NewReader(file), store.ImportOptions{
			BatchSize: 500,
			Progress: func(rows int, _ int64) {
				if rows >= 1000 {
					cancel()
				}
			},
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		c, _ := counts(t, raw)
		if c != sum.Created || c < 1000 || c >= 2500 {
			t.Errorf("%d stored, summary %+v: want the committed batches only", c, sum)
		}
	})
}

func TestImportMappingDetect(t *testing.T) {
	header := []string{"Full Name", "Organisation", "E-Mail Address", "Account #", "Cell", "Home Phone", "Phone2",
		"Business Phone", "FAX", "Telephone 3", "Customer", "Labels", "Comments", "Street Address", "Status", "Office"}
	m, err := store.NewImportMapping(header, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"name", "company", "email", "account_number", "phone:mobile", "phone:home", "phone:phone 2",
		"phone:work", "phone:fax", "phone:phone 3", "", "tags", "notes", "address", "status", "phone:work"}
	if got := m.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("fields =\n%q\nwant\n%q", got, want)
	}
	// A second name column is ignored, not merged.
	if got, want := m.Ignored(), []string{"Customer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ignored = %q, want %q", got, want)
	}
}

// TestImportMillionRows streams a generated file of RINGDESK_IMPORT_ROWS
// rows (default 1,000,000) through Import and checks that every good row
// lands while the heap stays bounded: the file is never held in memory,
// by the test or by Import.
func TestImportMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: streams a million-row file into MySQL")
	}
	n := 1_000_000
	if v := os.Getenv("RINGDESK_IMPORT_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("RINGDESK_IMPORT_ROWS=%q: want a number of at least 1000", v)
		}
	}
	const heapLimit = 64 << 20
	db, raw := mustOpenDBWithSQL(t, "GB")

	// Row i has an account number except every 1000th, a mobile, a landline
	// for odd i, and every 100,000th has a field too many.
	pr, pw := io.Pipe()
	var wantPhones, wantBad int
	go func() {
		w := bufio.NewWriter(pw)
		fmt.Fprintln(w, "Name,Company,Email,Account,Status,Tags,Address,Mobile,Phone")
		for i := 1; i <= n; i++ {
			account := fmt.Sprintf("BIG-%07d", i)
			if i%1000 == 0 {
				account = ""
			}
			landline := ""
			if i%2 == 1 {
				landline = fmt.Sprintf("0121 %03d %04d", 200+i/10000%800, i%10000)
			}
			extra := ""
			if i%100_000 == 50_000 {
				extra = ",surplus"
			}
			fmt.Fprintf(w, "Customer %d,Company %d,c%d@example.com,%s,active,bulk;test,\"%d High Street, Town\",07400 %06d,%s%s\n",
				i, i%5000, i, account, i, i%1_000_000, landline, extra)
		}
		pw.CloseWithError(w.Flush())
	}()
	for i := 1; i <= n; i++ {
		if i%100_000 == 50_000 {
			wantBad++
			continue
		}
		wantPhones++
		if i%2 == 1 {
			wantPhones++
		}
	}

	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var failed []store.RowError
	start := time.Now()
	sum, err := db.Import(context.Background(), pr, store.ImportOptions{
		OnError: func(e store.RowError) { failed = append(failed, e) },
	})
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows in %v: %.0f rows/s; peak heap in use %.1f MiB", sum.Rows, elapsed.Round(time.Millisecond),
		float64(sum.Rows)/elapsed.Seconds(), float64(peak)/(1<<20))

	if sum.Rows != n || sum.Created != n-wantBad || sum.Failed != wantBad || sum.Unchanged != 0 {
		t.Errorf("summary = %+v, want %d rows, %d created, %d failed", sum, n, n-wantBad, wantBad)
	}
	if len(failed) != wantBad || (wantBad > 0 && failed[0].Line != 50_001) {
		t.Errorf("row errors = %v, want %d, the first on line 50001", failed, wantBad)
	}
	if c, p := counts(t, raw); c != n-wantBad || p != wantPhones {
		t.Errorf("stored %d customers and %d phones, want %d and %d", c, p, n-wantBad, wantPhones)
	}
	if peak > heapLimit {
		t.Errorf("peak heap in use %.1f MiB, want under %d MiB", float64(peak)/(1<<20), heapLimit>>20)
	}
}
