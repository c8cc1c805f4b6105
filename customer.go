package ringdesk

import (
	"context"
	"strings"
	"time"
)

// Customer statuses.
const (
	CustomerActive   = "active"
	CustomerInactive = "inactive"
	CustomerProspect = "prospect"
)

// Customer is a person or organisation that calls in or is called.
type Customer struct {
	ID            int64      `json:"id" db:"id"`
	Name          string     `json:"name" db:"name"`
	Company       string     `json:"company" db:"company"`
	Email         string     `json:"email" db:"email"`
	AccountNumber string     `json:"account_number" db:"account_number"`
	Status        string     `json:"status" db:"status"`
	Tags          []string   `json:"tags" db:"-"`
	Address       string     `json:"address" db:"address"`
	Notes         string     `json:"notes" db:"notes"`
	Phones        []Phone    `json:"phones" db:"-"`
	Version       int64      `json:"version" db:"version"`
	CreatedAt     time.Time  `json:"created_at" db:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at" db:"updated_at"`
	DeletedAt     *time.Time `json:"deleted_at,omitempty" db:"deleted_at"`
}

// Validate checks the fields a user supplies and normalises their spacing.
func (c *Customer) Validate() error {
	c.Name = strings.TrimSpace(c.Name)
	c.Company = strings.TrimSpace(c.Company)
	c.Email = strings.TrimSpace(c.Email)
	c.AccountNumber = strings.TrimSpace(c.AccountNumber)
	for _, f := range []struct{ name, v string }{{"name", c.Name}, {"company", c.Company}, {"email", c.Email},
		{"account number", c.AccountNumber}, {"address", c.Address}, {"notes", c.Notes}} {
		if !validText(f.v) {
			return Errorf(EINVALID, "Text is not valid UTF-8 (in the %s; save files as UTF-8).", f.name)
		}
	}
	if c.Name == "" && c.Company == "" {
		return Errorf(EINVALID, "A customer needs a name or a company.")
	}
	if len(c.Name) > 200 || len(c.Company) > 200 {
		return Errorf(EINVALID, "Name and company are limited to 200 characters.")
	}
	if c.Email != "" && (len(c.Email) > 254 || !strings.Contains(c.Email, "@") || strings.ContainsAny(c.Email, " \t\r\n<>")) {
		return Errorf(EINVALID, "Email %q is not an email address.", c.Email)
	}
	if len(c.AccountNumber) > 64 {
		return Errorf(EINVALID, "Account number is limited to 64 characters.")
	}
	switch c.Status {
	case "":
		c.Status = CustomerActive
	case CustomerActive, CustomerInactive, CustomerProspect:
	default:
		return Errorf(EINVALID, "Status %q is not one of active, inactive, prospect.", c.Status)
	}
	if len(c.Address) > MaxTextLen || len(c.Notes) > MaxTextLen {
		return Errorf(EINVALID, "Address and notes are limited to %d characters each.", MaxTextLen)
	}
	// Tags are kept once each, in the order given: an editor that adds a
	// tag twice should not fail.
	tags := make([]string, 0, len(c.Tags))
	seen := make(map[string]bool, len(c.Tags))
	for _, t := range c.Tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 64 || strings.Contains(t, ",") || !validText(t) {
			return Errorf(EINVALID, "Tag %q must be 1–64 characters without commas.", t)
		}
		if k := strings.ToLower(t); !seen[k] {
			seen[k] = true
			tags = append(tags, t)
		}
	}
	if len(strings.Join(tags, ",")) > MaxTagsLen {
		return Errorf(EINVALID, "Tags are limited to %d characters in all.", MaxTagsLen)
	}
	if c.Tags != nil {
		c.Tags = tags
	}
	if len(c.Phones) > 20 {
		return Errorf(EINVALID, "A customer has at most 20 phone numbers.")
	}
	return nil
}

// CustomerFilter selects customers in a search. Query matches the start of
// the name, company, email or account number, or, when it looks like a phone
// number, the start of a phone number in E.164.
type CustomerFilter struct {
	Query  string
	Offset int
	Limit  int
}

// CustomerUpdate changes some fields of a customer. Nil fields are left as
// they are. Version must be the version the caller read: a stale version is
// an ECONFLICT, never a silent overwrite.
type CustomerUpdate struct {
	Version       int64     `json:"version"`
	Name          *string   `json:"name,omitempty"`
	Company       *string   `json:"company,omitempty"`
	Email         *string   `json:"email,omitempty"`
	AccountNumber *string   `json:"account_number,omitempty"`
	Status        *string   `json:"status,omitempty"`
	Tags          *[]string `json:"tags,omitempty"`
	Address       *string   `json:"address,omitempty"`
	Notes         *string   `json:"notes,omitempty"`
	Phones        *[]Phone  `json:"phones,omitempty"`
}

// Apply copies the set fields of u onto c.
func (u CustomerUpdate) Apply(c *Customer) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Name, u.Name)
	set(&c.Company, u.Company)
	set(&c.Email, u.Email)
	set(&c.AccountNumber, u.AccountNumber)
	set(&c.Status, u.Status)
	set(&c.Address, u.Address)
	set(&c.Notes, u.Notes)
	if u.Tags != nil {
		c.Tags = append([]string(nil), (*u.Tags)...)
	}
	if u.Phones != nil {
		c.Phones = append([]Phone(nil), (*u.Phones)...)
	}
}

// HistoryItem is one entry of a customer's timeline: a call, a note or a case.
// Title is a call's direction, a case's subject, or empty for a note; Status
// is a call's state (with its disposition) or a case's status; Body is the
// call's or the note's text, or the case's description.
type HistoryItem struct {
	Kind   string    `json:"kind" db:"kind"` // "call", "note" or "case"
	ID     string    `json:"id" db:"id"`
	At     time.Time `json:"at" db:"at"`
	Title  string    `json:"title" db:"title"`
	Status string    `json:"status" db:"status"`
	Body   string    `json:"body" db:"body"`
	// Author is the user who took the call, wrote the note or owns the
	// case (display name, else login); empty when there is none.
	Author string `json:"author,omitempty" db:"author"`
}

// CustomerService keeps customer records.
type CustomerService interface {
	// FindCustomerByID returns a customer with its phones.
	// Returns ENOTFOUND if it does not exist or was deleted.
	FindCustomerByID(ctx context.Context, id int64) (*Customer, error)

	// FindCustomers returns one page of customers matching the filter in a
	// stable order (name, then id), and whether more follow.
	FindCustomers(ctx context.Context, filter CustomerFilter) (page []*Customer, more bool, err error)

	// LookupByPhone returns every live customer with a phone equal to the
	// normalised raw number: none, one, or several for a shared number.
	// A number that cannot be normalised matches nothing.
	LookupByPhone(ctx context.Context, raw string) ([]*Customer, error)

	// CreateCustomer validates and stores c, setting its ID, version and
	// timestamps. Returns EINVALID for bad fields, ECONFLICT for a taken
	// account number.
	CreateCustomer(ctx context.Context, c *Customer) error

	// UpdateCustomer applies upd to the customer. Returns ECONFLICT when
	// upd.Version is not the stored version, ENOTFOUND if it does not exist.
	UpdateCustomer(ctx context.Context, id int64, upd CustomerUpdate) (*Customer, error)

	// DeleteCustomer soft-deletes the customer. Returns ENOTFOUND if it does
	// not exist or was already deleted.
	DeleteCustomer(ctx context.Context, id int64) error

	// CustomerHistory returns the customer's calls, notes and cases, newest first.
	CustomerHistory(ctx context.Context, id int64, limit int) ([]HistoryItem, error)

	// CustomerActivity returns what a screen-pop or a desk card shows
	// beside the record, read together: CustomerHistory's items and the
	// open and pending cases, newest first.
	CustomerActivity(ctx context.Context, id int64, limit int) ([]HistoryItem, []Case, error)

	// CreateNote adds a note to a customer. Returns EINVALID, ENOTFOUND.
	CreateNote(ctx context.Context, n *Note) error
	// CreateCase opens a case for a customer. Returns EINVALID, ENOTFOUND.
	CreateCase(ctx context.Context, c *Case) error

	// The record's cases and notes (records.go).
	RecordService
	// Bulk import from CSV (records.go).
	CustomerImporter
}

// Note is a free-text note on a customer record, optionally from a call.
type Note struct {
	ID         int64     `json:"id" db:"id"`
	CustomerID int64     `json:"customer_id" db:"customer_id"`
	CallID     string    `json:"call_id,omitempty" db:"call_id"`
	AuthorID   int64     `json:"author_id,omitempty" db:"author_id"`
	Body       string    `json:"body" db:"body"`
	CreatedAt  time.Time `json:"created_at" db:"created_at"`
}

// Validate checks a note's text and trims its spacing.
func (n *Note) Validate() error {
	n.Body = strings.TrimSpace(n.Body)
	if n.Body == "" || len(n.Body) > MaxTextLen || !validText(n.Body) {
		return Errorf(EINVALID, "A note needs text (at most %d characters).", MaxTextLen)
	}
	if n.CustomerID <= 0 {
		return Errorf(EINVALID, "A note belongs to a customer.")
	}
	if len(n.CallID) > 36 {
		return Errorf(EINVALID, "Call ID %q is not a call ID.", n.CallID)
	}
	return nil
}

// Case statuses and priorities.
const (
	CaseOpen    = "open"
	CasePending = "pending"
	CaseClosed  = "closed"
)

// Case is a customer's issue that outlives one call.
type Case struct {
	ID          int64      `json:"id" db:"id"`
	CustomerID  int64      `json:"customer_id" db:"customer_id"`
	CallID      string     `json:"call_id,omitempty" db:"call_id"`
	Subject     string     `json:"subject" db:"subject"`
	Description string     `json:"description" db:"description"`
	Status      string     `json:"status" db:"status"`
	Priority    string     `json:"priority" db:"priority"`
	OwnerID     int64      `json:"owner_id,omitempty" db:"owner_id"`
	Version     int64      `json:"version" db:"version"`
	CreatedAt   time.Time  `json:"created_at" db:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at" db:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty" db:"closed_at"`
}

// Validate checks a case's fields and fills defaults.
func (c *Case) Validate() error {
	c.Subject = strings.TrimSpace(c.Subject)
	if c.Subject == "" || len(c.Subject) > 200 {
		return Errorf(EINVALID, "A case needs a subject of 1–200 characters.")
	}
	if !validText(c.Subject) || !validText(c.Description) {
		return Errorf(EINVALID, "A case's subject and description must be valid UTF-8 text.")
	}
	if len(c.Description) > MaxTextLen {
		return Errorf(EINVALID, "A case's description is limited to %d characters.", MaxTextLen)
	}
	if c.CustomerID <= 0 {
		return Errorf(EINVALID, "A case belongs to a customer.")
	}
	if len(c.CallID) > 36 {
		return Errorf(EINVALID, "Call ID %q is not a call ID.", c.CallID)
	}
	switch c.Status {
	case "":
		c.Status = CaseOpen
	case CaseOpen, CasePending, CaseClosed:
	default:
		return Errorf(EINVALID, "Case status %q is not one of open, pending, closed.", c.Status)
	}
	switch c.Priority {
	case "":
		c.Priority = "normal"
	case "low", "normal", "high", "urgent":
	default:
		return Errorf(EINVALID, "Case priority %q is not one of low, normal, high, urgent.", c.Priority)
	}
	return nil
}
