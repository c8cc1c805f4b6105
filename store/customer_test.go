package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

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
