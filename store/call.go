package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ringdesk/ringdesk"
)

var _ ringdesk.CallService = (*DB)(nil)

const callColumns = `id, direction, sip_call_id, caller_raw, COALESCE(caller_e164, '') AS caller_e164, caller_name,
	callee, COALESCE(customer_id, 0) AS customer_id, COALESCE(queue_id, 0) AS queue_id,
	COALESCE(agent_id, 0) AS agent_id, state, offered_at, answered_at, ended_at, wrapup_ended_at,
	wait_ms, talk_ms, end_reason, disposition, notes`

// CreateCall writes a new call row.
func (db *DB) CreateCall(ctx context.Context, c *ringdesk.Call) error {
	if c.ID == "" || len(c.ID) > 36 {
		return ringdesk.Errorf(ringdesk.EINVALID, "A call needs an ID of at most 36 characters.")
	}
	if c.Direction != ringdesk.Inbound && c.Direction != ringdesk.Outbound {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call direction %q is not inbound or outbound.", c.Direction)
	}
	if c.State == "" {
		c.State = ringdesk.CallStateOffered
	}
	if c.OfferedAt.IsZero() {
		c.OfferedAt = db.Now()
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO calls (id, direction, sip_call_id, caller_raw, caller_e164,
		caller_name, callee, customer_id, queue_id, agent_id, state, offered_at, answered_at, ended_at,
		wrapup_ended_at, wait_ms, talk_ms, end_reason, disposition, notes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Direction, c.SIPCallID, c.CallerRaw, nullString(c.CallerE164), c.CallerName, c.Callee,
		nullInt(c.CustomerID), nullInt(c.QueueID), nullInt(c.AgentID), c.State, c.OfferedAt,
		nullTime(c.AnsweredAt), nullTime(c.EndedAt), nullTime(c.WrapupEndedAt), c.WaitMS, c.TalkMS,
		c.EndReason, c.Disposition, c.Notes)
	if err != nil {
		return fmt.Errorf("create call %s: %w", c.ID, formatError(err, "Call "+c.ID))
	}
	return nil
}

// FindCallByID returns one call.
func (db *DB) FindCallByID(ctx context.Context, id string) (*ringdesk.Call, error) {
	var c ringdesk.Call
	if err := db.db.GetContext(ctx, &c, `SELECT `+callColumns+` FROM calls WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("find call %s: %w", id, formatError(err, "Call"))
	}
	return &c, nil
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}
