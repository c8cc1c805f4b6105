package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ringdesk/ringdesk"
)

// DIDRoute is where a dialled number goes.
type DIDRoute struct {
	Number  string `db:"number"`
	QueueID int64  `db:"queue_id"`
	Queue   string `db:"queue"`
}

// FindDIDRoutes returns every DID with its queue, for the call path's cache.
func (db *DB) FindDIDRoutes(ctx context.Context) ([]DIDRoute, error) {
	var out []DIDRoute
	if err := db.db.SelectContext(ctx, &out, `SELECT d.number, d.queue_id, q.name AS queue
		FROM dids d JOIN queues q ON q.id = d.queue_id ORDER BY d.number`); err != nil {
		return nil, fmt.Errorf("find did routes: %w", formatError(err, "DIDs"))
	}
	return out, nil
}

// CreateDID maps a dialled number (normalised to E.164 when it parses) to a queue.
func (db *DB) CreateDID(ctx context.Context, number string, queueID int64) error {
	if n := db.norm.Normalize(number); n.E164 != "" {
		number = n.E164
	}
	_, err := db.db.ExecContext(ctx, `INSERT INTO dids (number, queue_id, created_at) VALUES (?, ?, ?)`, number, queueID, db.Now())
	if err != nil {
		return fmt.Errorf("create did %s: %w", number, formatError(err, "DID "+number))
	}
	return nil
}

// CreateQueue writes a queue and its members (user ids with their skill
// tier) and returns the queue's id.
func (db *DB) CreateQueue(ctx context.Context, q *ringdesk.Queue) (int64, error) {
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("create queue: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := db.Now()
	kind := q.Overflow.Kind
	ringS := int64(q.RingTimeout / time.Second)
	if ringS == 0 {
		ringS = int64(ringdesk.DefaultRingTimeout / time.Second)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO queues (name, strategy, ring_timeout_s, wrapup_s, max_wait_s, max_len,
		tier_widen_s, overflow_kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.Name, string(q.Strategy), ringS, int64(q.WrapUp/time.Second), int64(q.MaxWait/time.Second), q.MaxLen,
		int64(q.TierWiden/time.Second), kind, now, now)
	if err != nil {
		return 0, fmt.Errorf("create queue %s: %w", q.Name, formatError(err, "Queue "+q.Name))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("create queue %s: %w", q.Name, err)
	}
	for _, m := range q.Members {
		uid, err := strconv.ParseInt(m.AgentID, 10, 64)
		if err != nil {
			return 0, ringdesk.Errorf(ringdesk.EINVALID, "Queue member %q is not a user id.", m.AgentID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_members (queue_id, user_id, skill_level) VALUES (?, ?, ?)`,
			id, uid, m.Tier); err != nil {
			return 0, fmt.Errorf("create queue %s: member %d: %w", q.Name, uid, formatError(err, "Member"))
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("create queue %s: %w", q.Name, err)
	}
	return id, nil
}

// FindQueues loads every queue with its members as the routing engine
// wants them (member AgentID = the user's decimal id), so that main can
// PutQueue them at start.
func (db *DB) FindQueues(ctx context.Context) ([]*ringdesk.Queue, error) {
	var rows []struct {
		ID            int64  `db:"id"`
		Name          string `db:"name"`
		Strategy      string `db:"strategy"`
		RingS         int64  `db:"ring_timeout_s"`
		WrapS         int64  `db:"wrapup_s"`
		MaxWaitS      int64  `db:"max_wait_s"`
		MaxLen        int    `db:"max_len"`
		TierWidenS    int64  `db:"tier_widen_s"`
		OverflowKind  string `db:"overflow_kind"`
		OverflowQueue string `db:"overflow_queue"`
	}
	if err := db.db.SelectContext(ctx, &rows, `SELECT q.id, q.name, q.strategy, q.ring_timeout_s, q.wrapup_s,
		q.max_wait_s, q.max_len, q.tier_widen_s, q.overflow_kind, COALESCE(o.name, '') AS overflow_queue
		FROM queues q LEFT JOIN queues o ON o.id = q.overflow_queue_id ORDER BY q.id`); err != nil {
		return nil, fmt.Errorf("find queues: %w", formatError(err, "Queues"))
	}
	var members []struct {
		QueueID int64 `db:"queue_id"`
		UserID  int64 `db:"user_id"`
		Tier    int   `db:"skill_level"`
	}
	if err := db.db.SelectContext(ctx, &members, `SELECT m.queue_id, m.user_id, m.skill_level FROM queue_members m
		JOIN users u ON u.id = m.user_id ORDER BY m.queue_id, m.skill_level, m.user_id`); err != nil {
		return nil, fmt.Errorf("find queue members: %w", formatError(err, "Queue members"))
	}
	byID := make(map[int64]*ringdesk.Queue, len(rows))
	out := make([]*ringdesk.Queue, 0, len(rows))
	for _, r := range rows {
		q := &ringdesk.Queue{
			Name: r.Name, Strategy: ringdesk.Strategy(r.Strategy),
			RingTimeout: time.Duration(r.RingS) * time.Second, WrapUp: time.Duration(r.WrapS) * time.Second,
			MaxWait: time.Duration(r.MaxWaitS) * time.Second, MaxLen: r.MaxLen,
			TierWiden: time.Duration(r.TierWidenS) * time.Second,
		}
		switch r.OverflowKind {
		case ringdesk.OverflowQueue:
			if r.OverflowQueue != "" {
				q.Overflow = ringdesk.Overflow{Kind: ringdesk.OverflowQueue, Queue: r.OverflowQueue}
			}
		case ringdesk.OverflowCallback:
			q.Overflow = ringdesk.Overflow{Kind: ringdesk.OverflowCallback}
		}
		byID[r.ID] = q
		out = append(out, q)
	}
	for _, m := range members {
		if q := byID[m.QueueID]; q != nil {
			q.Members = append(q.Members, ringdesk.QueueMember{AgentID: strconv.FormatInt(m.UserID, 10), Tier: min(m.Tier, ringdesk.MaxTier)})
		}
	}
	return out, nil
}
