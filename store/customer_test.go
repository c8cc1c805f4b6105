package store_test

import (
	"context"
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
