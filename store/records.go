package store

import (
	"context"
	"fmt"
	"io"

	"github.com/jmoiron/sqlx"

	"github.com/ringdesk/ringdesk"
)

var _ ringdesk.RecordService = (*DB)(nil)

const caseColumns = `id, customer_id, COALESCE(call_id, '') AS call_id, subject, description, status, priority,
	COALESCE(owner_id, 0) AS owner_id, version, created_at, updated_at, closed_at`

// FindCaseByID returns one case.
func (db *DB) FindCaseByID(ctx context.Context, id int64) (*ringdesk.Case, error) {
	var c ringdesk.Case
	if err := db.db.GetContext(ctx, &c, `SELECT `+caseColumns+` FROM cases WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("find case %d: %w", id, formatError(err, "Case"))
	}
	return &c, nil
}

// FindCustomerCases returns a customer's cases, open and pending first.
func (db *DB) FindCustomerCases(ctx context.Context, customerID int64, limit int) ([]ringdesk.Case, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	cases := []ringdesk.Case{}
	if err := db.db.SelectContext(ctx, &cases, `SELECT `+caseColumns+` FROM cases WHERE customer_id = ?
		ORDER BY status = 'closed', created_at DESC, id DESC LIMIT ?`, customerID, limit); err != nil {
		return nil, fmt.Errorf("find cases of customer %d: %w", customerID, err)
	}
	return cases, nil
}

// UpdateCase applies upd when upd.Version is the stored version. The row
// is locked while it is checked, so of two agents saving the same version
// one wins and the other gets ECONFLICT.
func (db *DB) UpdateCase(ctx context.Context, id int64, upd ringdesk.CaseUpdate) (*ringdesk.Case, error) {
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update case %d: %w", id, err)
	}
	defer tx.Rollback()
	c, err := db.updateCase(ctx, tx, id, upd)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update case %d: %w", id, err)
	}
	return c, nil
}

func (db *DB) updateCase(ctx context.Context, tx *sqlx.Tx, id int64, upd ringdesk.CaseUpdate) (*ringdesk.Case, error) {
	var c ringdesk.Case
	if err := tx.GetContext(ctx, &c, `SELECT `+caseColumns+` FROM cases WHERE id = ? FOR UPDATE`, id); err != nil {
		return nil, fmt.Errorf("update case %d: %w", id, formatError(err, "Case"))
	}
	if c.Version != upd.Version {
		return nil, ringdesk.Errorf(ringdesk.ECONFLICT,
			"This case was changed by someone else since you opened it (your version %d, now %d). Reload to see their change.",
			upd.Version, c.Version)
	}
	if upd.OwnerID != nil && *upd.OwnerID < 0 {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Owner %d is not a user.", *upd.OwnerID)
	}
	wasClosed := c.Status == ringdesk.CaseClosed
	upd.Apply(&c)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	now := db.Now()
	switch closed := c.Status == ringdesk.CaseClosed; {
	case closed && !wasClosed:
		c.ClosedAt = &now
	case !closed:
		c.ClosedAt = nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE cases SET subject = ?, description = ?, status = ?, priority = ?,
		owner_id = ?, closed_at = ?, version = version + 1, updated_at = ? WHERE id = ?`,
		c.Subject, c.Description, c.Status, c.Priority, nullInt(c.OwnerID), nullTime(c.ClosedAt), now, id)
	if err != nil {
		return nil, fmt.Errorf("update case %d: %w", id, err)
	}
	c.Version++
	c.UpdatedAt = now
	return &c, nil
}

// CloseCase closes a case read at version.
func (db *DB) CloseCase(ctx context.Context, id int64, version int64) (*ringdesk.Case, error) {
	closed := ringdesk.CaseClosed
	return db.UpdateCase(ctx, id, ringdesk.CaseUpdate{Version: version, Status: &closed})
}

// FindNotes returns a live customer's notes, newest first.
func (db *DB) FindNotes(ctx context.Context, customerID int64, limit int) ([]ringdesk.Note, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if err := db.customerExists(ctx, customerID); err != nil {
		return nil, err
	}
	notes := []ringdesk.Note{}
	if err := db.db.SelectContext(ctx, &notes, `SELECT id, customer_id, COALESCE(call_id, '') AS call_id,
		COALESCE(author_id, 0) AS author_id, body, created_at FROM notes WHERE customer_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, customerID, limit); err != nil {
		return nil, fmt.Errorf("find notes of customer %d: %w", customerID, err)
	}
	return notes, nil
}

// ImportCustomers runs Import, the CLI's importer, collecting the row
// errors for a report.
func (db *DB) ImportCustomers(ctx context.Context, r io.Reader, opts ringdesk.ImportOptions) (*ringdesk.ImportReport, error) {
	maxErrors := opts.MaxErrors
	if maxErrors <= 0 {
		maxErrors = 1000
	}
	rep := &ringdesk.ImportReport{Errors: []ringdesk.ImportRowError{}}
	sum, err := db.Import(ctx, r, ImportOptions{Mapping: opts.Mapping, OnError: func(e RowError) {
		if len(rep.Errors) < maxErrors {
			rep.Errors = append(rep.Errors, ringdesk.ImportRowError{Line: e.Line, Reason: e.Reason})
		} else {
			rep.MoreErrors++
		}
	}})
	rep.Rows, rep.Created, rep.Unchanged, rep.Failed = sum.Rows, sum.Created, sum.Unchanged, sum.Failed
	rep.IgnoredColumns, rep.Duration = sum.IgnoredColumns, sum.Duration
	if rep.IgnoredColumns == nil {
		rep.IgnoredColumns = []string{}
	}
	if err != nil {
		return rep, fmt.Errorf("import customers: %w", err)
	}
	return rep, nil
}
