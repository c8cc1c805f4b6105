package ringdesk

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Limits of the free-text parts of a record, in bytes, below what their
// TEXT columns hold, so an oversized value is a clear EINVALID rather than
// a database error.
const (
	MaxNoteLen        = 60000
	MaxDescriptionLen = 60000
	MaxAddressLen     = 2000
	MaxCustomerNotes  = 60000
	// MaxTags bounds the tags of one customer; together they must fit the
	// 2,000-byte tags column.
	MaxTags = 50
)

// CaseUpdate changes some fields of a case. Nil fields are left as they
// are. Version must be the version the caller read: a stale version is an
// ECONFLICT and changes nothing. Setting Status to CaseClosed closes the
// case (its ClosedAt is set); setting it back to open or pending reopens it.
type CaseUpdate struct {
	Version     int64   `json:"version"`
	Subject     *string `json:"subject,omitempty"`
	Description *string `json:"description,omitempty"`
	Status      *string `json:"status,omitempty"`
	Priority    *string `json:"priority,omitempty"`
	OwnerID     *int64  `json:"owner_id,omitempty"`
}

// Apply copies the set fields of u onto c.
func (u CaseUpdate) Apply(c *Case) {
	if u.Subject != nil {
		c.Subject = *u.Subject
	}
	if u.Description != nil {
		c.Description = *u.Description
	}
	if u.Status != nil {
		c.Status = *u.Status
	}
	if u.Priority != nil {
		c.Priority = *u.Priority
	}
	if u.OwnerID != nil {
		c.OwnerID = *u.OwnerID
	}
}

// RecordService keeps the parts of a customer record beyond the customer
// row: its cases and its notes. Creating them is on CustomerService.
type RecordService interface {
	// FindCaseByID returns one case. Returns ENOTFOUND.
	FindCaseByID(ctx context.Context, id int64) (*Case, error)

	// FindCustomerCases returns a customer's cases, open and pending ones
	// first, each group newest first; at most limit (default 50).
	FindCustomerCases(ctx context.Context, customerID int64, limit int) ([]Case, error)

	// UpdateCase applies upd to the case and returns it as stored.
	// Returns EINVALID for bad fields, ENOTFOUND, and ECONFLICT when
	// upd.Version is not the stored version (nothing is changed then).
	UpdateCase(ctx context.Context, id int64, upd CaseUpdate) (*Case, error)

	// CloseCase closes the case read at version. Closing a closed case is
	// not an error. Returns ENOTFOUND, ECONFLICT as UpdateCase.
	CloseCase(ctx context.Context, id int64, version int64) (*Case, error)

	// FindNotes returns a customer's notes, newest first; at most limit
	// (default 50). Returns ENOTFOUND for an unknown customer.
	FindNotes(ctx context.Context, customerID int64, limit int) ([]Note, error)
}

// validText reports whether s is valid UTF-8 without NUL bytes: MySQL
// refuses the one and browsers mangle the other.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
