package ringdesk

import (
	"context"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a record's free-text fields, in bytes: what their TEXT and
// VARCHAR columns hold, so an oversized value is a clear EINVALID rather
// than a database error.
const (
	MaxTextLen = 65535 // notes.body, cases.description, customers.address and notes
	MaxTagsLen = 2000  // customers.tags, the tags joined by commas
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

// ImportRowError is a CSV row that was not imported: its line in the file
// and why.
type ImportRowError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportReport tells what a CSV import did: data rows read, and each row
// Created, Unchanged (already stored) or Failed, with the failed rows'
// lines and reasons (the first MaxErrors of them; MoreErrors counts the rest).
type ImportReport struct {
	Rows           int              `json:"rows"`
	Created        int              `json:"created"`
	Unchanged      int              `json:"unchanged"`
	Failed         int              `json:"failed"`
	IgnoredColumns []string         `json:"ignored_columns"`
	Errors         []ImportRowError `json:"errors"`
	MoreErrors     int              `json:"more_errors"`
	Duration       time.Duration    `json:"duration_ns"`
}

// ImportOptions tune ImportCustomers.
type ImportOptions struct {
	// Mapping maps CSV header names to customer fields (see the CLI's
	// ringdesk import --map); nil recognises the usual names.
	Mapping map[string]string
	// MaxErrors bounds the row errors kept in the report; default 1000.
	MaxErrors int
}

// CustomerImporter imports customers from CSV: the importer of the CLI
// (ringdesk import), for the web's import page.
type CustomerImporter interface {
	// ImportCustomers reads CSV from r and stores the new customers; a
	// re-import changes nothing. Bad rows are reported by line and skipped.
	// Returns EINVALID (with nothing changed) for a file it cannot use at
	// all, such as one without a name or company column; on a database
	// failure, the error with the report so far.
	ImportCustomers(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportReport, error)
}

// validText reports whether s is valid UTF-8 without NUL bytes: MySQL
// refuses the one and browsers mangle the other.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
