package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// mustCall logs an inbound call offered to agent from the number.
func mustCall(t *testing.T, e *webtest.Env, id string, agent *ringdesk.User, e164 string) *ringdesk.Call {
	t.Helper()
	c := &ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerE164: e164, CallerRaw: e164, AgentID: agent.ID,
		State: ringdesk.CallStateAnswered, OfferedAt: time.Now().UTC()}
	if err := e.DB.CreateCall(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeskPage(t *testing.T) {
	e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.Dispositions = []string{"resolved", "<b>odd</b>"} })
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	_, body := e.Login(t, "alice").Do("GET", "/desk", nil)
	for _, want := range []string{`id="desk-config"`, `<option value="resolved">resolved</option>`, "&lt;b&gt;odd&lt;/b&gt;", "desk.js?v="} {
		if !strings.Contains(body, want) {
			t.Errorf("desk page lacks %q", want)
		}
	}
}

func TestDeskAPI(t *testing.T) {
	e := webtest.MustOpen(t)
	ctx := context.Background()
	alice := e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	bob := e.MustCreateUser(t, "bob", ringdesk.RoleAgent)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	a := e.Login(t, "alice")
	ada := &ringdesk.Customer{Name: "Ada", Tags: []string{"vip"}, Phones: []ringdesk.Phone{{Raw: "020 7946 0555"}}}
	if err := e.DB.CreateCustomer(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.CreateCase(ctx, &ringdesk.Case{CustomerID: ada.ID, Subject: "Broken engine"}); err != nil {
		t.Fatal(err)
	}
	call := mustCall(t, e, "0192b6a0-0000-7000-8000-0000000000a1", alice, "+442079460555")
	bobs := mustCall(t, e, "0192b6a0-0000-7000-8000-0000000000b1", bob, "+442079460555")

	t.Run("LinkNeedsCSRF", func(t *testing.T) {
		token := a.CSRF
		a.CSRF = ""
		res, _ := a.Do("POST", "/api/calls/"+call.ID+"/link", web.LinkRequest{CustomerID: ada.ID})
		a.CSRF = token
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("link without CSRF = %d, want 403", res.StatusCode)
		}
		if c, _ := e.DB.FindCallByID(ctx, call.ID); c.CustomerID != 0 {
			t.Fatalf("refused link changed the call: %+v", c)
		}
	})
	t.Run("Link", func(t *testing.T) {
		res, body := a.Do("POST", "/api/calls/"+call.ID+"/link", web.LinkRequest{CustomerID: ada.ID})
		var card web.DeskCard
		if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &card) != nil {
			t.Fatalf("link = %d %s", res.StatusCode, body)
		}
		if card.Customer.ID != ada.ID || len(card.OpenCases) != 1 || len(card.RecentCalls) == 0 {
			t.Fatalf("card = %+v", card)
		}
		if c, _ := e.DB.FindCallByID(ctx, call.ID); c.CustomerID != ada.ID {
			t.Fatalf("call not linked: %+v", c)
		}
	})
	t.Run("NotYourCall", func(t *testing.T) {
		for _, path := range []string{"/link", "/wrapup", "/customer"} {
			var body any = web.LinkRequest{CustomerID: ada.ID}
			if path == "/wrapup" {
				body = ringdesk.WrapUp{Disposition: "resolved"}
			} else if path == "/customer" {
				body = web.NewCallerRequest{Name: "Eve"}
			}
			if res, b := a.Do("POST", "/api/calls/"+bobs.ID+path, body); res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s on bob's call = %d %s, want 403", path, res.StatusCode, b)
			}
		}
		if c, _ := e.DB.FindCallByID(ctx, bobs.ID); c.CustomerID != 0 || c.Disposition != "" {
			t.Fatalf("bob's call changed: %+v", c)
		}
	})
	t.Run("AdminHasNoDesk", func(t *testing.T) {
		if res, _ := e.Login(t, "root").Do("POST", "/api/calls/"+call.ID+"/wrapup", ringdesk.WrapUp{Disposition: "resolved"}); res.StatusCode != http.StatusForbidden {
			t.Fatalf("admin wrap-up = %d, want 403", res.StatusCode)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, tt := range []struct{ path, body string }{
			{"/link", `{"customer_id":0}`},
			{"/link", `{"customer":1}`},
			{"/link", `{"customer_id":`},
			{"/wrapup", `{"disposition":"sold-a-llama"}`},
			{"/wrapup", `{"disposition":"","notes":" "}`},
			{"/customer", `{"name":"","company":""}`},
		} {
			res, body := a.Do("POST", "/api/calls/"+call.ID+tt.path, tt.body)
			var ae web.APIError
			if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &ae) != nil || ae.Code != ringdesk.EINVALID || ae.Message == "" {
				t.Errorf("POST %s %s = %d %s, want 400 with a message", tt.path, tt.body, res.StatusCode, body)
			}
		}
		if res, _ := a.Do("POST", "/api/calls/no-such-call/link", web.LinkRequest{CustomerID: ada.ID}); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown call = %d, want 404", res.StatusCode)
		}
		if res, _ := a.Do("POST", "/api/calls/"+call.ID+"/link", web.LinkRequest{CustomerID: ada.ID + 999}); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown customer = %d, want 404", res.StatusCode)
		}
	})
	t.Run("WrapUpOnTheTimeline", func(t *testing.T) {
		res, body := a.Do("POST", "/api/calls/"+call.ID+"/wrapup", ringdesk.WrapUp{Disposition: "resolved", Notes: "Sent a new <engine>."})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("wrap-up = %d %s", res.StatusCode, body)
		}
		h, err := e.DB.CustomerHistory(ctx, ada.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range h {
			found = found || (it.Kind == "call" && it.ID == call.ID && strings.HasSuffix(it.Status, ": resolved") && it.Body == "Sent a new <engine>.")
		}
		if !found {
			t.Fatalf("wrap-up not on the timeline: %+v", h)
		}
	})
	t.Run("CreateCaller", func(t *testing.T) {
		unknown := mustCall(t, e, "0192b6a0-0000-7000-8000-0000000000a2", alice, "+442079460777")
		res, body := a.Do("POST", "/api/calls/"+unknown.ID+"/customer", web.NewCallerRequest{Name: "Grace Hopper", Phone: "+442079460777"})
		var card web.DeskCard
		if res.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &card) != nil {
			t.Fatalf("create = %d %s", res.StatusCode, body)
		}
		c, err := e.DB.FindCallByID(ctx, unknown.ID)
		if err != nil || c.CustomerID != card.Customer.ID || card.Customer.Name != "Grace Hopper" {
			t.Fatalf("call = %+v, card = %+v, %v", c, card, err)
		}
		if cs, _ := e.DB.LookupByPhone(ctx, "+442079460777"); len(cs) != 1 || cs[0].ID != card.Customer.ID {
			t.Fatalf("the new customer does not have the caller's number: %+v", cs)
		}
	})
}
