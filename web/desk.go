package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/ringdesk/ringdesk"
)

// The agent desk: the page (desk.html, desk.js) and the API it calls for
// the call in hand. Pops, call progress and state arrive on the desk socket
// (agentdesk, /desk/ws); the page writes through these endpoints.

// deskConfig is what desk.js needs to start, embedded in the page as JSON.
type deskConfig struct {
	AgentID      string   `json:"agent_id"`
	Username     string   `json:"username"`
	Dispositions []string `json:"dispositions"`
	AwayReasons  []string `json:"away_reasons"`
}

func (s *Server) handleDesk(w http.ResponseWriter, r *http.Request) {
	u := SessionFrom(r.Context()).User
	s.render(w, r, "desk", Titled{Title: "Desk", Data: deskConfig{
		AgentID: strconv.FormatInt(u.ID, 10), Username: u.Username,
		Dispositions: s.Settings.Dispositions, AwayReasons: s.Settings.AwayReasons,
	}})
}

// DeskCard is the customer card of the desk: what a pop that matched one
// customer carries, returned when the agent picks or creates the customer.
type DeskCard struct {
	Customer    *ringdesk.Customer     `json:"customer"`
	RecentCalls []ringdesk.HistoryItem `json:"recent_calls"`
	OpenCases   []ringdesk.Case        `json:"open_cases"`
}

// deskHistoryLimit is how many timeline entries and open cases a card shows.
const deskHistoryLimit = 10

func (s *Server) deskCard(ctx context.Context, id int64) (*DeskCard, error) {
	c, err := s.Customers.FindCustomerByID(ctx, id)
	if err != nil {
		return nil, err
	}
	h, oc, err := s.Customers.CustomerActivity(ctx, id, deskHistoryLimit)
	if err != nil {
		return nil, err
	}
	return &DeskCard{Customer: c, RecentCalls: h, OpenCases: oc}, nil
}

// agentCall returns the call of the request's {id} when it was offered to
// the logged-in user: no agent touches another agent's call.
func (s *Server) agentCall(r *http.Request) (*ringdesk.Call, error) {
	id := r.PathValue("id")
	if !ringdesk.ValidDeskID(id) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "%q is not a call id.", id)
	}
	c, err := s.DeskCalls.FindCallByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if u := SessionFrom(r.Context()).User; c.AgentID != u.ID {
		return nil, ringdesk.Errorf(ringdesk.EFORBIDDEN, "This call was not offered to you.")
	}
	return c, nil
}

// LinkRequest is the body of POST /api/calls/{id}/link.
type LinkRequest struct {
	CustomerID int64 `json:"customer_id"`
}

// handleLinkCustomer logs the call against the customer the agent picked
// from a shared number's candidates, and returns that customer's card.
func (s *Server) handleLinkCustomer(w http.ResponseWriter, r *http.Request) {
	var req LinkRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	if req.CustomerID <= 0 {
		s.Error(w, r, ringdesk.Errorf(ringdesk.EINVALID, "customer_id must be a customer's id."))
		return
	}
	c, err := s.agentCall(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.DeskCalls.LinkCallCustomer(r.Context(), c.ID, req.CustomerID); err != nil {
		s.Error(w, r, err)
		return
	}
	card, err := s.deskCard(r.Context(), req.CustomerID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, card)
}

// NewCallerRequest is the body of POST /api/calls/{id}/customer: the
// new-customer form of an unknown caller's pop.
type NewCallerRequest struct {
	Name          string `json:"name"`
	Company       string `json:"company"`
	Email         string `json:"email"`
	AccountNumber string `json:"account_number"`
	Phone         string `json:"phone"`
	PhoneLabel    string `json:"phone_label"`
}

// handleCreateCaller creates the customer from an unknown caller's pop and
// logs the call against it, in one click; it answers 201 with the card.
func (s *Server) handleCreateCaller(w http.ResponseWriter, r *http.Request) {
	var req NewCallerRequest
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	call, err := s.agentCall(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	c := &ringdesk.Customer{Name: req.Name, Company: req.Company, Email: req.Email, AccountNumber: req.AccountNumber}
	if p := strings.TrimSpace(req.Phone); p != "" {
		label := strings.TrimSpace(req.PhoneLabel)
		if label == "" {
			label = "main"
		}
		c.Phones = []ringdesk.Phone{{Label: label, Raw: p}}
	}
	ctx := r.Context()
	if err := s.Customers.CreateCustomer(ctx, c); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.DeskCalls.LinkCallCustomer(ctx, call.ID, c.ID); err != nil {
		s.Error(w, r, err)
		return
	}
	card, err := s.deskCard(ctx, c.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, card)
}

// handleWrapUp saves the call's disposition and notes; the agent may save
// again until the next call (the last save counts).
func (s *Server) handleWrapUp(w http.ResponseWriter, r *http.Request) {
	var req ringdesk.WrapUp
	if err := readJSON(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := req.Validate(s.Settings.Dispositions); err != nil {
		s.Error(w, r, err)
		return
	}
	c, err := s.agentCall(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.DeskCalls.SaveWrapUp(r.Context(), c.ID, req); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}
