package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

var _ ringdesk.DeskCallService = (*DB)(nil)

// LinkCallCustomer logs the call against a live customer.
func (db *DB) LinkCallCustomer(ctx context.Context, callID string, customerID int64) error {
	if err := db.customerExists(ctx, customerID); err != nil {
		return fmt.Errorf("link call %s: %w", callID, err)
	}
	if err := db.UpdateCall(ctx, callID, ringdesk.CallUpdate{CustomerID: &customerID}); err != nil {
		return fmt.Errorf("link call: %w", err)
	}
	return nil
}

// SaveWrapUp stores the call's disposition and notes. Validate the wrap-up
// against the configured dispositions first; this checks only the sizes.
func (db *DB) SaveWrapUp(ctx context.Context, callID string, w ringdesk.WrapUp) error {
	if len(w.Disposition) > ringdesk.MaxDispositionLen || len(w.Notes) > ringdesk.MaxCallNotesLen {
		return ringdesk.Errorf(ringdesk.EINVALID, "A disposition is limited to %d characters and notes to %d.",
			ringdesk.MaxDispositionLen, ringdesk.MaxCallNotesLen)
	}
	res, err := db.db.ExecContext(ctx, `UPDATE calls SET disposition = ?, notes = ? WHERE id = ?`, w.Disposition, w.Notes, callID)
	if err != nil {
		return fmt.Errorf("save wrap-up of call %s: %w", callID, formatError(err, "Call"))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// 0 rows also when nothing changed: tell that from a missing call.
		var one int
		if err := db.db.GetContext(ctx, &one, `SELECT 1 FROM calls WHERE id = ?`, callID); err != nil {
			return fmt.Errorf("save wrap-up of call %s: %w", callID, formatError(err, "Call"))
		}
	}
	return nil
}

// lastChoiceFirst orders the customers sharing the number e164 by the last
// call from that number logged against each (an agent's pick from the
// chooser, or a call that matched one of them), most recent first; those
// never chosen keep their order after them. So the pick of last time is
// offered first.
func (db *DB) lastChoiceFirst(ctx context.Context, e164 string, cs []*ringdesk.Customer) error {
	if len(cs) < 2 {
		return nil
	}
	// One index dive per candidate on (caller_e164, customer_id,
	// offered_at), in one round trip: a GROUP BY over an IN list read every
	// call from the number, milliseconds for a busy switchboard.
	parts := make([]string, len(cs))
	args := make([]any, 0, 3*len(cs))
	for i, c := range cs {
		parts[i] = `SELECT ? AS customer_id, MAX(offered_at) AS at FROM calls WHERE caller_e164 = ? AND customer_id = ?`
		args = append(args, c.ID, e164, c.ID)
	}
	var rows []struct {
		CustomerID int64        `db:"customer_id"`
		At         sql.NullTime `db:"at"`
	}
	if err := db.db.SelectContext(ctx, &rows, strings.Join(parts, " UNION ALL "), args...); err != nil {
		return fmt.Errorf("last choice for a shared number: %w", err)
	}
	last := make(map[int64]time.Time, len(rows))
	for _, r := range rows {
		last[r.CustomerID] = r.At.Time // the zero time when never chosen
	}
	slices.SortStableFunc(cs, func(a, b *ringdesk.Customer) int {
		return last[b.ID].Compare(last[a.ID])
	})
	return nil
}
