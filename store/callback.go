package store

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/ringdesk/ringdesk"
)

var _ ringdesk.CallbackService = (*DB)(nil)

// FindCallbacks implements ringdesk.CallbackService.
func (db *DB) FindCallbacks(ctx context.Context, f ringdesk.CallbackFilter) ([]*ringdesk.Callback, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	q := `SELECT c.id AS call_id, c.caller_raw, COALESCE(c.caller_e164, '') AS caller_e164, c.caller_name,
		COALESCE(c.customer_id, 0) AS customer_id, COALESCE(c.queue_id, 0) AS queue_id,
		COALESCE(c.ended_at, c.offered_at) AS requested_at, c.wait_ms,
		COALESCE(cb.status, 'open') AS status, COALESCE(cb.note, '') AS note,
		COALESCE(cb.done_by, 0) AS done_by, cb.done_at
		FROM calls c LEFT JOIN callbacks cb ON cb.call_id = c.id
		WHERE c.end_reason = ?`
	args := []any{ringdesk.EndReasonCallback}
	switch f.Status {
	case "", ringdesk.CallbackOpen:
		q += ` AND cb.call_id IS NULL`
	case ringdesk.CallbackDone, ringdesk.CallbackCancelled:
		q += ` AND cb.status = ?`
		args = append(args, f.Status)
	case "all":
	default:
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Callback status %q is not open, done, cancelled or all.", f.Status)
	}
	if f.QueueID > 0 {
		q += ` AND c.queue_id = ?`
		args = append(args, f.QueueID)
	}
	q += ` ORDER BY c.ended_at, c.id LIMIT ?`
	args = append(args, f.Limit)
	out := []*ringdesk.Callback{}
	if err := db.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("find callbacks: %w", formatError(err, "Callbacks"))
	}
	return out, nil
}

// CloseCallback implements ringdesk.CallbackService. The primary key on
// call_id makes closing atomic: of two agents closing one request, the
// second gets ECONFLICT.
func (db *DB) CloseCallback(ctx context.Context, callID string, userID int64, status, note string) error {
	if status != ringdesk.CallbackDone && status != ringdesk.CallbackCancelled {
		return ringdesk.Errorf(ringdesk.EINVALID, "A callback is closed as done or cancelled, not %q.", status)
	}
	if utf8.RuneCountInString(note) > 4000 || !utf8.ValidString(note) {
		return ringdesk.Errorf(ringdesk.EINVALID, "A callback note is valid text of at most 4,000 characters.")
	}
	// Only a callback request can be closed; INSERT … SELECT inserts
	// nothing for any other call.
	res, err := db.db.ExecContext(ctx, `INSERT INTO callbacks (call_id, status, note, done_by, done_at)
		SELECT id, ?, ?, ?, ? FROM calls WHERE id = ? AND end_reason = ?`,
		status, note, nullInt(userID), db.Now(), callID, ringdesk.EndReasonCallback)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return ringdesk.Errorf(ringdesk.ECONFLICT, "Callback %s is already closed.", callID)
	}
	if err != nil {
		return fmt.Errorf("close callback %s: %w", callID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ringdesk.Errorf(ringdesk.ENOTFOUND, "Call %s is not a callback request.", callID)
	}
	return nil
}
