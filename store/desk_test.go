package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestDeskCallLinkAndWrapUp(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	c := mustCreate(t, db, &ringdesk.Customer{Name: "Ada", Phones: []ringdesk.Phone{{Raw: "020 7946 0123"}}})
	call := &ringdesk.Call{ID: "0192b6a0-0000-7000-8000-000000000001", Direction: ringdesk.Inbound, CallerE164: "+442079460123",
		State: ringdesk.CallStateEnded, OfferedAt: time.Now().UTC()}
	if err := db.CreateCall(ctx, call); err != nil {
		t.Fatal(err)
	}

	t.Run("Link", func(t *testing.T) {
		if err := db.LinkCallCustomer(ctx, call.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindCallByID(ctx, call.ID)
		if err != nil || got.CustomerID != c.ID {
			t.Fatalf("call = %+v, %v", got, err)
		}
	})
	t.Run("LinkUnknown", func(t *testing.T) {
		if err := db.LinkCallCustomer(ctx, call.ID, c.ID+1000); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Errorf("unknown customer: %v", err)
		}
		if err := db.LinkCallCustomer(ctx, "no-such-call", c.ID); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Errorf("unknown call: %v", err)
		}
	})
	t.Run("WrapUpOnTheTimeline", func(t *testing.T) {
		w := ringdesk.WrapUp{Disposition: "resolved", Notes: "Asked about <b>invoices</b>"}
		if err := db.SaveWrapUp(ctx, call.ID, w); err != nil {
			t.Fatal(err)
		}
		// Twice is fine (no change is not a missing row).
		if err := db.SaveWrapUp(ctx, call.ID, w); err != nil {
			t.Fatal(err)
		}
		h, err := db.CustomerHistory(ctx, c.ID, 10)
		if err != nil || len(h) != 1 || h[0].Status != "ended: resolved" || h[0].Body != w.Notes {
			t.Fatalf("history = %+v, %v", h, err)
		}
		if err := db.SaveWrapUp(ctx, "no-such-call", w); ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Errorf("unknown call: %v", err)
		}
	})
}

func TestWrapUpValidate(t *testing.T) {
	list := []string{"resolved", "callback"}
	for _, tt := range []struct {
		name string
		w    ringdesk.WrapUp
		ok   bool
	}{
		{"DispositionOnly", ringdesk.WrapUp{Disposition: " resolved "}, true},
		{"NotesOnly", ringdesk.WrapUp{Notes: "rang back"}, true},
		{"Nothing", ringdesk.WrapUp{Notes: "  "}, false},
		{"UnknownDisposition", ringdesk.WrapUp{Disposition: "sold-a-llama"}, false},
		{"LongNotes", ringdesk.WrapUp{Notes: string(make([]byte, ringdesk.MaxCallNotesLen+1))}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate(list)
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestLookupByPhoneOffersLastChoiceFirst: a shared number's candidates come
// with the customer last picked for a call from that number first.
func TestLookupByPhoneOffersLastChoiceFirst(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	a := mustCreate(t, db, &ringdesk.Customer{Name: "A", Phones: []ringdesk.Phone{{Raw: "020 7946 0999"}}})
	b := mustCreate(t, db, &ringdesk.Customer{Name: "B", Phones: []ringdesk.Phone{{Raw: "020 7946 0999"}}})
	order := func() []int64 {
		cs, err := db.LookupByPhone(ctx, "020 7946 0999")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		return ids
	}
	if got := order(); len(got) != 2 || got[0] != a.ID {
		t.Fatalf("before any pick: %v, want %d first", got, a.ID)
	}
	at := time.Now().UTC()
	for i, pick := range []int64{b.ID, a.ID, b.ID} {
		id := "0192b6a0-0000-7000-8000-00000000010" + string(rune('0'+i))
		if err := db.CreateCall(ctx, &ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerE164: "+442079460999",
			State: ringdesk.CallStateEnded, OfferedAt: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := db.LinkCallCustomer(ctx, id, pick); err != nil {
			t.Fatal(err)
		}
		if got := order(); got[0] != pick {
			t.Fatalf("after picking %d: %v", pick, got)
		}
	}
}
