package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

// BenchmarkLookupByPhoneShared compares a lookup that finds one customer
// (one query) with one of a number three customers share, which also reads
// the last choice from the calls index: 10,000 calls logged from that
// number against the three, and 10,000 from other numbers.
//
//	go test -run '^$' -bench BenchmarkLookupByPhoneShared -benchtime 5000x ./store/
func BenchmarkLookupByPhoneShared(b *testing.B) {
	db := storetest.MustOpenDB(b, "GB")
	ctx := context.Background()
	var shared []int64
	for i := range 3 {
		c := &ringdesk.Customer{Name: fmt.Sprint("Shared ", i), Phones: []ringdesk.Phone{{Raw: "020 7946 0500"}}}
		if err := db.CreateCustomer(ctx, c); err != nil {
			b.Fatal(err)
		}
		shared = append(shared, c.ID)
	}
	solo := &ringdesk.Customer{Name: "Solo", Phones: []ringdesk.Phone{{Raw: "020 7946 0600"}}}
	if err := db.CreateCustomer(ctx, solo); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().UTC().Add(-24 * time.Hour)
	for i := range 20_000 {
		c := &ringdesk.Call{ID: fmt.Sprintf("bench-%06d", i), Direction: ringdesk.Inbound, OfferedAt: t0.Add(time.Duration(i) * time.Second)}
		if i%2 == 0 {
			c.CallerE164, c.CustomerID = "+442079460500", shared[i%3]
		} else {
			c.CallerE164 = fmt.Sprintf("+4477009%05d", i)
		}
		if err := db.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name, number string
		want         int
	}{{"One", "020 7946 0600", 1}, {"Shared3", "020 7946 0500", 3}} {
		b.Run(bc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				cs, err := db.LookupByPhone(ctx, bc.number)
				lat = append(lat, time.Since(t))
				if err != nil || len(cs) != bc.want {
					b.Fatalf("%d customers, %v", len(cs), err)
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}
