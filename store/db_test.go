package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk/store/storetest"
)

// A time.Time argument with nanoseconds must still let MySQL use a DATETIME
// index: sent as '…05.123456789' it is no valid DATETIME, MariaDB compares
// as strings and reads the whole table.
func TestTimeArgumentsUseTheIndex(t *testing.T) {
	_, dsn := storetest.MustOpenDBWithDSN(t, "")
	raw := storetest.MustOpenRaw(t, dsn)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for i := range 300 {
		if _, err := raw.ExecContext(ctx, `INSERT INTO calls (id, direction, state, offered_at, notes) VALUES (?, 'inbound', 'ended', ?, '')`,
			fmt.Sprintf("00000000-0000-0000-0000-%012d", i), base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.ExecContext(ctx, `ANALYZE TABLE calls`); err != nil {
		t.Fatal(err)
	}
	since := base.Add(290*time.Minute + 123456789*time.Nanosecond)
	rows, err := raw.QueryContext(ctx, `EXPLAIN SELECT state, COUNT(*) FROM calls WHERE offered_at >= ? GROUP BY state`, since)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("EXPLAIN returned no row")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	plan := map[string]string{}
	for i, c := range cols {
		plan[c] = vals[i].String
	}
	if plan["key"] != "ix_calls_offered" || plan["type"] != "range" {
		t.Errorf("offered_at >= a time with nanoseconds: plan type=%q key=%q, want a range on ix_calls_offered", plan["type"], plan["key"])
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM calls WHERE offered_at >= ?`, since).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("calls offered since %v: %d, want 9", since, n)
	}
}
