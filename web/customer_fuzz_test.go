package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// The JSON bodies the record page sends come from a browser, so from
// anyone: these targets send arbitrary bodies through the real server and
// MariaDB. Whatever the body, the answer is a success or a clear 4xx with a
// message, never a 5xx, and a refused request changes nothing.
//
//	go test -run '^$' -fuzz FuzzCustomerPatch -fuzztime 60s ./web/

// send is Client.Do for fuzz functions, which must report through their
// own t.
func send(t *testing.T, c *webtest.Client, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// VERSION in a fuzz body stands for the customer's current version, so
// that inputs reach validation and storage, not only the version check.
const versionMark = "VERSION"

func FuzzCustomerPatch(f *testing.F) {
	for _, s := range []string{
		`{"version":VERSION,"name":"Ada King"}`,
		`{"version":VERSION,"tags":["vip"," vip ","VIP","x"],"status":"prospect"}`,
		`{"version":VERSION,"phones":[{"label":"mobile","raw":"07700 900123"},{"label":"","raw":"not a number"}]}`,
		`{"version":VERSION,"phones":[{"label":"x","raw":"020 7946 0000 ext 1234567890123456789"}]}`,
		`{"version":VERSION,"email":"a@b","account_number":"A-1","address":"1 Road\n","notes":"\u0000"}`,
		`{"version":VERSION,"name":"\ud800"}`,
		`{"version":VERSION,"name":"","company":""}`,
		`{"version":VERSION,"tags":null,"phones":null}`,
		`{"version":1}`, `{"version":-1}`, `{"version":1e99}`, `{"version":VERSION,"phones":[{"id":"x"}]}`,
		`[]`, `null`, ``, `{`, `{"version":VERSION}{}`, `{"version":VERSION,"version":1}`,
	} {
		f.Add(s)
	}
	e := webtest.MustOpen(f)
	e.MustCreateUser(f, "alice", ringdesk.RoleAgent)
	c := e.Login(f, "alice")
	cust := mustCustomer(f, e, &ringdesk.Customer{Name: "Fuzz Target", AccountNumber: "A-0"})
	mustCustomer(f, e, &ringdesk.Customer{Name: "Other", AccountNumber: "A-1"})
	path := fmt.Sprintf("/api/customers/%d", cust.ID)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, body string) {
		before, err := e.DB.FindCustomerByID(ctx, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		body = strings.ReplaceAll(body, versionMark, strconv.FormatInt(before.Version, 10))
		status, resp := send(t, c, "PATCH", path, body)
		after, err := e.DB.FindCustomerByID(ctx, cust.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch status {
		case http.StatusOK:
			if after.Version != before.Version+1 {
				t.Fatalf("200 but version %d → %d", before.Version, after.Version)
			}
		case http.StatusBadRequest, http.StatusConflict:
			if e := decode[struct{ Message string }](t, resp); e.Message == "" {
				t.Fatalf("%d without a message: %s", status, resp)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("refused PATCH (%d %s) changed the customer:\n%+v\n%+v", status, resp, before, after)
			}
		default:
			t.Fatalf("PATCH %q = %d %s", body, status, resp)
		}
	})
}

func FuzzRecordBodies(f *testing.F) {
	// kind 0: a note, 1: a new case, 2: a case update (VERSION as above).
	for _, s := range []struct {
		kind uint8
		body string
	}{
		{0, `{"body":"Called back"}`}, {0, `{"body":"  "}`}, {0, `{"body":"a\u0000b"}`}, {0, `{"body":"x","call_id":"0192b6a0-0000-7000-8000-0000000000a1"}`},
		{0, `{"body":"x","call_id":"` + strings.Repeat("9", 40) + `"}`}, {0, `{"body":7}`},
		{1, `{"subject":"Broken","description":"d","priority":"high"}`}, {1, `{"subject":""}`}, {1, `{"subject":"s","status":"closed"}`},
		{1, `{"subject":"s","priority":"asap"}`}, {1, `{"subject":"\udfff"}`},
		{2, `{"version":VERSION,"status":"closed"}`}, {2, `{"version":VERSION,"status":"open","subject":"again"}`},
		{2, `{"version":VERSION,"owner_id":-5}`}, {2, `{"version":VERSION,"owner_id":12}`}, {2, `{"version":0}`}, {2, `{"version":VERSION,"priority":""}`},
	} {
		f.Add(s.kind, s.body)
	}
	e := webtest.MustOpen(f)
	e.MustCreateUser(f, "alice", ringdesk.RoleAgent)
	c := e.Login(f, "alice")
	cust := mustCustomer(f, e, &ringdesk.Customer{Name: "Fuzz Target"})
	ctx := context.Background()
	k := &ringdesk.Case{CustomerID: cust.ID, Subject: "Target"}
	if err := e.DB.CreateCase(ctx, k); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, kind uint8, body string) {
		notes, _ := e.DB.FindNotes(ctx, cust.ID, 500)
		cases, _ := e.DB.FindCustomerCases(ctx, cust.ID, 500)
		before, err := e.DB.FindCaseByID(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		var status int
		var resp string
		switch kind % 3 {
		case 0:
			status, resp = send(t, c, "POST", fmt.Sprintf("/api/customers/%d/notes", cust.ID), body)
		case 1:
			status, resp = send(t, c, "POST", fmt.Sprintf("/api/customers/%d/cases", cust.ID), body)
		case 2:
			body = strings.ReplaceAll(body, versionMark, strconv.FormatInt(before.Version, 10))
			status, resp = send(t, c, "PATCH", fmt.Sprintf("/api/cases/%d", k.ID), body)
		}
		switch status {
		case http.StatusOK, http.StatusCreated:
		case http.StatusBadRequest, http.StatusConflict:
			notes2, _ := e.DB.FindNotes(ctx, cust.ID, 500)
			cases2, _ := e.DB.FindCustomerCases(ctx, cust.ID, 500)
			after, _ := e.DB.FindCaseByID(ctx, k.ID)
			if len(notes2) != len(notes) || len(cases2) != len(cases) || !reflect.DeepEqual(before, after) {
				t.Fatalf("refused request (%d %s) changed the record", status, resp)
			}
		default:
			t.Fatalf("kind %d body %q = %d %s", kind%3, body, status, resp)
		}
	})
}
