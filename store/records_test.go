package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func TestUpdateCase(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	cust := mustCreate(t, db, &ringdesk.Customer{Name: "Ada Lovelace"})
	k := &ringdesk.Case{CustomerID: cust.ID, Subject: "Engine jammed", Description: "Gear 4"}
	if err := db.CreateCase(ctx, k); err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got, err := db.UpdateCase(ctx, k.ID, ringdesk.CaseUpdate{Version: 1, Subject: ptr("Engine jammed again"),
			Priority: ptr("high"), Status: ptr(ringdesk.CasePending)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Subject != "Engine jammed again" || got.Priority != "high" ||
			got.Status != ringdesk.CasePending || got.Description != "Gear 4" || got.ClosedAt != nil {
			t.Fatalf("after update: %+v", got)
		}
		stored, err := db.FindCaseByID(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Version != 2 || stored.Subject != got.Subject || stored.Status != got.Status {
			t.Fatalf("stored %+v, returned %+v", stored, got)
		}
	})

	before, err := db.FindCaseByID(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		upd  ringdesk.CaseUpdate
		code string
	}{
		{"StaleVersion", ringdesk.CaseUpdate{Version: 1, Subject: ptr("overwrite")}, ringdesk.ECONFLICT},
		{"FutureVersion", ringdesk.CaseUpdate{Version: 9, Subject: ptr("overwrite")}, ringdesk.ECONFLICT},
		{"EmptySubject", ringdesk.CaseUpdate{Version: 2, Subject: ptr("  ")}, ringdesk.EINVALID},
		{"LongSubject", ringdesk.CaseUpdate{Version: 2, Subject: ptr(strings.Repeat("x", 201))}, ringdesk.EINVALID},
		{"BadStatus", ringdesk.CaseUpdate{Version: 2, Status: ptr("solved")}, ringdesk.EINVALID},
		{"BadPriority", ringdesk.CaseUpdate{Version: 2, Priority: ptr("asap")}, ringdesk.EINVALID},
		{"BadUTF8", ringdesk.CaseUpdate{Version: 2, Description: ptr("a\xffb")}, ringdesk.EINVALID},
		{"LongDescription", ringdesk.CaseUpdate{Version: 2, Description: ptr(strings.Repeat("x", ringdesk.MaxTextLen+1))}, ringdesk.EINVALID},
		{"NegativeOwner", ringdesk.CaseUpdate{Version: 2, OwnerID: ptr(int64(-1))}, ringdesk.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.UpdateCase(ctx, k.ID, tt.upd)
			if got := ringdesk.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
			if ringdesk.ErrorMessage(err) == "" {
				t.Error("no message for the user")
			}
			after, err := db.FindCaseByID(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused update changed the case:\n%+v\n%+v", before, after)
			}
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		if _, err := db.UpdateCase(ctx, k.ID+100, ringdesk.CaseUpdate{Version: 1}); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Fatalf("err = %v, want ENOTFOUND", err)
		}
	})

	t.Run("CloseAndReopen", func(t *testing.T) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		db.Now = func() time.Time { return now }
		defer func() { db.Now = func() time.Time { return time.Now().UTC() } }()
		closed, err := db.CloseCase(ctx, k.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if closed.Status != ringdesk.CaseClosed || closed.ClosedAt == nil || !closed.ClosedAt.Equal(now) || closed.Version != 3 {
			t.Fatalf("closed: %+v", closed)
		}
		stored, _ := db.FindCaseByID(ctx, k.ID)
		if stored.ClosedAt == nil || !stored.ClosedAt.Equal(now) {
			t.Fatalf("stored closed_at %v, want %v", stored.ClosedAt, now)
		}
		if _, err := db.CloseCase(ctx, k.ID, 2); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT {
			t.Fatalf("closing with a stale version: %v, want ECONFLICT", err)
		}
		reopened, err := db.UpdateCase(ctx, k.ID, ringdesk.CaseUpdate{Version: 3, Status: ptr(ringdesk.CaseOpen)})
		if err != nil {
			t.Fatal(err)
		}
		if reopened.ClosedAt != nil || reopened.Status != ringdesk.CaseOpen {
			t.Fatalf("reopened: %+v", reopened)
		}
		if stored, _ := db.FindCaseByID(ctx, k.ID); stored.ClosedAt != nil {
			t.Fatalf("stored closed_at %v after reopening, want none", stored.ClosedAt)
		}
	})
}

func TestFindCustomerCasesAndNotes(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	cust := mustCreate(t, db, &ringdesk.Customer{Name: "Ada Lovelace"})
	other := mustCreate(t, db, &ringdesk.Customer{Name: "Charles Babbage"})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, k := range []ringdesk.Case{{Subject: "a"}, {Subject: "b", Status: ringdesk.CaseClosed}, {Subject: "c", Status: ringdesk.CasePending},
		{Subject: "d", Status: ringdesk.CaseClosed}} {
		db.Now = func() time.Time { return start.Add(time.Duration(i) * time.Minute) }
		k.CustomerID = cust.ID
		if err := db.CreateCase(ctx, &k); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateCase(ctx, &ringdesk.Case{CustomerID: other.ID, Subject: "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	cases, err := db.FindCustomerCases(ctx, cust.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, k := range cases {
		subjects = append(subjects, k.Subject)
	}
	if got, want := strings.Join(subjects, ","), "c,a,d,b"; got != want {
		t.Errorf("cases %s, want %s (open and pending first, newest first)", got, want)
	}

	for i, body := range []string{"first", "second", "third"} {
		db.Now = func() time.Time { return start.Add(time.Duration(i) * time.Minute) }
		if err := db.CreateNote(ctx, &ringdesk.Note{CustomerID: cust.ID, Body: "  " + body + "\n", AuthorID: 7}); err != nil {
			t.Fatal(err)
		}
	}
	notes, err := db.FindNotes(ctx, cust.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].Body != "third" || notes[1].Body != "second" || notes[0].AuthorID != 7 {
		t.Errorf("notes %+v, want third then second, trimmed, with the author", notes)
	}
	if _, err := db.FindNotes(ctx, cust.ID+100, 0); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		t.Errorf("notes of an unknown customer: %v, want ENOTFOUND", err)
	}
	for _, tt := range []struct {
		name string
		n    ringdesk.Note
		code string
	}{
		{"Empty", ringdesk.Note{CustomerID: cust.ID, Body: " \n "}, ringdesk.EINVALID},
		{"TooLong", ringdesk.Note{CustomerID: cust.ID, Body: strings.Repeat("x", ringdesk.MaxTextLen+1)}, ringdesk.EINVALID},
		{"BadUTF8", ringdesk.Note{CustomerID: cust.ID, Body: "\xc3\x28"}, ringdesk.EINVALID},
		{"NUL", ringdesk.Note{CustomerID: cust.ID, Body: "a\x00b"}, ringdesk.EINVALID},
		{"NoCustomer", ringdesk.Note{Body: "x"}, ringdesk.EINVALID},
		{"UnknownCustomer", ringdesk.Note{CustomerID: cust.ID + 100, Body: "x"}, ringdesk.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.CreateNote(ctx, &tt.n); ringdesk.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if notes, _ := db.FindNotes(ctx, cust.ID, 0); len(notes) != 3 {
		t.Errorf("%d notes after refused ones, want 3", len(notes))
	}
}

func TestCustomerEditTagsAndPhones(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Grace Hopper", Tags: []string{"navy"},
		Phones: []ringdesk.Phone{{Label: "work", Raw: "020 7946 0001"}}})

	got, err := db.UpdateCustomer(ctx, c.ID, ringdesk.CustomerUpdate{Version: 1,
		Tags: &[]string{" vip ", "navy", "VIP", "cobol"},
		Phones: &[]ringdesk.Phone{{Label: "mobile", Raw: "07911 123456"}, {Label: "home", Raw: "020 7946 0002"},
			{Label: "fax", Raw: "020 7946 0003"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vip", "navy", "cobol"}; !reflect.DeepEqual(got.Tags, want) {
		t.Errorf("tags %q, want %q (trimmed, each once)", got.Tags, want)
	}
	stored, err := db.FindCustomerByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, p := range stored.Phones {
		labels = append(labels, p.Label+"="+p.E164)
	}
	if got, want := strings.Join(labels, " "), "mobile=+447911123456 home=+442079460002 fax=+442079460003"; got != want {
		t.Errorf("phones %s, want %s", got, want)
	}
	if !reflect.DeepEqual(stored.Tags, got.Tags) {
		t.Errorf("stored tags %q, returned %q", stored.Tags, got.Tags)
	}

	manyTags := make([]string, 40) // each valid, too long together
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("%060d", i)
	}
	manyPhones := make([]ringdesk.Phone, 21)
	for i := range manyPhones {
		manyPhones[i] = ringdesk.Phone{Raw: fmt.Sprintf("020 7946 %04d", i)}
	}
	for _, tt := range []struct {
		name string
		upd  ringdesk.CustomerUpdate
	}{
		{"TagWithComma", ringdesk.CustomerUpdate{Tags: &[]string{"a,b"}}},
		{"EmptyTag", ringdesk.CustomerUpdate{Tags: &[]string{"ok", " "}}},
		{"TooManyTags", ringdesk.CustomerUpdate{Tags: &manyTags}},
		{"LongLabel", ringdesk.CustomerUpdate{Phones: &[]ringdesk.Phone{{Label: strings.Repeat("l", 33), Raw: "020 7946 0009"}}}},
		{"EmptyPhone", ringdesk.CustomerUpdate{Phones: &[]ringdesk.Phone{{Label: "x", Raw: ""}}}},
		{"TooManyPhones", ringdesk.CustomerUpdate{Phones: &manyPhones}},
		{"BadUTF8Label", ringdesk.CustomerUpdate{Phones: &[]ringdesk.Phone{{Label: "\xff", Raw: "020 7946 0009"}}}},
		{"BadUTF8Name", ringdesk.CustomerUpdate{Name: ptr("Gr\xe0ce")}},
		{"LongAddress", ringdesk.CustomerUpdate{Address: ptr(strings.Repeat("a", ringdesk.MaxTextLen+1))}},
		{"BadEmail", ringdesk.CustomerUpdate{Email: ptr("grace at navy")}},
		{"LongExtension", ringdesk.CustomerUpdate{Phones: &[]ringdesk.Phone{{Raw: "020 7946 0000 ext 1234567890123456789"}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.upd.Version = 2
			_, err := db.UpdateCustomer(ctx, c.ID, tt.upd)
			if ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			after, err := db.FindCustomerByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, stored) {
				t.Fatalf("a refused update changed the customer:\n%+v\n%+v", stored, after)
			}
		})
	}
}

// TestLookupByPhoneLastChoice: a shared number lists first the customer
// whose call from that number was logged last.
func TestLookupByPhoneLastChoice(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	const shared = "020 7946 0500"
	var ids []int64
	for _, name := range []string{"Alice", "Bob", "Carol"} {
		c := mustCreate(t, db, &ringdesk.Customer{Name: name, Phones: []ringdesk.Phone{{Label: "switchboard", Raw: shared}}})
		ids = append(ids, c.ID)
	}
	solo := mustCreate(t, db, &ringdesk.Customer{Name: "Dave", Phones: []ringdesk.Phone{{Raw: "020 7946 0600"}}})
	names := map[int64]string{ids[0]: "Alice", ids[1]: "Bob", ids[2]: "Carol", solo.ID: "Dave"}

	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	logCall := func(caller string, customerID int64, at time.Duration) {
		t.Helper()
		n++
		c := &ringdesk.Call{ID: fmt.Sprintf("call-%d", n), Direction: ringdesk.Inbound, CallerRaw: caller,
			CallerE164: db.Normalizer().Normalize(caller).E164, CustomerID: customerID, OfferedAt: t0.Add(at)}
		if err := db.CreateCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	order := func(raw string) string {
		t.Helper()
		cs, err := db.LookupByPhone(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, names[c.ID])
		}
		return strings.Join(out, ",")
	}

	for _, tt := range []struct {
		name string
		log  func()
		want string
	}{
		{"NoCallsByID", func() {}, "Alice,Bob,Carol"},
		{"UnlinkedCallChangesNothing", func() { logCall(shared, 0, 0) }, "Alice,Bob,Carol"},
		{"CallFromAnotherNumberChangesNothing", func() { logCall("020 7946 0999", ids[2], time.Hour) }, "Alice,Bob,Carol"},
		{"ChosenOnceFirst", func() { logCall(shared, ids[1], time.Minute) }, "Bob,Alice,Carol"},
		{"LatestChoiceFirstThenEarlierChoices", func() { logCall(shared, ids[2], 2*time.Minute) }, "Carol,Bob,Alice"},
		{"OlderCallLoggedLaterDoesNotWin", func() { logCall(shared, ids[0], 30*time.Second) }, "Carol,Bob,Alice"},
		{"BackToAnEarlierChoice", func() { logCall(shared, ids[1], 3*time.Minute) }, "Bob,Carol,Alice"},
		{"DeletedCustomerLeftOut", func() {
			if err := db.DeleteCustomer(ctx, ids[1]); err != nil {
				t.Fatal(err)
			}
		}, "Carol,Alice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.log()
			if got := order(shared); got != tt.want {
				t.Fatalf("order %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("SingleMatch", func(t *testing.T) {
		logCall("020 7946 0600", solo.ID, 0)
		if got := order("02079460600"); got != "Dave" {
			t.Fatalf("got %s, want Dave", got)
		}
	})
}

func TestImportCustomers(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	file := "name,email,phone,account_number,shoe size\n" +
		"Ada Lovelace,ada@example.com,020 7946 0001,A-1,5\n" +
		",nobody@example.com,,A-2,6\n" +
		"Bad Mail,not-an-email,,A-3,7\n" +
		"Grace Hopper,grace@example.com,07700 900123,A-4,8\n"
	rep, err := db.ImportCustomers(ctx, strings.NewReader(file), ringdesk.ImportOptions{MaxErrors: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 4 || rep.Created != 2 || rep.Failed != 2 || rep.Unchanged != 0 {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Line != 3 || rep.MoreErrors != 1 {
		t.Fatalf("errors %+v (+%d), want line 3 kept and one more counted", rep.Errors, rep.MoreErrors)
	}
	if !reflect.DeepEqual(rep.IgnoredColumns, []string{"shoe size"}) {
		t.Errorf("ignored columns %q", rep.IgnoredColumns)
	}
	// The same importer as the CLI: a second run changes nothing.
	rep, err = db.ImportCustomers(ctx, strings.NewReader(file), ringdesk.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 0 || rep.Unchanged != 2 || len(rep.Errors) != 2 || rep.Errors[1].Line != 4 {
		t.Fatalf("second run %+v", rep)
	}
	// A file it cannot use is EINVALID and stores nothing.
	if _, err := db.ImportCustomers(ctx, strings.NewReader("email,phone\nx@example.com,1\n"), ringdesk.ImportOptions{}); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("no name column: %v, want EINVALID", err)
	}
}
