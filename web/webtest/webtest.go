// Package webtest runs a real web.Server for tests: a fresh MySQL database
// (storetest), a private Redis site (routingtest), users with known
// passwords, and HTTP clients that log in like a browser (cookie jar, CSRF
// token). The browser tests drive the same server through Chromium (see
// Browser).
package webtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
	"github.com/ringdesk/ringdesk/web"
)

// Env is a running web server on private test stores.
type Env struct {
	DB       *store.DB
	Sessions *routing.WebStore
	Server   *web.Server
	URL      string // http://127.0.0.1:port
}

// Option changes the server before it opens (set services, settings).
type Option func(*Env)

// MustOpen starts a web server on 127.0.0.1:0 with a fresh database and
// Redis site, closed when the test ends. Options run before Open.
func MustOpen(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	db := storetest.MustOpenDB(tb, "GB")
	rdb, site := routingtest.MustRedis(tb)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := web.NewServer("127.0.0.1:0", logger, map[string]ringdesk.Pinger{"mysql": db}, prometheus.NewRegistry())
	e := &Env{DB: db, Sessions: routing.NewWebStore(rdb, site), Server: s}
	s.Users = db
	s.Sessions = e.Sessions
	s.Customers = db
	s.DeskCalls = db
	s.Callbacks = db
	for _, o := range opts {
		o(e)
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close(context.Background()) })
	e.URL = "http://" + s.Addr()
	return e
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Password is the login password MustCreateUser gives username.
func Password(username string) string { return "pw-" + username + "-secret" }

// MustCreateUser adds a user with the role and the password Password(username).
func (e *Env) MustCreateUser(tb testing.TB, username, role string) *ringdesk.User {
	tb.Helper()
	u := &ringdesk.User{Username: username, DisplayName: strings.ToUpper(username[:1]) + username[1:], Role: role}
	if err := e.DB.CreateUser(context.Background(), u, Password(username), ""); err != nil {
		tb.Fatal(err)
	}
	return u
}

// Client is a logged-in (or not) HTTP client: a cookie jar, no automatic
// redirects (so tests see them), and the session's CSRF token.
type Client struct {
	tb   testing.TB
	HTTP *http.Client
	Base string
	CSRF string
}

// NewClient returns a client of the test server with an empty cookie jar.
func (e *Env) NewClient(tb testing.TB) *Client { return NewClient(tb, e.URL) }

// NewClient returns a client of the server at base (http://host:port) with
// an empty cookie jar: for servers that serve runs, too.
func NewClient(tb testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{tb: tb, Base: base, HTTP: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// LoginAs logs the client in with the given password and keeps the CSRF
// token. It fails the test unless the login succeeds.
func (c *Client) LoginAs(username, password string) {
	c.tb.Helper()
	res, body := c.SubmitLogin(username, password, "")
	if res.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login %s: %d\n%s", username, res.StatusCode, body)
	}
	c.refreshCSRF()
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// Login logs username in with Password(username) through the login form
// and keeps the session's CSRF token. It fails the test unless the login
// succeeds.
func (e *Env) Login(tb testing.TB, username string) *Client {
	tb.Helper()
	c := e.NewClient(tb)
	c.LoginAs(username, Password(username))
	return c
}

// SubmitLogin fetches the login form and posts it, as a browser does.
func (c *Client) SubmitLogin(username, password, next string) (*http.Response, string) {
	c.tb.Helper()
	_, form := c.Do("GET", "/login", nil)
	m := csrfMeta.FindStringSubmatch(form)
	if m == nil {
		c.tb.Fatalf("login page without a CSRF token:\n%s", form)
	}
	return c.PostForm("/login", url.Values{"username": {username}, "password": {password}, "csrf": {m[1]}, "next": {next}})
}

func (c *Client) refreshCSRF() {
	c.tb.Helper()
	res, body := c.Do("GET", "/api/me", nil)
	if res.StatusCode != http.StatusOK {
		c.tb.Fatalf("GET /api/me: %d %s", res.StatusCode, body)
	}
	var me web.Me
	if err := json.Unmarshal([]byte(body), &me); err != nil {
		c.tb.Fatal(err)
	}
	c.CSRF = me.CSRF
}

// Do sends a request; body, when not nil, is sent as JSON. State-changing
// requests carry the CSRF token in X-CSRF-Token unless it is empty.
func (c *Client) Do(method, path string, body any) (*http.Response, string) {
	c.tb.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				c.tb.Fatal(err)
			}
			r = strings.NewReader(string(b))
		}
	}
	req, err := http.NewRequest(method, c.Base+path, r)
	if err != nil {
		c.tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" && method != "HEAD" && c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	return c.send(req)
}

// PostForm posts a form as a browser does (the form's csrf field is the
// caller's to set).
func (c *Client) PostForm(path string, v url.Values) (*http.Response, string) {
	c.tb.Helper()
	req, err := http.NewRequest("POST", c.Base+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

func (c *Client) send(req *http.Request) (*http.Response, string) {
	c.tb.Helper()
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return res, string(b)
}
