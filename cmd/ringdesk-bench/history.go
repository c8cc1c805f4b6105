package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// History the bench gives each known caller before every run (see
// resetCallLog): past calls answered by bench agents, and an open case for
// every fourth caller, so that every pop reads a customer with a history.
const (
	historyCalls     = 5
	historyCaseEvery = 4
)

// resetCallLog empties the bench database's call log (calls, their events,
// callbacks and cases: everything earlier runs made; the seed makes none)
// and gives the customers of the known callers among callers the same
// history every run; it returns how many customers that is. The callers
// are the same numbers in every run, so without it each run found the
// histories of all the runs before (2.1 million calls on 17,677 customers
// after a day of runs): the pops' MySQL work, and the call tables
// outgrowing InnoDB's buffer pool, depended on how often the bench had run
// on the machine.
func (b *bench) resetCallLog(ctx context.Context, callers [][]string, agents []*benchAgent) (customers int, err error) {
	conn, err := b.raw.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// TRUNCATE refuses a table that a foreign key references, however
	// empty the referencing table: FK checks are off on this connection
	// while the four, which go together, are emptied.
	if _, err := conn.ExecContext(ctx, `SET SESSION foreign_key_checks = 0`); err != nil {
		return 0, err
	}
	for _, t := range []string{"callbacks", "call_events", "calls", "cases"} {
		if _, err := conn.ExecContext(ctx, "TRUNCATE TABLE "+t); err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), `SET SESSION foreign_key_checks = 1`)
			return 0, fmt.Errorf("empty %s: %w", t, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `SET SESSION foreign_key_checks = 1`); err != nil {
		return 0, err
	}

	var numbers []any
	for _, c := range callers {
		numbers = append(numbers, c[0])
	}
	ids, err := b.holders(ctx, numbers)
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		var calls, cases []string
		var callArgs, caseArgs []any
		for i, h := range part {
			n := start + i
			for k := range historyCalls {
				at := now.Add(-time.Duration(k+1) * 24 * time.Hour).Add(-time.Duration(n%3600) * time.Second)
				agent := agents[(n+k)%len(agents)].user.ID
				id, err := uuid.NewV7()
				if err != nil {
					return 0, err
				}
				calls = append(calls, "(?, 'inbound', ?, ?, ?, 'ended', ?, ?, ?, 4000, 180000, 'agent-hangup', 'resolved', '')")
				callArgs = append(callArgs, id.String(), h.e164, h.customer, agent, at, at.Add(4*time.Second), at.Add(184*time.Second))
			}
			if n%historyCaseEvery == 0 {
				cases = append(cases, "(?, 'Bench case', 'Opened before the run.', 'open', ?, ?, ?)")
				caseArgs = append(caseArgs, h.customer, agents[n%len(agents)].user.ID, now.Add(-time.Hour), now.Add(-time.Hour))
			}
		}
		if _, err := b.raw.ExecContext(ctx, `INSERT INTO calls (id, direction, caller_e164, customer_id, agent_id, state,
			offered_at, answered_at, ended_at, wait_ms, talk_ms, end_reason, disposition, notes) VALUES `+strings.Join(calls, ","), callArgs...); err != nil {
			return 0, fmt.Errorf("bench history calls: %w", err)
		}
		if len(cases) > 0 {
			if _, err := b.raw.ExecContext(ctx, `INSERT INTO cases (customer_id, subject, description, status, owner_id,
				created_at, updated_at) VALUES `+strings.Join(cases, ","), caseArgs...); err != nil {
				return 0, fmt.Errorf("bench history cases: %w", err)
			}
		}
	}
	return len(ids), nil
}

// holder is a live customer holding a caller's number.
type holder struct {
	customer int64
	e164     string
}

// holders returns the live customer of each of numbers that a customer
// holds (the lowest ID, as the pop's lookup orders them), each customer
// once.
func (b *bench) holders(ctx context.Context, numbers []any) ([]holder, error) {
	seen := map[int64]bool{}
	var out []holder
	const chunk = 1000
	for start := 0; start < len(numbers); start += chunk {
		part := numbers[start:min(start+chunk, len(numbers))]
		rows, err := b.raw.QueryContext(ctx, `SELECT p.e164, MIN(p.customer_id) FROM customer_phones p
			JOIN customers c ON c.id = p.customer_id AND c.deleted_at IS NULL
			WHERE p.e164 IN (?`+strings.Repeat(",?", len(part)-1)+`) GROUP BY p.e164`, part...)
		if err != nil {
			return nil, fmt.Errorf("bench history callers: %w", err)
		}
		err = scanHolders(rows, seen, &out)
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanHolders(rows *sql.Rows, seen map[int64]bool, out *[]holder) error {
	for rows.Next() {
		var h holder
		if err := rows.Scan(&h.e164, &h.customer); err != nil {
			return err
		}
		if !seen[h.customer] {
			seen[h.customer] = true
			*out = append(*out, h)
		}
	}
	return rows.Err()
}
