package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// UpdateCall applies a state transition to a call row. Only the fields set
// in upd change, so applying the same update twice (a replay from the
// spool) has one outcome. Returns ENOTFOUND for an unknown call.
func (db *DB) UpdateCall(ctx context.Context, id string, upd ringdesk.CallUpdate) error {
	var set []string
	var args []any
	add := func(col string, v any) {
		set = append(set, col+" = ?")
		args = append(args, v)
	}
	if upd.State != "" {
		add("state", upd.State)
	}
	if upd.QueueID != nil {
		add("queue_id", nullInt(*upd.QueueID))
	}
	if upd.AgentID != nil {
		add("agent_id", nullInt(*upd.AgentID))
	}
	if upd.CustomerID != nil {
		add("customer_id", nullInt(*upd.CustomerID))
	}
	if upd.AnsweredAt != nil {
		add("answered_at", *upd.AnsweredAt)
	}
	if upd.EndedAt != nil {
		add("ended_at", *upd.EndedAt)
	}
	if upd.WaitMS != nil {
		add("wait_ms", max(*upd.WaitMS, 0))
	}
	if upd.TalkMS != nil {
		add("talk_ms", max(*upd.TalkMS, 0))
	}
	if upd.EndReason != nil {
		add("end_reason", *upd.EndReason)
	}
	if len(set) == 0 {
		return nil
	}
	args = append(args, id)
	res, err := db.db.ExecContext(ctx, `UPDATE calls SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update call %s: %w", id, formatError(err, "Call"))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// MySQL reports 0 for an update that changes nothing: tell that
		// apart from a missing row.
		var one int
		if err := db.db.GetContext(ctx, &one, `SELECT 1 FROM calls WHERE id = ?`, id); err != nil {
			return fmt.Errorf("update call %s: %w", id, formatError(err, "Call"))
		}
	}
	return nil
}

// AppendCallEvent records one call event. An event with a (call, seq)
// already recorded is ignored, so replays write each event once.
func (db *DB) AppendCallEvent(ctx context.Context, ev ringdesk.CallEvent) error {
	if ev.CallID == "" || ev.Kind == "" || ev.Seq < 0 {
		return ringdesk.Errorf(ringdesk.EINVALID, "A call event needs a call id, a kind and a sequence number.")
	}
	at := ev.At
	if at.IsZero() {
		at = db.Now()
	}
	_, err := db.db.ExecContext(ctx, `INSERT IGNORE INTO call_events (call_id, seq, at, kind, queue_id, agent_id, data)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ev.CallID, ev.Seq, at.UTC(), ev.Kind, nullInt(ev.QueueID), nullInt(ev.AgentID), ev.Data)
	if err != nil {
		return fmt.Errorf("append call event %s/%d: %w", ev.CallID, ev.Seq, formatError(err, "Call event"))
	}
	return nil
}

// FindCallEvents returns a call's events in sequence order.
func (db *DB) FindCallEvents(ctx context.Context, callID string) ([]ringdesk.CallEvent, error) {
	var rows []struct {
		CallID  string    `db:"call_id"`
		Seq     int       `db:"seq"`
		Kind    string    `db:"kind"`
		At      time.Time `db:"at"`
		QueueID int64     `db:"queue_id"`
		AgentID int64     `db:"agent_id"`
		Data    string    `db:"data"`
	}
	if err := db.db.SelectContext(ctx, &rows, `SELECT call_id, seq, kind, at, COALESCE(queue_id, 0) AS queue_id,
		COALESCE(agent_id, 0) AS agent_id, data FROM call_events WHERE call_id = ? ORDER BY seq`, callID); err != nil {
		return nil, fmt.Errorf("find call events %s: %w", callID, formatError(err, "Call events"))
	}
	out := make([]ringdesk.CallEvent, len(rows))
	for i, r := range rows {
		out[i] = ringdesk.CallEvent{CallID: r.CallID, Seq: r.Seq, Kind: r.Kind, At: r.At, QueueID: r.QueueID, AgentID: r.AgentID, Data: r.Data}
	}
	return out, nil
}
