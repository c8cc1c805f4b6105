package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/ringdesk/ringdesk"
)

// Customer records: the search page (customers.html, customers.js), the
// record page (customer.html, customer.js) and the JSON API both use. The
// pages are rendered on the server; the scripts only send what the agent
// writes and swap in freshly rendered parts of the page.

// Sizes of the lists a record page and the API return.
const (
	searchPageSize    = 25  // customers per search page
	maxSearchPageSize = 100 // the most the API gives at once
	recordHistorySize = 100 // timeline entries on a record page
	recordCasesSize   = 100 // cases on a record page
)

// CustomerPage is the body of GET /api/customers: one page of a search.
type CustomerPage struct {
	Customers  []*ringdesk.Customer `json:"customers"`
	More       bool                 `json:"more"`
	Offset     int                  `json:"offset"`
	NextOffset int                  `json:"next_offset,omitempty"`
}

// CustomerRecord is the body of GET /api/customers/{id}: the customer with
// its cases and its timeline.
type CustomerRecord struct {
	Customer *ringdesk.Customer     `json:"customer"`
	Cases    []ringdesk.Case        `json:"cases"`
	History  []ringdesk.HistoryItem `json:"history"`
}

// NewCustomerRequest is the body of POST /api/customers.
type NewCustomerRequest struct {
	Name          string           `json:"name"`
	Company       string           `json:"company"`
	Email         string           `json:"email"`
	AccountNumber string           `json:"account_number"`
	Status        string           `json:"status"`
	Tags          []string         `json:"tags"`
	Address       string           `json:"address"`
	Notes         string           `json:"notes"`
	Phones        []ringdesk.Phone `json:"phones"`
}

// NoteRequest is the body of POST /api/customers/{id}/notes.
type NoteRequest struct {
	Body   string `json:"body"`
	CallID string `json:"call_id"`
}

// CaseRequest is the body of POST /api/customers/{id}/cases. Priority and
// status default to normal and open.
type CaseRequest struct {
	Subject     string `json:"subject"`
	Description string `json:"description"`
	Priority    string `json:"priority"`
	Status      string `json:"status"`
	CallID      string `json:"call_id"`
}

// pathID returns the numeric path value name. Anything else is not a
// record at all: ENOTFOUND, as for a missing one.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, ringdesk.Errorf(ringdesk.ENOTFOUND, "There is no such record.")
	}
	return id, nil
}

// searchFilter reads q, offset and limit of a search request.
func searchFilter(q url.Values, defLimit int) (ringdesk.CustomerFilter, error) {
	f := ringdesk.CustomerFilter{Query: q.Get("q")}
	var err error
	if f.Offset, err = queryInt(q, "offset", 0, 1_000_000, 0); err != nil {
		return f, err
	}
	f.Limit, err = queryInt(q, "limit", 1, maxSearchPageSize, defLimit)
	return f, err
}

func (s *Server) searchCustomers(r *http.Request, defLimit int) (*CustomerPage, ringdesk.CustomerFilter, error) {
	f, err := searchFilter(r.URL.Query(), defLimit)
	if err != nil {
		return nil, f, err
	}
	cs, more, err := s.Customers.FindCustomers(r.Context(), f)
	if err != nil {
		return nil, f, err
	}
	p := &CustomerPage{Customers: cs, More: more, Offset: f.Offset}
	if more {
		p.NextOffset = f.Offset + len(cs)
	}
	return p, f, nil
}

// customersPage is the data of customers.html.
type customersPage struct {
	Query      string
	Page       *CustomerPage
	PrevOffset int // -1 on the first page
}

// handleCustomersPage is the search page. The form works without script
// (GET with q); customers.js searches as the agent types.
func (s *Server) handleCustomersPage(w http.ResponseWriter, r *http.Request) {
	p, f, err := s.searchCustomers(r, searchPageSize)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	prev := -1
	if f.Offset > 0 {
		prev = max(f.Offset-f.Limit, 0)
	}
	s.render(w, r, "customers", Titled{Title: "Customers", Data: customersPage{Query: f.Query, Page: p, PrevOffset: prev}})
}

// customerPage is the data of customer.html.
type customerPage struct {
	CustomerRecord
	// Call is the call the agent came from (?call=ID, the desk's "Open
	// record"): notes and cases added on the page are linked to it.
	Call       *ringdesk.Call
	OpenCases  int
	Statuses   []string
	Priorities []string
	CaseStates []string
}

func (s *Server) customerRecord(r *http.Request, id int64) (*CustomerRecord, error) {
	ctx := r.Context()
	c, err := s.Customers.FindCustomerByID(ctx, id)
	if err != nil {
		return nil, err
	}
	cases, err := s.Customers.FindCustomerCases(ctx, id, recordCasesSize)
	if err != nil {
		return nil, err
	}
	h, err := s.Customers.CustomerHistory(ctx, id, recordHistorySize)
	if err != nil {
		return nil, err
	}
	return &CustomerRecord{Customer: c, Cases: cases, History: h}, nil
}

// handleCustomerPage is a customer's record: details to edit, phones,
// tags, the timeline of calls, notes and cases, and the cases to work.
func (s *Server) handleCustomerPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	rec, err := s.customerRecord(r, id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	title := rec.Customer.Name
	if title == "" {
		title = rec.Customer.Company
	}
	open := 0
	for _, k := range rec.Cases {
		if k.Status != ringdesk.CaseClosed {
			open++
		}
	}
	s.render(w, r, "customer", Titled{Title: title, Data: customerPage{
		CustomerRecord: *rec,
		Call:           s.fromCall(r, id),
		OpenCases:      open,
		Statuses:       []string{ringdesk.CustomerActive, ringdesk.CustomerInactive, ringdesk.CustomerProspect},
		Priorities:     []string{"low", "normal", "high", "urgent"},
		CaseStates:     []string{ringdesk.CaseOpen, ringdesk.CasePending, ringdesk.CaseClosed},
	}})
}

// fromCall returns the call named by the request's ?call= when it is
// logged against the customer or against no one yet; otherwise nil, and
// the page works as a plain record.
func (s *Server) fromCall(r *http.Request, customerID int64) *ringdesk.Call {
	id := r.URL.Query().Get("call")
	if !ringdesk.ValidDeskID(id) {
		return nil
	}
	c, err := s.DeskCalls.FindCallByID(r.Context(), id)
	if err != nil || (c.CustomerID != 0 && c.CustomerID != customerID) {
		return nil
	}
	return c
}

// handleCustomerSearch answers GET /api/customers?q=…&offset=…&limit=….
func (s *Server) handleCustomerSearch(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.searchCustomers(r, searchPageSize)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleCustomerGet answers GET /api/customers/{id} with the record.
func (s *Server) handleCustomerGet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	rec, err := s.customerRecord(r, id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// handleCustomerCreate answers POST /api/customers: 201 with the customer.
func (s *Server) handleCustomerCreate(w http.ResponseWriter, r *http.Request) {
	var req NewCustomerRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	c := &ringdesk.Customer{Name: req.Name, Company: req.Company, Email: req.Email, AccountNumber: req.AccountNumber,
		Status: req.Status, Tags: req.Tags, Address: req.Address, Notes: req.Notes, Phones: req.Phones}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if err := s.Customers.CreateCustomer(r.Context(), c); err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Location", "/customers/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, c)
}

// handleCustomerUpdate answers PATCH /api/customers/{id}. The body names
// the version the agent read; if someone saved since, the answer is 409
// and nothing is written, so no one's edit is overwritten unseen.
func (s *Server) handleCustomerUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var upd ringdesk.CustomerUpdate
	if err := readJSON(w, r, &upd); err != nil {
		s.Error(w, r, err)
		return
	}
	if upd.Version <= 0 {
		s.Error(w, r, ringdesk.Errorf(ringdesk.EINVALID, "version is required: the version of the customer you edited."))
		return
	}
	c, err := s.Customers.UpdateCustomer(r.Context(), id, upd)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handleCustomerHistory answers GET /api/customers/{id}/history?limit=….
func (s *Server) handleCustomerHistory(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	limit, err := queryInt(r.URL.Query(), "limit", 1, 500, recordHistorySize)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	// History of a deleted or unknown customer is a 404, not an empty list.
	if _, err := s.Customers.FindCustomerByID(r.Context(), id); err != nil {
		s.Error(w, r, err)
		return
	}
	h, err := s.Customers.CustomerHistory(r.Context(), id, limit)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// handleNoteCreate answers POST /api/customers/{id}/notes: 201 with the
// note, written by the logged-in user.
func (s *Server) handleNoteCreate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var req NoteRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	n := &ringdesk.Note{CustomerID: id, CallID: req.CallID, Body: req.Body, AuthorID: SessionFrom(r.Context()).User.ID}
	if err := s.Customers.CreateNote(r.Context(), n); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

// handleCaseCreate answers POST /api/customers/{id}/cases: 201 with the
// case, owned by the user who opened it.
func (s *Server) handleCaseCreate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var req CaseRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	k := &ringdesk.Case{CustomerID: id, CallID: req.CallID, Subject: req.Subject, Description: req.Description,
		Priority: req.Priority, Status: req.Status, OwnerID: SessionFrom(r.Context()).User.ID}
	if err := s.Customers.CreateCase(r.Context(), k); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

// handleCaseUpdate answers PATCH /api/cases/{id}: the case as stored, or
// 409 when someone saved it since the version in the body.
func (s *Server) handleCaseUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var upd ringdesk.CaseUpdate
	if err := readJSON(w, r, &upd); err != nil {
		s.Error(w, r, err)
		return
	}
	if upd.Version <= 0 {
		s.Error(w, r, ringdesk.Errorf(ringdesk.EINVALID, "version is required: the version of the case you edited."))
		return
	}
	k, err := s.Customers.UpdateCase(r.Context(), id, upd)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}
