package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
)

// FuzzReadJSON feeds arbitrary bodies from the browser to readJSON with each
// request type the API decodes: it never panics, and every failure is an
// EINVALID (a 400 with a message), never an internal error.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		`{"customer_id":12}`, `{"status":"done","note":"called back"}`, `{"disposition":"resolved","notes":"ok"}`,
		`{"name":"Ada","phones":[{"label":"work","raw":"020 7946 0555"}]}`, `{}`, `[]`, `null`, `{"a":`,
		`{"customer_id":1e400}`, `{"note":"\ud800"}`, `{} {}`, "\xff\xfe", `{"status":["done"]}`,
	} {
		f.Add(s)
	}
	targets := []func() any{
		func() any { return new(LinkRequest) },
		func() any { return new(NewCallerRequest) },
		func() any { return new(CloseCallbackRequest) },
		func() any { return new(ringdesk.WrapUp) },
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, target := range targets {
			r := httptest.NewRequest("POST", "/api/x", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			err := readJSON(httptest.NewRecorder(), r, target())
			if err != nil && ringdesk.ErrorCode(err) != ringdesk.EINVALID {
				t.Fatalf("body %q: %v (code %q), want EINVALID", body, err, ringdesk.ErrorCode(err))
			}
		}
	})
}
