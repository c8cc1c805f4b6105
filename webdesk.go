package ringdesk

import (
	"context"
	"strings"
)

// DeskCallService is what the agent desk does with the call in hand: link
// it to the customer the agent picked or created, and save its wrap-up.
// store.DB implements it.
type DeskCallService interface {
	// FindCallByID returns ENOTFOUND for an unknown call.
	FindCallByID(ctx context.Context, id string) (*Call, error)
	// LinkCallCustomer logs the call against the customer (a shared
	// number's pick, or a customer just created from the pop); the next
	// call from the same number offers that customer first. Returns
	// ENOTFOUND for an unknown call or a missing or deleted customer.
	LinkCallCustomer(ctx context.Context, callID string, customerID int64) error
	// SaveWrapUp stores the call's disposition and notes (see WrapUp).
	// Returns EINVALID, ENOTFOUND.
	SaveWrapUp(ctx context.Context, callID string, w WrapUp) error
}

// WrapUp is what an agent records after a call.
type WrapUp struct {
	Disposition string `json:"disposition"`
	Notes       string `json:"notes"`
}

// Limits of a wrap-up's fields (the calls table's columns).
const (
	MaxDispositionLen = 64
	MaxCallNotesLen   = 16000
)

// Validate checks a wrap-up against the configured dispositions and trims
// its spacing. An empty disposition is allowed only with notes.
func (w *WrapUp) Validate(dispositions []string) error {
	w.Disposition = strings.TrimSpace(w.Disposition)
	w.Notes = strings.TrimSpace(w.Notes)
	if w.Disposition == "" && w.Notes == "" {
		return Errorf(EINVALID, "Pick a disposition or write a note.")
	}
	if w.Disposition != "" {
		ok := false
		for _, d := range dispositions {
			ok = ok || d == w.Disposition
		}
		if !ok {
			return Errorf(EINVALID, "Disposition %q is not one of: %s.", w.Disposition, strings.Join(dispositions, ", "))
		}
	}
	if len(w.Disposition) > MaxDispositionLen {
		return Errorf(EINVALID, "A disposition is limited to %d characters.", MaxDispositionLen)
	}
	if len(w.Notes) > MaxCallNotesLen {
		return Errorf(EINVALID, "Call notes are limited to %d characters.", MaxCallNotesLen)
	}
	return nil
}
