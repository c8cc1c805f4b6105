package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ringdesk/ringdesk"
)

// ImportOptions tune Import. Zero values pick the defaults.
type ImportOptions struct {
	// Mapping maps CSV header names (matched exactly, else ignoring case and
	// surrounding spaces) to customer fields, overriding the recognised
	// names: "name", "first_name", "last_name", "company", "email",
	// "account_number", "status", "tags", "address", "notes", "phone",
	// "phone:LABEL" (a number labelled LABEL), or "ignore".
	// E.g. {"Tel (office)": "phone:work"}.
	Mapping map[string]string

	// BatchSize is the number of rows per multi-row INSERT and
	// transaction; default 1000.
	BatchSize int

	// OnError, when set, is called for each row that is not imported, in
	// line order within a batch. It runs on the goroutine that called
	// Import.
	OnError func(RowError)

	// Progress, when set, is called after each batch with the data rows
	// read so far and the bytes of the file consumed, for a rate and an ETA.
	// It runs on the goroutine that called Import and should return quickly.
	Progress func(rows int, bytes int64)
}

// RowError is a CSV row that was not imported: its line in the file (of the
// row's start, for a row that spans lines) and why, for the user to fix.
type RowError struct {
	Line   int
	Reason string
}

// Error implements error so a RowError can be logged and wrapped as one.
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ImportSummary tells what an Import did. Rows counts data rows (not the
// header); each is Created, Unchanged (already stored) or Failed.
type ImportSummary struct {
	Rows      int
	Created   int
	Unchanged int
	Failed    int
	// IgnoredColumns lists header columns that map to no field, as written
	// in the file, so that a user sees what a mapping could pick up.
	IgnoredColumns []string
	Duration       time.Duration
}

// Import reads customers from CSV and stores the new ones.
//
// The first row is the header; a UTF-8 byte-order mark before it is
// skipped. Columns are recognised by name (see NewImportMapping) and
// opts.Mapping; a header with neither a name nor a company column is an
// EINVALID error before any row is read, and nothing is changed. An empty
// file is an EINVALID error too; a header alone imports nothing.
//
// A row that cannot be imported (broken quoting, a wrong number of fields,
// a field that fails validation, an account number that an earlier row of
// the file has) is reported through opts.OnError, counted as Failed, and
// skipped: good rows are committed in batches, so a bad row never rolls back
// good ones. A phone number that cannot be parsed is not an error: it is
// kept raw and flagged, as CreateCustomer does.
//
// Import is idempotent, so re-importing a file changes nothing:
//   - a row with an account number whose account exists (even soft-deleted:
//     it is not revived) is Unchanged; the stored record is not updated;
//   - a row without one is Unchanged when a live customer without account
//     number has the same name, company and email (ignoring case) and the
//     same set of numbers; otherwise it is created. Rows repeating such a
//     customer within the file are Unchanged as well.
//
// The file is streamed: memory is bounded by a few batches, whatever the
// file's size. The only state that grows is the set of IDs this run created
// (to tell an in-file duplicate from an account that existed before), kept
// as ranges of consecutive IDs, so a few bytes per batch. When ctx ends or
// the database fails, Import returns the error with the summary so far;
// committed batches stay, and importing the file again completes it. r is
// read on another goroutine that has stopped when Import returns; a Read
// that blocks (a stalled pipe) delays that return until it does.
func (db *DB) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	start := time.Now()
	sum := ImportSummary{IgnoredColumns: []string{}}
	br := bufio.NewReaderSize(r, 64<<10)
	var bom int64
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\uFEFF")) {
		br.Discard(3)
		bom = 3
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked against the header per row, to report and go on
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return sum, ringdesk.Errorf(ringdesk.EINVALID, "The file is empty.")
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return sum, ringdesk.Errorf(ringdesk.EINVALID, "The header (line %d) cannot be read: %v.", pe.StartLine, pe.Err)
		}
		return sum, fmt.Errorf("import: read header: %w", err)
	}
	m, err := NewImportMapping(slices.Clone(header), opts.Mapping)
	if err != nil {
		return sum, err
	}
	sum.IgnoredColumns = m.Ignored()

	// A goroutine parses, validates and normalises the next batch while
	// this one is written: on two cores that nearly halves the time.
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan importBatch, 1)
	parseErr := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the parser does not outlive Import
	defer cancel()
	wg.Go(func() {
		defer close(batches)
		if err := db.parseBatches(ctx, cr, m, batchSize(opts.BatchSize), bom, batches); err != nil {
			parseErr <- err
		}
	})

	var created idSet
	for b := range batches {
		sum.Rows += b.rows
		errs := b.errs
		outs, err := db.insertBatch(ctx, b.customers())
		if err != nil && rowLevel(err) {
			outs, errs, err = db.insertEach(ctx, b, errs)
		}
		if err != nil {
			sum.Duration = time.Since(start)
			return sum, fmt.Errorf("import: %w", err)
		}
		for i, o := range outs {
			row := b.good[i]
			switch {
			case o.ID == 0: // failed in insertEach, already in errs
			case !o.Existed:
				sum.Created++
				created.add(o.ID)
			case row.c.AccountNumber != "" && created.has(o.ID):
				errs = append(errs, RowError{Line: row.line,
					Reason: fmt.Sprintf("Account number %q appears on an earlier line of this file.", row.c.AccountNumber)})
			default:
				sum.Unchanged++
			}
		}
		sum.Failed += len(errs)
		if opts.OnError != nil {
			slices.SortStableFunc(errs, func(a, b RowError) int { return a.Line - b.Line })
			for _, e := range errs {
				opts.OnError(e)
			}
		}
		if opts.Progress != nil {
			opts.Progress(sum.Rows, b.offset)
		}
	}
	sum.Duration = time.Since(start)
	select {
	case err := <-parseErr:
		return sum, fmt.Errorf("import: %w", err)
	default:
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	return sum, nil
}

// importRow is a prepared customer and the line it came from.
type importRow struct {
	c    *ringdesk.Customer
	line int
}

// importBatch is what the parser hands to the writer: the good rows, the
// rows that failed before reaching the database, how many rows were read,
// and the input offset after them.
type importBatch struct {
	good     []importRow
	errs     []RowError
	rows     int
	offset   int64
	lastLine int
}

func (b *importBatch) customers() []*ringdesk.Customer {
	cs := make([]*ringdesk.Customer, len(b.good))
	for i, r := range b.good {
		cs[i] = r.c
	}
	return cs
}

// parseBatches reads the data rows of cr and sends them in batches of at
// most size good rows (and maxBatchBytes) to out. Rows that fail are sent
// with the batch they were read in; a batch is cut after size failures too,
// so that a file of bad rows still reports progress in bounded memory.
func (db *DB) parseBatches(ctx context.Context, cr *csv.Reader, m *ImportMapping, size int, bom int64, out chan<- importBatch) error {
	var b importBatch
	var bytes int
	accounts := map[string]int{} // account number (lower case) → line, within the batch
	send := func() bool {
		b.offset = bom + cr.InputOffset()
		select {
		case out <- b:
		case <-ctx.Done():
			return false
		}
		b = importBatch{}
		bytes = 0
		clear(accounts)
		return true
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("read after line %d: %w", b.lastLine, err)
			}
			// encoding/csv resumes after the bad record (for an unclosed
			// quote, at the end of the file).
			b.rows++
			b.errs = append(b.errs, RowError{Line: pe.StartLine, Reason: csvReason(pe)})
		} else {
			b.rows++
			line, _ := cr.FieldPos(0)
			b.lastLine = line
			if rowErr := db.importRecord(m, rec, line, accounts, &b, &bytes); rowErr != nil {
				b.errs = append(b.errs, *rowErr)
			}
		}
		if len(b.good) >= size || bytes >= maxBatchBytes || len(b.errs) >= size {
			if !send() {
				return ctx.Err()
			}
		}
	}
	if b.rows > 0 {
		if !send() {
			return ctx.Err()
		}
	}
	return nil
}

// importRecord converts and prepares one record and adds it to b, or says
// why it cannot be imported.
func (db *DB) importRecord(m *ImportMapping, rec []string, line int, accounts map[string]int, b *importBatch, bytes *int) *RowError {
	c, err := m.Customer(rec)
	if err == nil {
		err = db.prepareBulkCustomer(c)
	}
	if err != nil {
		return &RowError{Line: line, Reason: ringdesk.ErrorMessage(err)}
	}
	if c.AccountNumber != "" {
		key := strings.ToLower(c.AccountNumber)
		if first, ok := accounts[key]; ok {
			return &RowError{Line: line, Reason: fmt.Sprintf("Account number %q is already on line %d.", c.AccountNumber, first)}
		}
		accounts[key] = line
	}
	b.good = append(b.good, importRow{c: c, line: line})
	*bytes += bulkSize(c)
	return nil
}

func csvReason(pe *csv.ParseError) string {
	what := "The row cannot be read"
	if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
		what = "Broken quoting"
	}
	return fmt.Sprintf("%s: %v (line %d, column %d).", what, pe.Err, pe.Line, pe.Column)
}

// rowLevel reports whether a failed batch may be the fault of one of its
// rows rather than of the database: an account number taken meanwhile, or
// MySQL refusing a value (SQLSTATE classes 22, data exception, and 23,
// integrity constraint; 1366/1367, a bad string or value, come as HY000).
func rowLevel(err error) bool {
	if ringdesk.ErrorCode(err) == ringdesk.ECONFLICT {
		return true
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	class := string(me.SQLState[:2])
	return class == "22" || class == "23" || me.Number == 1366 || me.Number == 1367
}

// insertEach stores the rows of a failed batch one by one, so that the row
// the database refused fails alone and the others are committed. Rows that
// fail get a zero outcome and a RowError appended to errs.
func (db *DB) insertEach(ctx context.Context, b importBatch, errs []RowError) ([]batchOutcome, []RowError, error) {
	outs := make([]batchOutcome, len(b.good))
	for i, row := range b.good {
		o, err := db.insertBatch(ctx, []*ringdesk.Customer{row.c})
		switch {
		case err == nil:
			outs[i] = o[0]
		case rowLevel(err):
			// Alone in its batch, a duplicate key is this row's account
			// number, taken by a customer whose number differs only in
			// case or accents, which MySQL's collation compares equal.
			reason := fmt.Sprintf("Account number %q belongs to another customer (account numbers are compared ignoring case and accents).", row.c.AccountNumber)
			var me *mysql.MySQLError
			if ringdesk.ErrorCode(err) == ringdesk.EINTERNAL && errors.As(err, &me) {
				reason = "The database refused the row: " + me.Message
			}
			errs = append(errs, RowError{Line: row.line, Reason: reason})
		default:
			return nil, nil, err
		}
	}
	return outs, errs, nil
}

// idSet is a set of IDs held as sorted, disjoint ranges. The IDs an import
// creates are mostly consecutive, so a million of them take a few ranges.
type idSet struct{ ranges [][2]int64 }

func (s *idSet) has(id int64) bool {
	i := sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i][1] >= id })
	return i < len(s.ranges) && s.ranges[i][0] <= id
}

func (s *idSet) add(id int64) {
	// The first range that ends at or just before id.
	i := sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i][1]+1 >= id })
	switch {
	case i < len(s.ranges) && s.ranges[i][0] <= id && id <= s.ranges[i][1]:
	case i < len(s.ranges) && s.ranges[i][1]+1 == id:
		s.ranges[i][1] = id
		if i+1 < len(s.ranges) && s.ranges[i+1][0] == id+1 {
			s.ranges[i][1] = s.ranges[i+1][1]
			s.ranges = slices.Delete(s.ranges, i+1, i+2)
		}
	case i < len(s.ranges) && s.ranges[i][0]-1 == id:
		s.ranges[i][0] = id
	default:
		s.ranges = slices.Insert(s.ranges, i, [2]int64{id, id})
	}
}

// Fields of a customer that a CSV column can map to.
type importField int

const (
	fieldNone importField = iota
	fieldName
	fieldFirstName
	fieldLastName
	fieldCompany
	fieldEmail
	fieldAccount
	fieldStatus
	fieldTags
	fieldAddress
	fieldNotes
	fieldPhone
)

var fieldNames = map[importField]string{
	fieldName: "name", fieldFirstName: "first_name", fieldLastName: "last_name", fieldCompany: "company",
	fieldEmail: "email", fieldAccount: "account_number", fieldStatus: "status", fieldTags: "tags",
	fieldAddress: "address", fieldNotes: "notes", fieldPhone: "phone",
}

// headerAliases are the header names recognised without a mapping, after
// headerKey has simplified them.
var headerAliases = aliasTable(map[importField][]string{
	fieldName:      {"name", "full name", "fullname", "customer", "customer name", "contact", "contact name"},
	fieldFirstName: {"first name", "firstname", "first", "given name", "forename"},
	fieldLastName:  {"last name", "lastname", "last", "surname", "family name"},
	fieldCompany: {"company", "company name", "organisation", "organization", "organisation name",
		"organization name", "org", "business", "business name"},
	fieldEmail: {"email", "e mail", "email address", "e mail address", "mail"},
	fieldAccount: {"account", "account number", "accountnumber", "account no", "account nr", "account num",
		"account id", "acct", "acct no", "customer number", "customer no"},
	fieldStatus:  {"status", "customer status"},
	fieldTags:    {"tags", "tag", "labels", "categories"},
	fieldAddress: {"address", "postal address", "street address", "mailing address"},
	fieldNotes:   {"notes", "note", "comments", "comment", "remarks"},
})

func aliasTable(byField map[importField][]string) map[string]importField {
	t := map[string]importField{}
	for f, names := range byField {
		for _, n := range names {
			t[n] = f
		}
	}
	return t
}

// phoneHeader matches a phone column's simplified header: a kind, an
// optional "phone"/"number" and an optional ordinal ("phone 2", "mobile2").
var phoneHeader = regexp.MustCompile(`^(phone|telephone|tel|main|mobile|cell|cellphone|work|office|business|home|fax)(?: ?(?:phone|number|no|tel))?(?: ?([0-9]{1,2}))?$`)

var phoneLabels = map[string]string{
	"phone": "phone", "telephone": "phone", "tel": "phone", "main": "phone",
	"mobile": "mobile", "cell": "mobile", "cellphone": "mobile",
	"work": "work", "office": "work", "business": "work",
	"home": "home", "fax": "fax",
}

// headerKey simplifies a header name for matching: lower case, the
// punctuation people put in headers turned into spaces, spaces collapsed.
func headerKey(h string) string {
	h = strings.ToLower(h)
	h = strings.Map(func(r rune) rune {
		if strings.ContainsRune("_-./#:()[]", r) {
			return ' '
		}
		return r
	}, h)
	return strings.Join(strings.Fields(h), " ")
}

// detectColumn returns the field and phone label of a header name.
func detectColumn(h string) (importField, string) {
	k := headerKey(h)
	if f, ok := headerAliases[k]; ok {
		return f, ""
	}
	if sm := phoneHeader.FindStringSubmatch(k); sm != nil {
		label := phoneLabels[sm[1]]
		if sm[2] != "" {
			label += " " + sm[2]
		}
		return fieldPhone, label
	}
	return fieldNone, ""
}

// parseMappingValue turns a mapping's field name into a field and label.
// ok is false for a name that is no field; ignore is true for "ignore".
func parseMappingValue(v string) (f importField, label string, ignore, ok bool) {
	t := strings.TrimSpace(v)
	if p, l, found := strings.Cut(t, ":"); found && strings.EqualFold(strings.TrimSpace(p), "phone") {
		l = strings.TrimSpace(l)
		if l == "" || len(l) > 32 {
			return fieldNone, "", false, false
		}
		return fieldPhone, l, false, true
	}
	k := headerKey(t)
	switch k {
	case "ignore", "":
		return fieldNone, "", true, true
	}
	for f, name := range fieldNames {
		if k == headerKey(name) {
			if f == fieldPhone {
				return f, "phone", false, true
			}
			return f, "", false, true
		}
	}
	if f, l := detectColumn(t); f != fieldNone {
		return f, l, false, true
	}
	return fieldNone, "", false, false
}

// ImportMapping maps the columns of a CSV header onto customer fields. It is
// what Import uses for each row, exported so that a caller can show the
// mapping of a file before importing it, and so that it can be tested and
// fuzzed without a database.
type ImportMapping struct {
	header  []string
	fields  []importField
	labels  []string // phone label per column
	ignored []string
}

// NewImportMapping maps header onto customer fields.
//
// Without a mapping, header names are recognised ignoring case, spaces and
// punctuation: name (full name, customer, contact), first name + last name
// (joined into the name when there is no name column, or its cell is
// empty), company (organisation), email (e-mail), account (account number,
// account no), status, tags (split on ';', '|' or ','), address, notes, and
// phone columns, each a number labelled by its kind: phone/telephone/tel,
// mobile/cell, work/office, home, fax, with an ordinal kept ("phone 2").
// overrides maps header names to field names (see ImportOptions.Mapping)
// and wins over recognition. A second column for a field that takes one
// value is ignored; ignored columns are listed by Ignored.
//
// It returns EINVALID for an override naming a column the header lacks or
// a field that does not exist, and for a header with no name, first name,
// last name or company column: a customer needs one of them.
func NewImportMapping(header []string, overrides map[string]string) (*ImportMapping, error) {
	m := &ImportMapping{header: header, fields: make([]importField, len(header)), labels: make([]string, len(header))}
	byKey := map[string]string{} // simplified header name → override
	for h, v := range overrides {
		byKey[strings.ToLower(strings.TrimSpace(h))] = v
	}
	used := map[string]bool{} // override keys that matched a column
	taken := map[importField]bool{}
	usable := false
	for i, h := range header {
		var f importField
		var label string
		v, exact := overrides[h]
		key := strings.ToLower(strings.TrimSpace(h))
		if !exact {
			v, exact = byKey[key]
		}
		if exact {
			used[key] = true
			var ignore, ok bool
			f, label, ignore, ok = parseMappingValue(v)
			if !ok {
				return nil, ringdesk.Errorf(ringdesk.EINVALID,
					"The mapping for column %q names %q, which is not a field (use name, first_name, last_name, company, email, account_number, status, tags, address, notes, phone, phone:LABEL or ignore).",
					h, v)
			}
			if ignore {
				m.ignored = append(m.ignored, displayHeader(h, i))
				continue
			}
		} else {
			f, label = detectColumn(h)
		}
		if f == fieldNone || (f != fieldPhone && taken[f]) {
			m.ignored = append(m.ignored, displayHeader(h, i))
			continue
		}
		taken[f] = true
		m.fields[i], m.labels[i] = f, label
		switch f {
		case fieldName, fieldFirstName, fieldLastName, fieldCompany:
			usable = true
		}
	}
	for h := range overrides {
		if !used[strings.ToLower(strings.TrimSpace(h))] {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "The mapping names column %q, which the header does not have.", h)
		}
	}
	if !usable {
		return nil, ringdesk.Errorf(ringdesk.EINVALID,
			"The header has no name or company column (it has: %s); name one in the first row, or map one.",
			strings.Join(displayHeaders(header), ", "))
	}
	if m.ignored == nil {
		m.ignored = []string{}
	}
	return m, nil
}

func displayHeader(h string, i int) string {
	h = strings.ToValidUTF8(strings.TrimSpace(h), "\uFFFD")
	if h == "" {
		return fmt.Sprintf("(column %d)", i+1)
	}
	return h
}

func displayHeaders(header []string) []string {
	out := make([]string, len(header))
	for i, h := range header {
		out[i] = fmt.Sprintf("%q", displayHeader(h, i))
	}
	return out
}

// Ignored returns the header columns that map to no field.
func (m *ImportMapping) Ignored() []string { return slices.Clone(m.ignored) }

// Fields describes the mapping, one entry per column: the field name
// ("phone:LABEL" for a number), or "" for an ignored column.
func (m *ImportMapping) Fields() []string {
	out := make([]string, len(m.fields))
	for i, f := range m.fields {
		switch f {
		case fieldNone:
		case fieldPhone:
			out[i] = "phone:" + m.labels[i]
		default:
			out[i] = fieldNames[f]
		}
	}
	return out
}

// Customer converts one data record into a validated customer whose phones
// are not yet normalised (the store does that with its region). It returns
// EINVALID when the record has another number of fields than the header,
// or a field fails ringdesk.Customer.Validate.
func (m *ImportMapping) Customer(record []string) (*ringdesk.Customer, error) {
	if len(record) != len(m.fields) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "The row has %d fields; the header has %d.", len(record), len(m.fields))
	}
	c := &ringdesk.Customer{Tags: []string{}}
	var first, last string
	for i, v := range record {
		v = strings.TrimSpace(v)
		switch m.fields[i] {
		case fieldName:
			c.Name = v
		case fieldFirstName:
			first = v
		case fieldLastName:
			last = v
		case fieldCompany:
			c.Company = v
		case fieldEmail:
			c.Email = v
		case fieldAccount:
			c.AccountNumber = v
		case fieldStatus:
			c.Status = strings.ToLower(v)
		case fieldTags:
			c.Tags = splitImportTags(v)
		case fieldAddress:
			c.Address = v
		case fieldNotes:
			c.Notes = v
		case fieldPhone:
			if v != "" {
				c.Phones = append(c.Phones, ringdesk.Phone{Label: m.labels[i], Raw: v})
			}
		}
	}
	if c.Name == "" {
		c.Name = strings.TrimSpace(first + " " + last)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// splitImportTags splits a tags cell on ';', '|' or ',' (tags never hold
// commas), dropping empty and repeated tags.
func splitImportTags(s string) []string {
	tags := []string{}
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' || r == ',' }) {
		t = strings.TrimSpace(t)
		if t == "" || slices.ContainsFunc(tags, func(u string) bool { return strings.EqualFold(t, u) }) {
			continue
		}
		tags = append(tags, t)
	}
	return tags
}
