package store

import (
	"context"
	"fmt"

	"github.com/ringdesk/ringdesk"
)

// FindOpenCases returns a customer's cases that are not closed, newest
// first, for the screen-pop.
func (db *DB) FindOpenCases(ctx context.Context, customerID int64, limit int) ([]ringdesk.Case, error) {
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	cases := []ringdesk.Case{}
	if err := db.db.SelectContext(ctx, &cases, `SELECT id, customer_id, COALESCE(call_id, '') AS call_id, subject,
		description, status, priority, COALESCE(owner_id, 0) AS owner_id, version, created_at, updated_at, closed_at
		FROM cases WHERE customer_id = ? AND status IN ('open', 'pending') ORDER BY created_at DESC, id DESC LIMIT ?`,
		customerID, limit); err != nil {
		return nil, fmt.Errorf("find open cases of customer %d: %w", customerID, formatError(err, "Cases"))
	}
	return cases, nil
}
