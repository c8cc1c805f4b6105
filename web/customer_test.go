package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web"
	"github.com/ringdesk/ringdesk/web/webtest"
)

const xssName = `<img src=x onerror=alert(1)>`

func mustCustomer(t testing.TB, e *webtest.Env, c *ringdesk.Customer) *ringdesk.Customer {
	t.Helper()
	if err := e.DB.CreateCustomer(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func decode[T any](t testing.TB, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

func TestCustomerPages(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	e.MustCreateUser(t, "sam", ringdesk.RoleSupervisor)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	ada := mustCustomer(t, e, &ringdesk.Customer{Name: "Ada Lovelace", Company: "Engines & Co", Tags: []string{"vip"},
		Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}, {Label: "work", Raw: "020 7946 0001"}}})
	evil := mustCustomer(t, e, &ringdesk.Customer{Name: xssName, Company: `"><script>alert(2)</script>`,
		Tags: []string{`<b>t</b>`}, Phones: []ringdesk.Phone{{Label: `<i>l</i>`, Raw: "020 7946 0002"}}})
	if err := e.DB.CreateNote(context.Background(), &ringdesk.Note{CustomerID: evil.ID, Body: `<script>alert(3)</script>`}); err != nil {
		t.Fatal(err)
	}

	for _, user := range []string{"alice", "sam", "root"} {
		t.Run("Search/"+user, func(t *testing.T) {
			res, body := e.Login(t, user).Do("GET", "/customers?q=ada", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /customers = %d", res.StatusCode)
			}
			for _, want := range []string{fmt.Sprintf(`href="/customers/%d"`, ada.ID), "Ada Lovelace", "Engines &amp; Co",
				"07700 900123", "customers.js?v=", `value="ada"`} {
				if !strings.Contains(body, want) {
					t.Errorf("search page lacks %q", want)
				}
			}
		})
	}
	a := e.Login(t, "alice")
	t.Run("RecordPage", func(t *testing.T) {
		res, body := a.Do("GET", fmt.Sprintf("/customers/%d", ada.ID), nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("record page = %d", res.StatusCode)
		}
		for _, want := range []string{`<h1 id="customer-name">Ada Lovelace</h1>`, `data-version="1"`, `value="mobile"`,
			`value="07700 900123"`, `<span class="tag">vip</span>`, "customer.js?v=", "records.css?v=", "<title>Ada Lovelace · Ringdesk</title>"} {
			if !strings.Contains(body, want) {
				t.Errorf("record page lacks %q", want)
			}
		}
	})
	t.Run("Escaping", func(t *testing.T) {
		for _, path := range []string{fmt.Sprintf("/customers/%d", evil.ID), "/customers?q=%3Cimg", "/customers"} {
			_, body := a.Do("GET", path, nil)
			for _, bad := range []string{"<img src=x", "<script>alert", "<b>t</b>", "<i>l</i>"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s: %q is in the page unescaped", path, bad)
				}
			}
			if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
				t.Errorf("%s: the name is not shown as text", path)
			}
		}
	})
	t.Run("FromCall", func(t *testing.T) {
		own := &ringdesk.Call{ID: "0192b6a0-0000-7000-8000-0000000000f1", Direction: ringdesk.Inbound, CallerRaw: "<b>07700 900123</b>",
			CustomerID: ada.ID, State: ringdesk.CallStateEnded, OfferedAt: time.Now().UTC()}
		other := &ringdesk.Call{ID: "0192b6a0-0000-7000-8000-0000000000f2", Direction: ringdesk.Inbound,
			CustomerID: evil.ID, State: ringdesk.CallStateEnded, OfferedAt: time.Now().UTC()}
		for _, c := range []*ringdesk.Call{own, other} {
			if err := e.DB.CreateCall(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			call string
			want bool
		}{{own.ID, true}, {other.ID, false}, {"no-such-call", false}, {"bad id", false}} {
			_, body := a.Do("GET", fmt.Sprintf("/customers/%d?call=%s", ada.ID, url.QueryEscape(tt.call)), nil)
			if got := strings.Contains(body, `id="from-call"`); got != tt.want {
				t.Errorf("call %q: linked = %v, want %v", tt.call, got, tt.want)
			}
			if tt.want && !strings.Contains(body, "from &lt;b&gt;07700 900123&lt;/b&gt;") {
				t.Errorf("call %q: the caller is not shown as text", tt.call)
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, path := range []string{"/customers/999999", "/customers/abc", "/customers/-1", "/customers/99999999999999999999"} {
			if res, _ := a.Do("GET", path, nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
			}
		}
	})
	t.Run("LoggedOut", func(t *testing.T) {
		c := e.NewClient(t)
		if res, _ := c.Do("GET", "/customers", nil); res.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Errorf("logged-out page = %d %s, want a redirect to the login", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := c.Do("GET", "/api/customers?q=ada", nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("logged-out API = %d, want 401", res.StatusCode)
		}
	})
}

func TestCustomerAPI(t *testing.T) {
	e := webtest.MustOpen(t)
	ctx := context.Background()
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	bob := e.MustCreateUser(t, "bob", ringdesk.RoleAgent)
	a, b := e.Login(t, "alice"), e.Login(t, "bob")
	ada := mustCustomer(t, e, &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Engines", Email: "ada@example.com",
		AccountNumber: "ACC-1", Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}}})
	mustCustomer(t, e, &ringdesk.Customer{Name: "Charles Babbage", Company: "Difference Ltd", Email: "cb@example.org", AccountNumber: "ACC-2"})
	path := fmt.Sprintf("/api/customers/%d", ada.ID)

	t.Run("Search", func(t *testing.T) {
		for _, tt := range []struct{ q, want string }{
			{"ad", "Ada Lovelace"}, {"lovel", "Ada Lovelace"}, {"analyt", "Ada Lovelace"}, {"ada@ex", "Ada Lovelace"},
			{"ACC-2", "Charles Babbage"}, {"07700 90", "Ada Lovelace"}, {"+44 7700", "Ada Lovelace"}, {"diff", "Charles Babbage"},
			{"zzz", ""},
		} {
			res, body := a.Do("GET", "/api/customers?q="+url.QueryEscape(tt.q), nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("q=%q: %d %s", tt.q, res.StatusCode, body)
			}
			p := decode[web.CustomerPage](t, body)
			var names []string
			for _, c := range p.Customers {
				names = append(names, c.Name)
			}
			if got := strings.Join(names, ","); got != tt.want {
				t.Errorf("q=%q found %q, want %q", tt.q, got, tt.want)
			}
		}
		for _, q := range []string{"offset=-1", "offset=x", "limit=0", "limit=101", "q=" + strings.Repeat("a", 201)} {
			if res, _ := a.Do("GET", "/api/customers?"+q, nil); res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s = %d, want 400", q, res.StatusCode)
			}
		}
		res, body := a.Do("GET", "/api/customers?limit=1", nil)
		if p := decode[web.CustomerPage](t, body); res.StatusCode != 200 || len(p.Customers) != 1 || !p.More || p.NextOffset != 1 {
			t.Errorf("limit=1: %d %+v", res.StatusCode, p)
		}
	})

	t.Run("Get", func(t *testing.T) {
		res, body := a.Do("GET", path, nil)
		rec := decode[web.CustomerRecord](t, body)
		if res.StatusCode != http.StatusOK || rec.Customer.ID != ada.ID || rec.Cases == nil || rec.History == nil {
			t.Fatalf("GET = %d %s", res.StatusCode, body)
		}
		if res, _ := a.Do("GET", "/api/customers/424242", nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("unknown customer = %d, want 404", res.StatusCode)
		}
	})

	t.Run("EditConflict", func(t *testing.T) {
		// Both agents opened version 1. Alice saves first; Bob is told and
		// nothing of his is written.
		res, body := a.Do("PATCH", path, map[string]any{"version": 1, "name": "Ada King", "tags": []string{"vip", "vip", "math"},
			"phones": []map[string]string{{"label": "mobile", "raw": "07700 900123"}, {"label": "home", "raw": "020 7946 0100"}}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("first edit = %d %s", res.StatusCode, body)
		}
		got := decode[ringdesk.Customer](t, body)
		if got.Version != 2 || got.Name != "Ada King" || !reflect.DeepEqual(got.Tags, []string{"vip", "math"}) || len(got.Phones) != 2 {
			t.Fatalf("after the first edit: %+v", got)
		}
		res, body = b.Do("PATCH", path, map[string]any{"version": 1, "name": "Ada Byron", "email": "byron@example.com"})
		if res.StatusCode != http.StatusConflict {
			t.Fatalf("second edit = %d %s, want 409", res.StatusCode, body)
		}
		if e := decode[web.APIError](t, body); e.Code != ringdesk.ECONFLICT || !strings.Contains(e.Message, "changed by someone else") {
			t.Errorf("conflict body %+v", e)
		}
		stored, _ := e.DB.FindCustomerByID(ctx, ada.ID)
		if stored.Name != "Ada King" || stored.Email != "ada@example.com" || stored.Version != 2 || len(stored.Phones) != 2 {
			t.Fatalf("stored after the refused edit: %+v", stored)
		}
	})

	t.Run("EditRefused", func(t *testing.T) {
		before, _ := e.DB.FindCustomerByID(ctx, ada.ID)
		for _, tt := range []struct {
			name string
			body any
			code int
		}{
			{"NoVersion", `{"name":"X"}`, 400},
			{"BadEmail", map[string]any{"version": 2, "email": "nope"}, 400},
			{"EmptyName", map[string]any{"version": 2, "name": "", "company": ""}, 400},
			{"BadStatus", map[string]any{"version": 2, "status": "gold"}, 400},
			{"TagComma", map[string]any{"version": 2, "tags": []string{"a,b"}}, 400},
			{"EmptyPhone", map[string]any{"version": 2, "phones": []map[string]string{{"label": "x", "raw": ""}}}, 400},
			{"UnknownField", `{"version":2,"nmae":"X"}`, 400},
			{"WrongType", `{"version":"2"}`, 400},
			{"NotJSON", `name=X`, 400},
			{"TwoValues", `{"version":2}{"version":2}`, 400},
			{"TakenAccount", map[string]any{"version": 2, "account_number": "ACC-2"}, 409},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res, body := a.Do("PATCH", path, tt.body)
				if res.StatusCode != tt.code {
					t.Fatalf("= %d %s, want %d", res.StatusCode, body, tt.code)
				}
				if e := decode[web.APIError](t, body); e.Message == "" {
					t.Error("no message")
				}
			})
		}
		after, _ := e.DB.FindCustomerByID(ctx, ada.ID)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("refused edits changed the customer:\n%+v\n%+v", before, after)
		}
		token := a.CSRF
		a.CSRF = ""
		res, _ := a.Do("PATCH", path, map[string]any{"version": 2, "name": "No token"})
		a.CSRF = token
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("PATCH without CSRF = %d, want 403", res.StatusCode)
		}
	})

	t.Run("Create", func(t *testing.T) {
		res, body := a.Do("POST", "/api/customers", web.NewCustomerRequest{Name: "Grace Hopper",
			Phones: []ringdesk.Phone{{Label: "main", Raw: "020 7946 0300"}}})
		c := decode[ringdesk.Customer](t, body)
		if res.StatusCode != http.StatusCreated || c.ID == 0 || res.Header.Get("Location") != fmt.Sprintf("/customers/%d", c.ID) {
			t.Fatalf("create = %d %s", res.StatusCode, body)
		}
		if res, _ := a.Do("POST", "/api/customers", web.NewCustomerRequest{Email: "x@example.com"}); res.StatusCode != 400 {
			t.Errorf("create without name = %d, want 400", res.StatusCode)
		}
	})

	t.Run("NotesAndCases", func(t *testing.T) {
		res, body := b.Do("POST", path+"/notes", web.NoteRequest{Body: "Prefers email. <b>not bold</b>"})
		n := decode[ringdesk.Note](t, body)
		if res.StatusCode != http.StatusCreated || n.AuthorID != bob.ID || n.CustomerID != ada.ID {
			t.Fatalf("note = %d %s", res.StatusCode, body)
		}
		if res, _ := b.Do("POST", path+"/notes", web.NoteRequest{Body: "  "}); res.StatusCode != 400 {
			t.Errorf("empty note = %d, want 400", res.StatusCode)
		}
		if res, _ := b.Do("POST", "/api/customers/424242/notes", web.NoteRequest{Body: "x"}); res.StatusCode != 404 {
			t.Errorf("note on unknown customer = %d, want 404", res.StatusCode)
		}

		res, body = b.Do("POST", path+"/cases", web.CaseRequest{Subject: "Engine jammed", Description: "Gear 4", Priority: "high"})
		k := decode[ringdesk.Case](t, body)
		if res.StatusCode != http.StatusCreated || k.Status != ringdesk.CaseOpen || k.OwnerID != bob.ID || k.Version != 1 {
			t.Fatalf("case = %d %s", res.StatusCode, body)
		}
		for _, bad := range []web.CaseRequest{{}, {Subject: "x", Priority: "asap"}, {Subject: "x", Status: "done"}} {
			if res, body := b.Do("POST", path+"/cases", bad); res.StatusCode != 400 {
				t.Errorf("case %+v = %d %s, want 400", bad, res.StatusCode, body)
			}
		}
		casePath := fmt.Sprintf("/api/cases/%d", k.ID)
		res, body = a.Do("PATCH", casePath, map[string]any{"version": 1, "status": "pending", "priority": "urgent"})
		if got := decode[ringdesk.Case](t, body); res.StatusCode != 200 || got.Status != "pending" || got.Priority != "urgent" || got.Version != 2 {
			t.Fatalf("update case = %d %s", res.StatusCode, body)
		}
		// Bob still holds version 1: his close is refused.
		if res, body := b.Do("PATCH", casePath, map[string]any{"version": 1, "status": "closed"}); res.StatusCode != http.StatusConflict {
			t.Fatalf("stale close = %d %s, want 409", res.StatusCode, body)
		}
		if res, _ := b.Do("PATCH", casePath, map[string]any{"status": "closed"}); res.StatusCode != 400 {
			t.Errorf("case update without version = %d, want 400", res.StatusCode)
		}
		if res, _ := b.Do("PATCH", "/api/cases/424242", map[string]any{"version": 1, "status": "closed"}); res.StatusCode != 404 {
			t.Errorf("unknown case = %d, want 404", res.StatusCode)
		}
		res, body = b.Do("PATCH", casePath, map[string]any{"version": 2, "status": "closed"})
		if got := decode[ringdesk.Case](t, body); res.StatusCode != 200 || got.ClosedAt == nil {
			t.Fatalf("close = %d %s", res.StatusCode, body)
		}

		res, body = a.Do("GET", path+"/history", nil)
		h := decode[[]ringdesk.HistoryItem](t, body)
		if res.StatusCode != 200 || len(h) != 2 {
			t.Fatalf("history = %d %s", res.StatusCode, body)
		}
		kinds := map[string]ringdesk.HistoryItem{}
		for _, it := range h {
			kinds[it.Kind] = it
		}
		if kinds["note"].Body != "Prefers email. <b>not bold</b>" || kinds["case"].Title != "Engine jammed" || kinds["case"].Status != "closed" ||
			kinds["note"].Author != "Bob" || kinds["case"].Author != "Bob" {
			t.Errorf("history %+v", h)
		}
		for _, q := range []string{"?limit=0", "?limit=x", "?limit=501"} {
			if res, _ := a.Do("GET", path+"/history"+q, nil); res.StatusCode != 400 {
				t.Errorf("history%s = %d, want 400", q, res.StatusCode)
			}
		}
		if res, _ := a.Do("GET", "/api/customers/424242/history", nil); res.StatusCode != 404 {
			t.Errorf("history of unknown customer = %d, want 404", res.StatusCode)
		}
		// The record page shows the note as text and the closed case.
		_, page := a.Do("GET", fmt.Sprintf("/customers/%d", ada.ID), nil)
		for _, want := range []string{"Prefers email. &lt;b&gt;not bold&lt;/b&gt;", "Engine jammed", `class="badge case-closed"`} {
			if !strings.Contains(page, want) {
				t.Errorf("record page lacks %q", want)
			}
		}
	})
}

// upload posts a CSV file to the import page as the browser's form does.
func upload(t *testing.T, c *webtest.Client, name, content string, withToken bool) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if withToken {
		mw.WriteField("csrf", c.CSRF)
	}
	fw, _ := mw.CreateFormFile("file", name)
	io.WriteString(fw, content)
	mw.Close()
	req, _ := http.NewRequest("POST", c.Base+"/admin/import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestImportPage(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	e.MustCreateUser(t, "sam", ringdesk.RoleSupervisor)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	root := e.Login(t, "root")
	file := "name,email,phone,account_number\n" +
		"Ada Lovelace,ada@example.com,020 7946 0001,A-1\n" +
		"Bad Mail,not-an-email,,A-2\n" +
		`"<img src=x onerror=alert(1)>",x@example.com,,A-3` + "\n"

	t.Run("AdminOnly", func(t *testing.T) {
		for _, user := range []string{"alice", "sam"} {
			c := e.Login(t, user)
			if res, _ := c.Do("GET", "/admin/import", nil); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s GET /admin/import = %d, want 403", user, res.StatusCode)
			}
			if res, _ := upload(t, c, "x.csv", file, true); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST /admin/import = %d, want 403", user, res.StatusCode)
			}
		}
		if page, _, _ := e.DB.FindCustomers(context.Background(), ringdesk.CustomerFilter{}); len(page) != 0 {
			t.Fatalf("refused imports stored %d customers", len(page))
		}
		if res, body := root.Do("GET", "/admin/import", nil); res.StatusCode != 200 || !strings.Contains(body, `enctype="multipart/form-data"`) {
			t.Errorf("admin GET /admin/import = %d", res.StatusCode)
		}
	})
	t.Run("NeedsCSRF", func(t *testing.T) {
		if res, _ := upload(t, root, "x.csv", file, false); res.StatusCode != http.StatusForbidden {
			t.Errorf("upload without token = %d, want 403", res.StatusCode)
		}
	})
	t.Run("Report", func(t *testing.T) {
		res, body := upload(t, root, "people <1>.csv", file, true)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("import = %d\n%s", res.StatusCode, body)
		}
		for _, want := range []string{`<dd id="rep-rows">3</dd>`, `<dd id="rep-created">2</dd>`, `<dd id="rep-failed">1</dd>`,
			`<tr><td>3</td><td>Email &#34;not-an-email&#34; is not an email address.</td></tr>`, "people &lt;1&gt;.csv"} {
			if !strings.Contains(body, want) {
				t.Errorf("report lacks %q\n%s", want, body)
			}
		}
		// Again: the importer is idempotent.
		_, body = upload(t, root, "x.csv", file, true)
		if !strings.Contains(body, `<dd id="rep-unchanged">2</dd>`) {
			t.Errorf("second import does not report 2 unchanged")
		}
	})
	t.Run("Refused", func(t *testing.T) {
		res, body := upload(t, root, "x.csv", "email,phone\nx@example.com,1\n", true)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="import-error"`) || strings.Contains(body, "import-report") {
			t.Errorf("file without name column = %d\n%s", res.StatusCode, body)
		}
		res, body = root.PostForm("/admin/import", map[string][]string{"csrf": {root.CSRF}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Choose a CSV file") {
			t.Errorf("no file = %d\n%s", res.StatusCode, body)
		}
	})
}
