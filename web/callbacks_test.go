package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web"
	"github.com/ringdesk/ringdesk/web/webtest"
)

func TestCallbacksAPI(t *testing.T) {
	e := webtest.MustOpen(t)
	ctx := context.Background()
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	e.MustCreateUser(t, "bob", ringdesk.RoleAgent)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, id := range []string{"0192b6a0-0000-7000-8000-0000000000c1", "0192b6a0-0000-7000-8000-0000000000c2"} {
		end := now.Add(time.Duration(i) * time.Second)
		if err := e.DB.CreateCall(ctx, &ringdesk.Call{ID: id, Direction: ringdesk.Inbound, CallerE164: "+442079460777",
			State: ringdesk.CallStateOverflowed, OfferedAt: now.Add(-time.Minute), EndedAt: &end, EndReason: ringdesk.EndReasonCallback}); err != nil {
			t.Fatal(err)
		}
	}
	a, b := e.Login(t, "alice"), e.Login(t, "bob")
	list := func(c *webtest.Client, query string) []ringdesk.Callback {
		t.Helper()
		res, body := c.Do("GET", "/api/callbacks"+query, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/callbacks%s: %d %s", query, res.StatusCode, body)
		}
		var out []ringdesk.Callback
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list(a, ""); len(got) != 2 || got[0].CallID != "0192b6a0-0000-7000-8000-0000000000c1" || got[0].Status != ringdesk.CallbackOpen {
		t.Fatalf("open worklist %+v", got)
	}

	t.Run("CloseOnce", func(t *testing.T) {
		path := "/api/callbacks/0192b6a0-0000-7000-8000-0000000000c1/close"
		if res, body := a.Do("POST", path, web.CloseCallbackRequest{Status: "done", Note: "called, sorted"}); res.StatusCode != http.StatusNoContent {
			t.Fatalf("alice closes: %d %s", res.StatusCode, body)
		}
		if res, _ := b.Do("POST", path, web.CloseCallbackRequest{Status: "cancelled"}); res.StatusCode != http.StatusConflict {
			t.Fatalf("bob closes the same one: %d, want 409", res.StatusCode)
		}
		done := list(b, "?status=done")
		if len(done) != 1 || done[0].Note != "called, sorted" || done[0].DoneAt == nil {
			t.Fatalf("done list %+v", done)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path string
			body               any
			want               int
		}{
			{"bad status filter", "GET", "/api/callbacks?status=soon", nil, http.StatusBadRequest},
			{"bad queue", "GET", "/api/callbacks?queue_id=x", nil, http.StatusBadRequest},
			{"bad limit", "GET", "/api/callbacks?limit=0", nil, http.StatusBadRequest},
			{"bad close status", "POST", "/api/callbacks/0192b6a0-0000-7000-8000-0000000000c2/close", web.CloseCallbackRequest{Status: "open"}, http.StatusBadRequest},
			{"unknown field", "POST", "/api/callbacks/0192b6a0-0000-7000-8000-0000000000c2/close", map[string]string{"status": "done", "who": "me"}, http.StatusBadRequest},
			{"not a callback", "POST", "/api/callbacks/nope/close", web.CloseCallbackRequest{Status: "done"}, http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if res, body := a.Do(tc.method, tc.path, tc.body); res.StatusCode != tc.want {
					t.Fatalf("%d %s, want %d", res.StatusCode, body, tc.want)
				}
			})
		}
		if got := list(a, ""); len(got) != 1 || got[0].CallID != "0192b6a0-0000-7000-8000-0000000000c2" {
			t.Fatalf("bad input changed the worklist: %+v", got)
		}
	})
	t.Run("Roles", func(t *testing.T) {
		root := e.Login(t, "root")
		if res, _ := root.Do("GET", "/api/callbacks", nil); res.StatusCode != http.StatusForbidden {
			t.Fatalf("admin: %d, want 403", res.StatusCode)
		}
		token := a.CSRF
		a.CSRF = ""
		res, _ := a.Do("POST", "/api/callbacks/0192b6a0-0000-7000-8000-0000000000c2/close", web.CloseCallbackRequest{Status: "done"})
		a.CSRF = token
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("close without CSRF: %d, want 403", res.StatusCode)
		}
	})
}
