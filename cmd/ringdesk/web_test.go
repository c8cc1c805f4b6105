package main

import (
	"context"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// TestServeDeskSocketTakesWebSession: serve wires the web login into the
// desk socket, so a browser that logged in opens its desk with the session
// cookie alone; an admin (who takes no calls) is refused, and so is a
// request without a session or token.
func TestServeDeskSocketTakesWebSession(t *testing.T) {
	cfg := testConfig(t)
	m := mustOpenMain(t, cfg)
	ctx := context.Background()
	for _, u := range []*ringdesk.User{{Username: "alice", Role: ringdesk.RoleAgent}, {Username: "root", Role: ringdesk.RoleAdmin}} {
		if err := m.DB.CreateUser(ctx, u, webtest.Password(u.Username), ""); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + m.HTTP.Addr()
	dial := func(c *webtest.Client) (*websocket.Conn, *http.Response, error) {
		d := websocket.Dialer{Jar: c.HTTP.Jar}
		return d.Dial("ws://"+m.HTTP.Addr()+"/desk/ws", http.Header{"Origin": {base}})
	}

	alice := webtest.NewClient(t, base)
	alice.LoginAs("alice", webtest.Password("alice"))
	conn, _, err := dial(alice)
	if err != nil {
		t.Fatalf("desk socket with a web session: %v", err)
	}
	var hello struct {
		Type    string `json:"type"`
		Payload struct {
			Username string `json:"username"`
		} `json:"payload"`
	}
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != agentdesk.TypeHello || hello.Payload.Username != "alice" {
		t.Fatalf("first message = %+v, %v", hello, err)
	}
	conn.Close()

	root := webtest.NewClient(t, base)
	root.LoginAs("root", webtest.Password("root"))
	if _, res, err := dial(root); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("admin desk socket: %v, %+v, want 403", err, res)
	}
	if _, res, err := dial(webtest.NewClient(t, base)); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous desk socket: %v, %+v, want 401", err, res)
	}
}
