package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestCustomerCreateFind(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Engines", AccountNumber: "ACC-1",
		Tags: []string{"vip"}, Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}, {Label: "old", Raw: "not a number"}}}
	if err := db.CreateCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindCustomerByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ada Lovelace" || got.Version != 1 || len(got.Phones) != 2 {
		t.Fatalf("got %+v", got)
	}
	if got, want := got.Phones[0].E164, "+447700900123"; got != want {
		t.Errorf("e164 = %q, want %q", got, want)
	}
	if p := got.Phones[1]; p.E164 != "" || !p.Invalid || p.Raw != "not a number" {
		t.Errorf("unparseable phone = %+v, want kept raw and flagged", p)
	}
}

func mustCreate(t *testing.T, db interface {
	CreateCustomer(context.Context, *ringdesk.Customer) error
}, c *ringdesk.Customer) *ringdesk.Customer {
	t.Helper()
	if err := db.CreateCustomer(context.Background(), c); err != nil {
		t.Fatalf("create %q: %v", c.Name, err)
	}
	return c
}

func TestCustomerValidation(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	mustCreate(t, db, &ringdesk.Customer{Name: "Taken", AccountNumber: "A-1"})
	tests := []struct {
		name string
		c    ringdesk.Customer
		code string
	}{
		{"no name or company", ringdesk.Customer{Email: "x@example.com"}, ringdesk.EINVALID},
		{"bad email", ringdesk.Customer{Name: "X", Email: "not-an-email"}, ringdesk.EINVALID},
		{"bad status", ringdesk.Customer{Name: "X", Status: "gold"}, ringdesk.EINVALID},
		{"tag with comma", ringdesk.Customer{Name: "X", Tags: []string{"a,b"}}, ringdesk.EINVALID},
		{"empty phone", ringdesk.Customer{Name: "X", Phones: []ringdesk.Phone{{Raw: " "}}}, ringdesk.EINVALID},
		{"taken account", ringdesk.Customer{Name: "X", AccountNumber: "A-1"}, ringdesk.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.CreateCustomer(ctx, &tt.c)
			if got := ringdesk.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
		})
	}
	page, _, err := db.FindCustomers(ctx, ringdesk.CustomerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 {
		t.Errorf("%d customers after rejected creates, want 1: bad input must change nothing", len(page))
	}
}

func TestCustomerUpdateConflict(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Grace Hopper", Phones: []ringdesk.Phone{{Label: "work", Raw: "020 7946 0001"}}})

	name := "Rear Admiral Grace Hopper"
	first, err := db.UpdateCustomer(ctx, c.ID, ringdesk.CustomerUpdate{Version: 1, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != 2 || first.Name != name || len(first.Phones) != 1 {
		t.Fatalf("after update: %+v", first)
	}
	// A second agent still holding version 1 must be told, not overwrite.
	stale := "Grace B. Hopper"
	if _, err := db.UpdateCustomer(ctx, c.ID, ringdesk.CustomerUpdate{Version: 1, Name: &stale}); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT {
		t.Fatalf("stale update: err = %v, want ECONFLICT", err)
	}
	got, err := db.FindCustomerByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name || got.Version != 2 {
		t.Errorf("stored %q v%d, want %q v2", got.Name, got.Version, name)
	}
	// Replacing phones renormalises them.
	phones := []ringdesk.Phone{{Label: "mobile", Raw: "07911 123456"}, {Label: "home", Raw: "+44 20 7946 0002"}}
	got, err = db.UpdateCustomer(ctx, c.ID, ringdesk.CustomerUpdate{Version: 2, Phones: &phones})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Phones) != 2 || got.Phones[1].E164 != "+442079460002" {
		t.Errorf("phones = %+v", got.Phones)
	}
	if cs, _ := db.LookupByPhone(ctx, "020 7946 0001"); len(cs) != 0 {
		t.Errorf("old number still matches %d customers", len(cs))
	}
	// An invalid update changes nothing.
	empty := ""
	if _, err := db.UpdateCustomer(ctx, c.ID, ringdesk.CustomerUpdate{Version: 3, Name: &empty}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("empty name: err = %v, want EINVALID", err)
	}
	if _, err := db.UpdateCustomer(ctx, 999999, ringdesk.CustomerUpdate{Version: 1, Name: &name}); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Fatalf("unknown id: err = %v, want ENOTFOUND", err)
	}
}

func TestCustomerDelete(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Gone Soon", Phones: []ringdesk.Phone{{Raw: "020 7946 0003"}}})
	if err := db.DeleteCustomer(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindCustomerByID(ctx, c.ID); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Errorf("find deleted: %v, want ENOTFOUND", err)
	}
	if cs, _ := db.LookupByPhone(ctx, "020 7946 0003"); len(cs) != 0 {
		t.Errorf("deleted customer still matches a call")
	}
	if err := db.DeleteCustomer(ctx, c.ID); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Errorf("delete twice: %v, want ENOTFOUND", err)
	}
}

func TestLookupByPhone(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	// Every column distinct: the lookup scans them by position.
	a := mustCreate(t, db, &ringdesk.Customer{Name: "Alice", Company: "Acme", Email: "alice@acme.example", AccountNumber: "A-1",
		Tags: []string{"vip", "gold"}, Address: "1 Road", Notes: "likes tea",
		Phones: []ringdesk.Phone{{Label: "work", Raw: "020 7946 0100"}, {Label: "mobile", Raw: "07911 000001 x12"}}})
	b := mustCreate(t, db, &ringdesk.Customer{Name: "Bob", Phones: []ringdesk.Phone{{Raw: "+44 20 7946 0100"}}}) // shared switchboard
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Carol", Phones: []ringdesk.Phone{{Raw: "07911 000002"}, {Raw: "07911-000002"}}})
	tests := []struct {
		raw  string
		want []int64
	}{
		{"02079460100", []int64{a.ID, b.ID}},
		{"+442079460100", []int64{a.ID, b.ID}},
		{"0044 20 7946 0100", []int64{a.ID, b.ID}},
		{"07911 000001", []int64{a.ID}},
		{"+447911000002", []int64{c.ID}}, // listed twice, returned once
		{"07911 000009", nil},
		{"anonymous", nil},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			cs, err := db.LookupByPhone(ctx, tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, c := range cs {
				got = append(got, c.ID)
				// Whole records, as FindCustomerByID reads them.
				if want, err := db.FindCustomerByID(ctx, c.ID); err != nil || !reflect.DeepEqual(c, want) {
					t.Errorf("LookupByPhone(%q) found\n%+v\nFindCustomerByID gives\n%+v (%v)", tt.raw, c, want, err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("LookupByPhone(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestFindCustomers(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	mustCreate(t, db, &ringdesk.Customer{Name: "Zed Zebra", Company: "Acme Ltd", Email: "zed@acme.example"})
	mustCreate(t, db, &ringdesk.Customer{Name: "Amy Acme", AccountNumber: "77001", Phones: []ringdesk.Phone{{Raw: "020 7946 0200"}}})
	mustCreate(t, db, &ringdesk.Customer{Name: "Ben 100%_Sure", Email: "ben@example.org", Phones: []ringdesk.Phone{{Raw: "0161 496 0000"}}})
	for i := 0; i < 7; i++ {
		mustCreate(t, db, &ringdesk.Customer{Name: fmt.Sprintf("Page Person %d", i)})
	}
	names := func(cs []*ringdesk.Customer) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Name)
		}
		return strings.Join(s, "|")
	}
	tests := []struct {
		q    string
		want string
	}{
		{"acme", "Amy Acme|Zed Zebra"}, // name and company prefix
		{"zed@", "Zed Zebra"},          // email prefix
		{"770", "Amy Acme"},            // account number prefix
		{"020 7946", "Amy Acme"},       // national number prefix
		{"+44 161", "Ben 100%_Sure"},   // international prefix
		{"Ben 100%", "Ben 100%_Sure"},  // wildcards taken literally
		{"Ben 1000", ""},               // ... and not as wildcards
		{"%", ""},
		{"nobody", ""},
		{"zeb", "Zed Zebra"},       // start of a later word
		{"amy acm", "Amy Acme"},    // every word must match
		{"+acme -amy", "Amy Acme"}, // operators are plain text: both words must match
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			cs, more, err := db.FindCustomers(ctx, ringdesk.CustomerFilter{Query: tt.q})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(cs); got != tt.want || more {
				t.Errorf("FindCustomers(%q) = %q more=%v, want %q", tt.q, got, more, tt.want)
			}
		})
	}
	// Pages are stable and complete.
	var all []string
	for off := 0; ; off += 3 {
		cs, more, err := db.FindCustomers(ctx, ringdesk.CustomerFilter{Query: "page", Offset: off, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, names(cs))
		if !more {
			break
		}
	}
	if got, want := strings.Join(all, "|"), "Page Person 0|Page Person 1|Page Person 2|Page Person 3|Page Person 4|Page Person 5|Page Person 6"; got != want {
		t.Errorf("pages = %q, want %q", got, want)
	}
	if _, _, err := db.FindCustomers(ctx, ringdesk.CustomerFilter{Offset: -1}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Errorf("negative offset: %v, want EINVALID", err)
	}
}

func TestCustomerHistory(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Hist Ory"})
	other := mustCreate(t, db, &ringdesk.Customer{Name: "Other"})
	base := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	tick := base
	db.Now = func() time.Time { tick = tick.Add(time.Minute); return tick }

	call := &ringdesk.Call{ID: "0190a0a0-0000-7000-8000-000000000001", Direction: ringdesk.Inbound, CustomerID: c.ID,
		State: ringdesk.CallStateEnded, Disposition: "resolved", Notes: "asked about invoice", OfferedAt: base.Add(30 * time.Second)}
	if err := db.CreateCall(ctx, call); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCall(ctx, call); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT {
		t.Errorf("same call twice: %v, want ECONFLICT", err)
	}
	if err := db.CreateNote(ctx, &ringdesk.Note{CustomerID: c.ID, CallID: call.ID, Body: "call back Tuesday"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCase(ctx, &ringdesk.Case{CustomerID: c.ID, CallID: call.ID, Subject: "Invoice wrong", Priority: "high"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateNote(ctx, &ringdesk.Note{CustomerID: other.ID, Body: "not mine"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateNote(ctx, &ringdesk.Note{CustomerID: c.ID, Body: "  "}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Errorf("empty note: %v, want EINVALID", err)
	}
	if err := db.CreateCase(ctx, &ringdesk.Case{CustomerID: 999999, Subject: "x"}); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Errorf("case for unknown customer: %v, want ENOTFOUND", err)
	}
	items, err := db.CustomerHistory(ctx, c.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Kind+":"+it.Title+":"+it.Status+":"+it.Body)
	}
	want := []string{"case:Invoice wrong:open:", "note:::call back Tuesday", "call:inbound:ended: resolved:asked about invoice"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("history =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stored, err := db.FindCallByID(ctx, call.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.CustomerID != c.ID || !stored.OfferedAt.Equal(call.OfferedAt) || stored.Disposition != "resolved" {
		t.Errorf("stored call = %+v", stored)
	}
}

func TestLookupByPhoneShared(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	// 110 customers share a switchboard number, each among 20 numbers at a
	// different position (2,200 rows to join: more than the query takes);
	// one holds it twice; one is deleted.
	var ids []int64
	for i := range 110 {
		c := &ringdesk.Customer{Name: fmt.Sprintf("Staff %02d", i)}
		for k := range 20 {
			c.Phones = append(c.Phones, ringdesk.Phone{Label: fmt.Sprint(k), Raw: fmt.Sprintf("07700 %03d%03d", i, k)})
		}
		c.Phones[i%20].Raw = "020 7946 0000"
		if i == 3 {
			c.Phones[19].Raw = "+44 20 7946 0000"
		}
		if err := db.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if err := db.DeleteCustomer(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	found, err := db.LookupByPhone(ctx, "02079460000")
	if err != nil {
		t.Fatal(err)
	}
	// The first 50 live customers by ID, each once, with all its phones in
	// the order FindCustomerByID gives.
	if len(found) != 50 {
		t.Fatalf("found %d customers, want the limit of 50", len(found))
	}
	live := append([]int64{ids[0]}, ids[2:]...)
	for i, c := range found {
		if c.ID != live[i] {
			t.Fatalf("customer %d has ID %d, want %d", i, c.ID, live[i])
		}
		want, err := db.FindCustomerByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("LookupByPhone gave\n%+v\nFindCustomerByID gives\n%+v", c, want)
		}
	}

	// Pathological: 6 customers each hold one number in all 20 places, 400
	// rows each, more than the query takes. The customer cut short is left
	// out rather than returned with part of its phones.
	for i := range 6 {
		c := &ringdesk.Customer{Name: fmt.Sprintf("Repeat %d", i)}
		for range 20 {
			c.Phones = append(c.Phones, ringdesk.Phone{Raw: "020 7946 1111"})
		}
		if err := db.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	found, err = db.LookupByPhone(ctx, "020 7946 1111")
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 5 {
		t.Fatalf("found %d customers, want the 5 whose rows all fit", len(found))
	}
	for _, c := range found {
		if len(c.Phones) != 20 {
			t.Errorf("customer %d has %d phones, want 20", c.ID, len(c.Phones))
		}
	}
}

// TestCustomerActivity: one statement gives what CustomerHistory and
// FindOpenCases give, with each one's limits and order.
func TestCustomerActivity(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	base := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	tick := base
	db.Now = func() time.Time { tick = tick.Add(time.Minute); return tick }
	u := &ringdesk.User{Username: "grace", DisplayName: "Grace H", Role: ringdesk.RoleAgent}
	if err := db.CreateUser(ctx, u, "login-password", ""); err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Act Ivity"})
	other := mustCreate(t, db, &ringdesk.Customer{Name: "Other"})
	for i := range 12 {
		call := &ringdesk.Call{ID: fmt.Sprintf("0190a0a0-0000-7000-8000-%012d", i), Direction: ringdesk.Inbound, CustomerID: c.ID,
			AgentID: u.ID, State: ringdesk.CallStateEnded, OfferedAt: base.Add(time.Duration(i) * 90 * time.Second)}
		if err := db.CreateCall(ctx, call); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateNote(ctx, &ringdesk.Note{CustomerID: c.ID, AuthorID: u.ID, Body: "call back"}); err != nil {
		t.Fatal(err)
	}
	// More open cases than FindOpenCases returns (10 at most), older.
	for i := range 8 {
		if err := db.CreateCase(ctx, &ringdesk.Case{CustomerID: c.ID, Subject: fmt.Sprintf("old %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range []ringdesk.Case{
		{Subject: "open, owned", Status: ringdesk.CaseOpen, OwnerID: u.ID, CallID: "0190a0a0-0000-7000-8000-000000000003", Priority: "high"},
		{Subject: "pending", Status: ringdesk.CasePending},
		{Subject: "to close", Status: ringdesk.CaseOpen},
		{Subject: "open 2", Status: ringdesk.CaseOpen},
		{Subject: "open 3", Status: ringdesk.CaseOpen},
	} {
		k.CustomerID = c.ID
		if i == 4 {
			tick = tick.Add(-time.Minute) // created in the same ms as "open 2": ordered by id
		}
		if err := db.CreateCase(ctx, &k); err != nil {
			t.Fatal(err)
		}
		if k.Subject == "to close" {
			if _, err := db.CloseCase(ctx, k.ID, k.Version); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.CreateCase(ctx, &ringdesk.Case{CustomerID: other.ID, Subject: "not mine"}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, 2, 3, 10, 200, 600} {
		h, oc, err := db.CustomerActivity(ctx, c.ID, limit)
		if err != nil {
			t.Fatal(err)
		}
		wantH, err := db.CustomerHistory(ctx, c.ID, limit)
		if err != nil {
			t.Fatal(err)
		}
		wantC, err := db.FindOpenCases(ctx, c.ID, limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h, wantH) {
			t.Errorf("limit %d: history\n%+v\nwant\n%+v", limit, h, wantH)
		}
		if !reflect.DeepEqual(oc, wantC) {
			t.Errorf("limit %d: open cases\n%+v\nwant\n%+v", limit, oc, wantC)
		}
		if limit == 10 && (len(h) != 10 || len(oc) != 10 || oc[0].Subject != "open 3" || oc[1].Subject != "open 2" || oc[3].OwnerID != u.ID) {
			t.Errorf("limit 10: %d history items, open cases %+v", len(h), oc)
		}
	}
	if h, oc, err := db.CustomerActivity(ctx, 999999, 10); err != nil || len(h) != 0 || len(oc) != 0 || h == nil || oc == nil {
		t.Errorf("unknown customer: %v, %v, %v; want empty, not nil", h, oc, err)
	}
}

// TestPopStatementsPreparedOnFirstUse runs the pop's prepared statements
// from many goroutines at once on a fresh pool (each may prepare; one
// statement is kept), again once they are kept, and after Close (an error,
// not a panic).
func TestPopStatementsPreparedOnFirstUse(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "First Use", Phones: []ringdesk.Phone{{Raw: "020 7946 0123"}}})
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for range 16 {
			wg.Go(func() {
				cs, err := db.LookupByPhone(ctx, "+442079460123")
				if err == nil && (len(cs) != 1 || cs[0].ID != c.ID) {
					err = fmt.Errorf("found %v", cs)
				}
				if err == nil {
					_, _, err = db.CustomerActivity(ctx, c.ID, 10)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LookupByPhone(ctx, "+442079460123"); err == nil {
		t.Error("LookupByPhone after Close: no error")
	}
}
