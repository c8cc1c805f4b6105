package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/ringdesk/ringdesk"
)

// Column limits of the customers and customer_phones tables that
// ringdesk.Customer.Validate does not check, because they are a matter of
// storage: a bulk insert checks them up front so that one long value fails
// its own row instead of the multi-row statement it would be part of.
const (
	maxTagsLen      = 2000  // customers.tags VARCHAR(2000)
	maxTextLen      = 65535 // customers.address and notes, TEXT
	maxExtensionLen = 16    // customer_phones.extension VARCHAR(16)
)

// Bounds of one multi-row statement. Rows are few kilobytes at most, but
// address and notes may hold up to 64 KiB each: flushing on bytes as well
// keeps a statement well under max_allowed_packet (16 MiB by default) and the
// 65,535 placeholders of a prepared statement.
const (
	defaultBatchSize = 1000
	maxBatchSize     = 5000
	maxBatchBytes    = 4 << 20
)

// batchSize returns n bounded to what one statement may carry.
func batchSize(n int) int {
	switch {
	case n <= 0:
		return defaultBatchSize
	case n > maxBatchSize:
		return maxBatchSize
	}
	return n
}

// prepareBulkCustomer validates c for a bulk insert: the domain rules, valid
// UTF-8 (MariaDB in strict mode rejects the whole statement otherwise), the
// column limits, and the phones, which it normalises in place.
func (db *DB) prepareBulkCustomer(c *ringdesk.Customer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, s := range []string{c.Name, c.Company, c.Email, c.AccountNumber, c.Address, c.Notes} {
		if !utf8.ValidString(s) {
			return ringdesk.Errorf(ringdesk.EINVALID, "Text is not valid UTF-8 (save the file as UTF-8).")
		}
	}
	tags := strings.Join(c.Tags, ",")
	if !utf8.ValidString(tags) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Text is not valid UTF-8 (save the file as UTF-8).")
	}
	if len(tags) > maxTagsLen {
		return ringdesk.Errorf(ringdesk.EINVALID, "Tags are limited to %d characters in all.", maxTagsLen)
	}
	if len(c.Address) > maxTextLen || len(c.Notes) > maxTextLen {
		return ringdesk.Errorf(ringdesk.EINVALID, "Address and notes are limited to %d bytes each.", maxTextLen)
	}
	for _, p := range c.Phones {
		if !utf8.ValidString(p.Raw) || !utf8.ValidString(p.Label) {
			return ringdesk.Errorf(ringdesk.EINVALID, "Text is not valid UTF-8 (save the file as UTF-8).")
		}
	}
	phones, err := db.preparePhones(c.Phones)
	if err != nil {
		return err
	}
	for _, p := range phones {
		if len(p.Extension) > maxExtensionLen {
			return ringdesk.Errorf(ringdesk.EINVALID, "The extension of %q is longer than %d digits.", p.Raw, maxExtensionLen)
		}
	}
	c.Phones = phones
	return nil
}

// bulkSize estimates the bytes c adds to a multi-row statement.
func bulkSize(c *ringdesk.Customer) int {
	n := 64 + len(c.Name) + len(c.Company) + len(c.Email) + len(c.AccountNumber) + len(c.Address) + len(c.Notes)
	for _, t := range c.Tags {
		n += len(t) + 1
	}
	for _, p := range c.Phones {
		n += 48 + len(p.Label) + len(p.Raw)
	}
	return n
}

// batchOutcome says what became of one customer of a batch: created with ID,
// or already stored as ID (Existed), matched by account number or, without
// one, by name, company, email and phones.
type batchOutcome struct {
	ID      int64
	Existed bool
}

// insertBatch stores the customers of a batch in one transaction: prepared
// (validated, phones normalised) customers whose account numbers are distinct
// within the batch. Customers already stored are skipped, which makes seeding
// and importing idempotent:
//   - with an account number: any customer with that number, even a
//     soft-deleted one (the unique key covers them all; a deleted customer is
//     not revived);
//   - without one: a live customer without account number that has the same
//     name, company, email and set of phone numbers (see naturalKey).
//
// New customers go in with one multi-row INSERT, their IDs are read back by
// account number (auto-increment IDs are not assumed to be consecutive),
// and their phones follow in one more multi-row INSERT. A customer without
// account number has nothing to be read back by, so it is inserted on its own
// to learn its ID; files and demo data carry account numbers, so these are few.
//
// It sets the ID, version and timestamps of created customers and returns one
// outcome per customer. A duplicate key means another writer stored the same
// account number meanwhile, or two numbers differ only in accents, which the
// column's collation compares equal: the batch is rolled back and an
// ECONFLICT returned (Import then retries its rows one by one).
func (db *DB) insertBatch(ctx context.Context, cs []*ringdesk.Customer) ([]batchOutcome, error) {
	out := make([]batchOutcome, len(cs))
	if len(cs) == 0 {
		return out, nil
	}
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("insert batch: %w", err)
	}
	defer tx.Rollback()

	existing, err := existingAccounts(ctx, tx, cs)
	if err != nil {
		return nil, err
	}
	matched, err := db.matchUnnumbered(ctx, tx, cs)
	if err != nil {
		return nil, err
	}
	var numbered, unnumbered []int // indexes into cs of customers to create
	firstOfKey := map[string]int{} // natural key → index of its first unnumbered customer
	sameAs := map[int]int{}        // index → index of the earlier customer it repeats
	for i, c := range cs {
		switch {
		case c.AccountNumber != "":
			if id, ok := existing[strings.ToLower(c.AccountNumber)]; ok {
				out[i] = batchOutcome{ID: id, Existed: true}
				continue
			}
			numbered = append(numbered, i)
		default:
			if id, ok := matched[i]; ok {
				out[i] = batchOutcome{ID: id, Existed: true}
				continue
			}
			k := naturalKey(c)
			if first, ok := firstOfKey[k]; ok {
				sameAs[i] = first
				continue
			}
			firstOfKey[k] = i
			unnumbered = append(unnumbered, i)
		}
	}

	now := db.Now()
	if len(numbered) > 0 {
		if err := insertCustomerRows(ctx, tx, cs, numbered, now); err != nil {
			return nil, err
		}
		ids, err := existingAccounts(ctx, tx, pick(cs, numbered))
		if err != nil {
			return nil, err
		}
		for _, i := range numbered {
			id, ok := ids[strings.ToLower(cs[i].AccountNumber)]
			if !ok {
				return nil, fmt.Errorf("insert batch: account number %q not found after insert", cs[i].AccountNumber)
			}
			out[i] = batchOutcome{ID: id}
		}
	}
	for _, i := range unnumbered {
		id, err := insertCustomerRow(ctx, tx, cs[i], now)
		if err != nil {
			return nil, err
		}
		out[i] = batchOutcome{ID: id}
	}
	for i, first := range sameAs {
		out[i] = batchOutcome{ID: out[first].ID, Existed: true}
	}
	created := slices.Concat(numbered, unnumbered)
	if err := insertPhoneRows(ctx, tx, cs, out, created); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("insert batch: %w", err)
	}
	for _, i := range created {
		c := cs[i]
		c.ID, c.Version, c.CreatedAt, c.UpdatedAt = out[i].ID, 1, now, now
		if c.Tags == nil {
			c.Tags = []string{}
		}
	}
	return out, nil
}

func pick(cs []*ringdesk.Customer, idx []int) []*ringdesk.Customer {
	out := make([]*ringdesk.Customer, len(idx))
	for k, i := range idx {
		out[k] = cs[i]
	}
	return out
}

// existingAccounts returns the IDs of stored customers (deleted or not) with
// the account numbers of cs, keyed by the lower-cased number: the column's
// collation is case-insensitive, so "acc-1" and "ACC-1" are one account.
func existingAccounts(ctx context.Context, tx *sqlx.Tx, cs []*ringdesk.Customer) (map[string]int64, error) {
	accounts := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.AccountNumber != "" {
			accounts = append(accounts, c.AccountNumber)
		}
	}
	found := make(map[string]int64, len(accounts))
	if len(accounts) == 0 {
		return found, nil
	}
	query, args, err := sqlx.In(`SELECT id, account_number FROM customers WHERE account_number IN (?)`, accounts)
	if err != nil {
		return nil, fmt.Errorf("find account numbers: %w", err)
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("find account numbers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var account string
		if err := rows.Scan(&id, &account); err != nil {
			return nil, fmt.Errorf("find account numbers: %w", err)
		}
		found[strings.ToLower(account)] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find account numbers: %w", err)
	}
	return found, nil
}

// naturalKey identifies a customer without account number for idempotent
// imports: name, company and email compared without case, and the set of its
// numbers (E.164 when parseable, else the raw text).
func naturalKey(c *ringdesk.Customer) string {
	nums := make([]string, 0, len(c.Phones))
	for _, p := range c.Phones {
		if p.E164 != "" {
			nums = append(nums, p.E164)
		} else {
			nums = append(nums, strings.ToLower(p.Raw))
		}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	return strings.ToLower(c.Name) + "\x00" + strings.ToLower(c.Company) + "\x00" +
		strings.ToLower(c.Email) + "\x00" + strings.Join(nums, "\x00")
}

// matchUnnumbered finds, for each customer of cs without account number, a
// live stored customer without account number with the same natural key.
// It returns their IDs by index into cs. Customers of the batch with the same
// key as an earlier one of the batch match nothing here; insertBatch creates
// the first and matches the rest to it.
func (db *DB) matchUnnumbered(ctx context.Context, tx *sqlx.Tx, cs []*ringdesk.Customer) (map[int]int64, error) {
	matched := map[int]int64{}
	var names, companies []string
	for _, c := range cs {
		if c.AccountNumber == "" {
			names = append(names, c.Name)
			companies = append(companies, c.Company)
		}
	}
	if len(names) == 0 {
		return matched, nil
	}
	// The collation matches case- and accent-insensitively; naturalKey then
	// keeps the exact matches (case aside).
	query, args, err := sqlx.In(`SELECT `+customerColumns+` FROM customers c
		WHERE c.account_number IS NULL AND c.deleted_at IS NULL AND c.name IN (?) AND c.company IN (?)`,
		names, companies)
	if err != nil {
		return nil, fmt.Errorf("match customers: %w", err)
	}
	var rows []customerRow
	if err := tx.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("match customers: %w", err)
	}
	stored := make([]*ringdesk.Customer, len(rows))
	for i := range rows {
		stored[i] = rows[i].customer()
	}
	if err := db.attachPhones(ctx, tx, stored); err != nil {
		return nil, err
	}
	byKey := make(map[string]int64, len(stored))
	for _, c := range stored {
		k := naturalKey(c)
		if id, ok := byKey[k]; !ok || c.ID < id {
			byKey[k] = c.ID
		}
	}
	for i, c := range cs {
		if c.AccountNumber != "" {
			continue
		}
		if id, ok := byKey[naturalKey(c)]; ok {
			matched[i] = id
		}
	}
	return matched, nil
}

const customerInsertColumns = `(name, company, email, account_number, status, tags, address, notes, version, created_at, updated_at)`

func customerArgs(args []any, c *ringdesk.Customer, now time.Time) []any {
	return append(args, c.Name, c.Company, c.Email, nullString(c.AccountNumber), c.Status,
		strings.Join(c.Tags, ","), c.Address, c.Notes, now, now)
}

// insertCustomerRows inserts cs[idx...] with one multi-row INSERT.
func insertCustomerRows(ctx context.Context, tx *sqlx.Tx, cs []*ringdesk.Customer, idx []int, now time.Time) error {
	var b strings.Builder
	b.Grow(len(customerInsertColumns) + 48 + len(idx)*36)
	b.WriteString(`INSERT INTO customers ` + customerInsertColumns + ` VALUES `)
	args := make([]any, 0, len(idx)*10)
	for k, i := range idx {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`)
		args = customerArgs(args, cs[i], now)
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return batchError("insert customers", err)
	}
	return nil
}

// insertCustomerRow inserts one customer and returns its ID.
func insertCustomerRow(ctx context.Context, tx *sqlx.Tx, c *ringdesk.Customer, now time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO customers `+customerInsertColumns+`
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`, customerArgs(nil, c, now)...)
	if err != nil {
		return 0, batchError("insert customer", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("insert customer: %w", err)
	}
	return id, nil
}

// insertPhoneRows inserts the phones of the created customers cs[idx...],
// whose IDs are in out, with multi-row INSERTs of at most maxBatchSize rows.
func insertPhoneRows(ctx context.Context, tx *sqlx.Tx, cs []*ringdesk.Customer, out []batchOutcome, idx []int) error {
	const cols = 7
	var b strings.Builder
	args := make([]any, 0, maxBatchSize*cols)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, b.String(), args...)
		b.Reset()
		args = args[:0]
		if err != nil {
			return batchError("insert phones", err)
		}
		return nil
	}
	for _, i := range idx {
		for pos, p := range cs[i].Phones {
			if len(args) == 0 {
				b.WriteString(`INSERT INTO customer_phones (customer_id, position, label, raw, e164, extension, invalid) VALUES `)
			} else {
				b.WriteByte(',')
			}
			b.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
			args = append(args, out[i].ID, pos, p.Label, p.Raw, nullString(p.E164), p.Extension, p.Invalid)
			if len(args) >= maxBatchSize*cols {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// batchError wraps a failed bulk statement: a duplicate key is a concurrent
// writer's account number (ECONFLICT); anything else stays internal.
func batchError(op string, err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1062 {
		return ringdesk.Errorf(ringdesk.ECONFLICT, "Another writer stored one of these account numbers at the same time; run again to skip it.")
	}
	return fmt.Errorf("%s: %w", op, err)
}
