package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/ringdesk/ringdesk"
)

// UpdateCall applies a state transition to a call row. Only the fields set
// in upd change, so applying the same update twice (a replay from the
// spool) has one outcome. Returns ENOTFOUND for an unknown call.
func (db *DB) UpdateCall(ctx context.Context, id string, upd ringdesk.CallUpdate) error {
	return db.updateCall(ctx, db.db, id, upd)
}

// updateCall runs UpdateCall's statement on ex (the database or a
// transaction).
func (db *DB) updateCall(ctx context.Context, ex sqlx.ExecerContext, id string, upd ringdesk.CallUpdate) error {
	set, args := callUpdateSet(upd)
	if len(set) == 0 {
		return nil
	}
	args = append(args, id)
	res, err := ex.ExecContext(ctx, `UPDATE calls SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update call %s: %w", id, formatError(err, "Call"))
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// MySQL reports 0 for an update that changes nothing: tell that
		// apart from a missing row.
		var one int
		q, ok := ex.(sqlx.QueryerContext)
		if !ok {
			return nil
		}
		if err := sqlx.GetContext(ctx, q, &one, `SELECT 1 FROM calls WHERE id = ?`, id); err != nil {
			return fmt.Errorf("update call %s: %w", id, formatError(err, "Call"))
		}
	}
	return nil
}

// callUpdateSet returns the SET clauses and arguments of an update.
func callUpdateSet(upd ringdesk.CallUpdate) ([]string, []any) {
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
	return set, args
}

// WriteCallLog applies many call-log writes in one transaction, so that
// a busy call path costs MySQL a few statements per batch rather than a
// dozen per call: the new calls in one multi-row INSERT (a row already
// there is kept, as CreateCall's ECONFLICT on a replay; a new call's update
// in the same batch goes into its INSERT, see insertCalls), then each call's
// update (already merged in order), one statement for all the calls that
// change the same columns, then the events in one multi-row INSERT IGNORE
// (an event recorded before is kept). It
// returns the ids of updated calls that have no row (ENOTFOUND for
// UpdateCall: nothing to retry) and EINVALID, with nothing written, for a
// call or event that CreateCall or AppendCallEvent would refuse.
func (db *DB) WriteCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
	events []ringdesk.CallEvent) (missing []string, err error) {
	missing, err = db.writeCallLog(ctx, creates, updates, events)
	if err != nil && transient(err) {
		// Said as EUNAVAILABLE so that the call log retries the batch (or
		// spools it) rather than writing its rows one by one to a server
		// that is already struggling.
		return nil, fmt.Errorf("%w: %v", ringdesk.Errorf(ringdesk.EUNAVAILABLE, "MySQL could not take the call log batch (out of time, connection lost or a lock given up)."), err)
	}
	return missing, err
}

// transient reports whether a failed write may succeed as it is when
// tried again: the time ran out, the connection went, or MySQL gave up on
// a lock (deadlock, lock wait timeout).
func transient(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1205 || me.Number == 1213
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.As(err, &ne)
}

func (db *DB) writeCallLog(ctx context.Context, creates []*ringdesk.Call, updates map[string]ringdesk.CallUpdate,
	events []ringdesk.CallEvent) (missing []string, err error) {
	for _, c := range creates {
		if c.ID == "" || len(c.ID) > 36 {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "A call needs an ID of at most 36 characters.")
		}
		if c.Direction != ringdesk.Inbound && c.Direction != ringdesk.Outbound {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call direction %q is not inbound or outbound.", c.Direction)
		}
	}
	for _, ev := range events {
		if ev.CallID == "" || ev.Kind == "" || ev.Seq < 0 {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "A call event needs a call id, a kind and a sequence number.")
		}
	}
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("write call log: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// A call created in this batch takes the batch's update of it in its
	// INSERT (the call path's "queued" and customer updates follow the
	// create within milliseconds): one row written instead of a row and an
	// update of it. Its INSERT then sets those columns on a row already
	// there (a replay), as the update would have.
	var folded map[string]ringdesk.CallUpdate
	for _, c := range creates {
		if upd, ok := updates[c.ID]; ok {
			if folded == nil {
				folded = map[string]ringdesk.CallUpdate{}
				rest := make(map[string]ringdesk.CallUpdate, len(updates))
				maps.Copy(rest, updates)
				updates = rest
			}
			folded[c.ID] = upd
			delete(updates, c.ID)
		}
	}
	if err := db.insertCalls(ctx, tx, creates, folded); err != nil {
		return nil, fmt.Errorf("write call log: %w", err)
	}
	if len(updates) > 0 {
		m, err := db.upsertCallUpdates(ctx, tx, updates)
		if err != nil {
			return nil, fmt.Errorf("write call log: %w", err)
		}
		missing = m
	}
	if len(events) > 0 {
		const cols = 7
		var b strings.Builder
		b.WriteString(`INSERT IGNORE INTO call_events (call_id, seq, at, kind, queue_id, agent_id, data) VALUES `)
		args := make([]any, 0, cols*len(events))
		now := db.Now()
		for i, ev := range events {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			at := ev.At
			if at.IsZero() {
				at = now
			}
			args = append(args, ev.CallID, ev.Seq, at.UTC(), ev.Kind, nullInt(ev.QueueID), nullInt(ev.AgentID), ev.Data)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, fmt.Errorf("write call log: append %d events: %w", len(events), formatError(err, "Call events"))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("write call log: %w", err)
	}
	return missing, nil
}

// insertCalls inserts new calls, one statement per set of folded columns:
// a call without an update is kept when its row is there already (INSERT
// IGNORE, as CreateCall's ECONFLICT on a replay); a call with one gets the
// update's values and sets just those columns on a row already there.
func (db *DB) insertCalls(ctx context.Context, tx *sqlx.Tx, creates []*ringdesk.Call, folded map[string]ringdesk.CallUpdate) error {
	const cols = 20
	type group struct {
		set   []string // "col = ?" of the update, nil for none
		calls []*ringdesk.Call
	}
	groups := map[string]*group{}
	var order []string
	for _, c := range creates {
		var set []string
		if upd, ok := folded[c.ID]; ok {
			set, _ = callUpdateSet(upd)
			c = withCallUpdate(c, upd)
		}
		key := strings.Join(set, ",")
		g := groups[key]
		if g == nil {
			g = &group{set: set}
			groups[key] = g
			order = append(order, key)
		}
		g.calls = append(g.calls, c)
	}
	now := db.Now()
	for _, key := range order {
		g := groups[key]
		var b strings.Builder
		if len(g.set) == 0 {
			b.WriteString("INSERT IGNORE")
		} else {
			b.WriteString("INSERT")
		}
		b.WriteString(` INTO calls (id, direction, sip_call_id, caller_raw, caller_e164, caller_name, callee,
			customer_id, queue_id, agent_id, state, offered_at, answered_at, ended_at, wrapup_ended_at, wait_ms, talk_ms,
			end_reason, disposition, notes) VALUES `)
		args := make([]any, 0, cols*len(g.calls))
		for i, c := range g.calls {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?" + strings.Repeat(", ?", cols-1) + ")")
			state, offered := c.State, c.OfferedAt
			if state == "" {
				state = ringdesk.CallStateOffered
			}
			if offered.IsZero() {
				offered = now
			}
			args = append(args, c.ID, c.Direction, c.SIPCallID, c.CallerRaw, nullString(c.CallerE164), c.CallerName, c.Callee,
				nullInt(c.CustomerID), nullInt(c.QueueID), nullInt(c.AgentID), state, offered,
				nullTime(c.AnsweredAt), nullTime(c.EndedAt), nullTime(c.WrapupEndedAt), c.WaitMS, c.TalkMS,
				c.EndReason, c.Disposition, c.Notes)
		}
		if len(g.set) > 0 {
			b.WriteString(" ON DUPLICATE KEY UPDATE ")
			for i, sc := range g.set {
				col := strings.TrimSuffix(sc, " = ?")
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(col + " = VALUES(" + col + ")")
			}
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("create %d calls: %w", len(g.calls), formatError(err, "Calls"))
		}
	}
	return nil
}

// withCallUpdate returns a copy of c with upd applied, each column as
// UpdateCall would write it.
func withCallUpdate(c *ringdesk.Call, upd ringdesk.CallUpdate) *ringdesk.Call {
	n := *c
	if upd.State != "" {
		n.State = upd.State
	}
	if upd.QueueID != nil {
		n.QueueID = *upd.QueueID
	}
	if upd.AgentID != nil {
		n.AgentID = *upd.AgentID
	}
	if upd.CustomerID != nil {
		n.CustomerID = *upd.CustomerID
	}
	if upd.AnsweredAt != nil {
		t := *upd.AnsweredAt
		n.AnsweredAt = &t
	}
	if upd.EndedAt != nil {
		t := *upd.EndedAt
		n.EndedAt = &t
	}
	if upd.WaitMS != nil {
		n.WaitMS = max(*upd.WaitMS, 0)
	}
	if upd.TalkMS != nil {
		n.TalkMS = max(*upd.TalkMS, 0)
	}
	if upd.EndReason != nil {
		n.EndReason = *upd.EndReason
	}
	return &n
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

// upsertCallUpdates applies one merged update per call with a statement
// per set of changed columns rather than one per call: the rows are
// locked and checked first, then written with INSERT … ON DUPLICATE KEY
// UPDATE of just those columns (the INSERT half never applies: every id
// written exists). It returns the ids that have no row.
func (db *DB) upsertCallUpdates(ctx context.Context, tx *sqlx.Tx, updates map[string]ringdesk.CallUpdate) ([]string, error) {
	// Sorted, so that two nodes writing the same calls lock rows in one order.
	ids := make([]string, 0, len(updates))
	for id := range updates {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	q, args, err := sqlx.In(`SELECT id FROM calls WHERE id IN (?) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	var found []string
	if err := tx.SelectContext(ctx, &found, tx.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("lock calls: %w", formatError(err, "Calls"))
	}
	exists := make(map[string]bool, len(found))
	for _, id := range found {
		exists[id] = true
	}
	type group struct {
		cols []string
		rows [][]any
	}
	groups := map[string]*group{}
	var order []string
	var missing []string
	for _, id := range ids {
		if !exists[id] {
			missing = append(missing, id)
			continue
		}
		set, vals := callUpdateSet(updates[id])
		if len(set) == 0 {
			continue
		}
		cols := make([]string, len(set))
		for i, c := range set {
			cols[i] = strings.TrimSuffix(c, " = ?")
		}
		key := strings.Join(cols, ",")
		g := groups[key]
		if g == nil {
			g = &group{cols: cols}
			groups[key] = g
			order = append(order, key)
		}
		g.rows = append(g.rows, append([]any{id}, vals...))
	}
	now := db.Now()
	for _, key := range order {
		g := groups[key]
		// The INSERT half never applies (every row is there), but MySQL
		// checks it: it names every column without a default (state too,
		// when the update does not set it).
		var b strings.Builder
		fixed, fixedVals := "id, direction, offered_at, notes, ", "?, 'inbound', ?, ''"
		if !slices.Contains(g.cols, "state") {
			fixed, fixedVals = fixed+"state, ", fixedVals+", 'offered'"
		}
		b.WriteString("INSERT INTO calls (" + fixed + key + ") VALUES ")
		row := "(" + fixedVals + strings.Repeat(", ?", len(g.cols)) + ")"
		args := make([]any, 0, len(g.rows)*(len(g.cols)+2))
		for i, r := range g.rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
			args = append(args, r[0], now)
			args = append(args, r[1:]...)
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range g.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = VALUES(" + c + ")")
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return nil, fmt.Errorf("update %d calls: %w", len(g.rows), formatError(err, "Calls"))
		}
	}
	return missing, nil
}
