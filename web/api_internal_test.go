package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
)

func TestReadJSON(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name, ct, in, want string // want: a word of the message; "" for success
	}{
		{"OK", "application/json", `{"name":"a","count":2}`, ""},
		{"OKNoContentType", "", `{"name":"a"}`, ""},
		{"Empty", "application/json", ``, "empty"},
		{"Syntax", "application/json", `{"name":`, "ends too early"},
		{"Garbage", "application/json", `{"name" 1}`, "not valid JSON"},
		{"UnknownField", "application/json", `{"nmae":"a"}`, `"nmae"`},
		{"WrongType", "application/json", `{"count":"two"}`, `"count"`},
		{"TwoValues", "application/json", `{} {}`, "one JSON value"},
		{"NotJSON", "text/plain", `{}`, "Content-Type"},
		{"TooBig", "application/json", `{"name":"` + strings.Repeat("x", MaxJSONBody) + `"}`, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/x", strings.NewReader(tt.in))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			var b body
			err := readJSON(httptest.NewRecorder(), r, &b)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if ringdesk.ErrorCode(err) != ringdesk.EINVALID || !strings.Contains(ringdesk.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %v, want invalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	for code, want := range map[string]int{
		ringdesk.EINVALID: 400, ringdesk.EUNAUTHORIZED: 401, ringdesk.EFORBIDDEN: 403, ringdesk.ENOTFOUND: 404,
		ringdesk.ECONFLICT: 409, ringdesk.EUNAVAILABLE: 503, ringdesk.EINTERNAL: 500,
	} {
		if got := errorStatus(code); got != want {
			t.Errorf("errorStatus(%s) = %d, want %d", code, got, want)
		}
	}
	if got := errorStatus(ringdesk.ErrorCode(errors.New("boom"))); got != http.StatusInternalServerError {
		t.Errorf("plain error = %d", got)
	}
}
