package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk/web/webtest"
)

// TestMetricsToken: /metrics is open without a token set; with one, only
// a request bearing it gets the metrics, others 401 with a Bearer
// challenge.
func TestMetricsToken(t *testing.T) {
	get := func(t *testing.T, url, auth string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(b)
	}
	t.Run("Open", func(t *testing.T) {
		e := webtest.MustOpen(t)
		if code, _, body := get(t, e.URL, ""); code != 200 || !strings.Contains(body, "# TYPE") {
			t.Fatalf("GET /metrics without a token set = %d %.200s", code, body)
		}
	})
	t.Run("Token", func(t *testing.T) {
		const token = "0123456789abcdef-metrics"
		e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.MetricsToken = token })
		for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Bearer " + token + "x", token, "Basic " + token} {
			code, challenge, body := get(t, e.URL, auth)
			if code != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") || strings.Contains(body, "# TYPE") {
				t.Errorf("Authorization %q: %d %q %.100s, want 401 with a Bearer challenge", auth, code, challenge, body)
			}
		}
		if code, _, body := get(t, e.URL, "Bearer "+token); code != 200 || !strings.Contains(body, "# TYPE") {
			t.Fatalf("GET /metrics with the token = %d %.200s", code, body)
		}
	})
}
