package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	mp "mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web"
	"github.com/ringdesk/ringdesk/web/webtest"
)

func TestLogin(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)

	t.Run("PageRedirectsToLogin", func(t *testing.T) {
		c := e.NewClient(t)
		res, _ := c.Do("GET", "/desk?x=1", nil)
		if got, want := res.StatusCode, http.StatusSeeOther; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got, want := res.Header.Get("Location"), "/login?next="+url.QueryEscape("/desk?x=1"); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
	})
	t.Run("APIIs401", func(t *testing.T) {
		c := e.NewClient(t)
		res, body := c.Do("GET", "/api/me", nil)
		var ae web.APIError
		if res.StatusCode != http.StatusUnauthorized || json.Unmarshal([]byte(body), &ae) != nil || ae.Code != ringdesk.EUNAUTHORIZED {
			t.Fatalf("GET /api/me = %d %s, want 401 JSON", res.StatusCode, body)
		}
	})
	t.Run("WrongPasswordAndUnknownUserLookAlike", func(t *testing.T) {
		c := e.NewClient(t)
		res1, body1 := c.SubmitLogin("alice", "wrong-password", "")
		res2, body2 := c.SubmitLogin("nobody", "wrong-password", "")
		if res1.StatusCode != http.StatusUnauthorized || res2.StatusCode != http.StatusUnauthorized {
			t.Fatalf("statuses = %d, %d, want 401", res1.StatusCode, res2.StatusCode)
		}
		for _, b := range []string{body1, body2} {
			if !strings.Contains(b, "Wrong user name or password.") {
				t.Errorf("login failure does not say so:\n%s", b)
			}
		}
	})
	t.Run("OK", func(t *testing.T) {
		c := e.NewClient(t)
		res, body := c.SubmitLogin("alice", webtest.Password("alice"), "")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/desk" {
			t.Fatalf("login = %d %q %s", res.StatusCode, res.Header.Get("Location"), body)
		}
		var cookie string
		for _, h := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(h, web.SessionCookie+"=") {
				cookie = h
			}
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(cookie, attr) {
				t.Errorf("session cookie %q lacks %s", cookie, attr)
			}
		}
		if strings.Contains(cookie, "Secure") {
			t.Errorf("session cookie %q is Secure on plain HTTP without web.secure_cookies", cookie)
		}
		res, body = c.Do("GET", "/desk", nil)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Alice") {
			t.Fatalf("GET /desk = %d\n%s", res.StatusCode, body)
		}
		// Logged in, the login page sends you home.
		if res, _ := c.Do("GET", "/login", nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("GET /login when logged in = %d, want 303", res.StatusCode)
		}
	})
	t.Run("NextStaysOnSite", func(t *testing.T) {
		for next, want := range map[string]string{"/customers?q=ada": "/customers?q=ada", "//evil.example/": "/desk",
			"/\\evil.example": "/desk", "https://evil.example/": "/desk"} {
			c := e.NewClient(t)
			res, _ := c.SubmitLogin("alice", webtest.Password("alice"), next)
			if got := res.Header.Get("Location"); got != want {
				t.Errorf("next=%q: redirected to %q, want %q", next, got, want)
			}
		}
	})
	t.Run("LoginFormWithoutItsToken", func(t *testing.T) {
		c := e.NewClient(t)
		res, _ := c.PostForm("/login", url.Values{"username": {"alice"}, "password": {webtest.Password("alice")}, "csrf": {"forged"}})
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("login without the form's token = %d, want 403", res.StatusCode)
		}
	})
}

func TestSecureCookies(t *testing.T) {
	e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.SecureCookies = true })
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	c := e.NewClient(t)
	res, _ := c.SubmitLogin("alice", webtest.Password("alice"), "")
	for _, h := range res.Header.Values("Set-Cookie") {
		if !strings.Contains(h, "Secure") {
			t.Errorf("cookie %q is not Secure with web.secure_cookies", h)
		}
	}
}

func TestLogoutAndCSRF(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	c := e.Login(t, "alice")

	t.Run("NoToken", func(t *testing.T) {
		token := c.CSRF
		c.CSRF = ""
		defer func() { c.CSRF = token }()
		res, body := c.Do("POST", "/logout", nil)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("logout without CSRF = %d %s, want 403", res.StatusCode, body)
		}
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusOK {
			t.Fatalf("the refused logout ended the session: %d", res.StatusCode)
		}
	})
	t.Run("WrongToken", func(t *testing.T) {
		res, _ := c.PostForm("/logout", url.Values{"csrf": {c.CSRF + "x"}})
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("logout with a wrong token = %d, want 403", res.StatusCode)
		}
	})
	t.Run("CrossSite", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.URL+"/logout", nil)
		req.Header.Set("X-CSRF-Token", c.CSRF)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST = %d, want 403", res.StatusCode)
		}
	})
	t.Run("FormToken", func(t *testing.T) {
		res, _ := c.PostForm("/logout", url.Values{"csrf": {c.CSRF}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
			t.Fatalf("logout = %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after logout GET /api/me = %d, want 401", res.StatusCode)
		}
	})
}

func TestRoles(t *testing.T) {
	e := webtest.MustOpen(t)
	for _, u := range []struct{ name, role string }{{"agent", ringdesk.RoleAgent}, {"sup", ringdesk.RoleSupervisor}, {"root", ringdesk.RoleAdmin}} {
		e.MustCreateUser(t, u.name, u.role)
	}
	want := map[string]map[string]int{
		"agent": {"/desk": 200, "/supervisor": 403, "/admin": 403, "/api/me": 200},
		"sup":   {"/desk": 200, "/supervisor": 200, "/admin": 403, "/api/me": 200},
		"root":  {"/desk": 403, "/supervisor": 200, "/admin": 200, "/api/me": 200},
	}
	for user, pages := range want {
		c := e.Login(t, user)
		for path, code := range pages {
			if res, body := c.Do("GET", path, nil); res.StatusCode != code {
				t.Errorf("%s GET %s = %d, want %d\n%.300s", user, path, res.StatusCode, code, body)
			}
		}
	}
	// The admin page lists the users.
	c := e.Login(t, "root")
	if _, body := c.Do("GET", "/admin", nil); !strings.Contains(body, "sup") || !strings.Contains(body, "supervisor") {
		t.Errorf("admin page lacks the users:\n%s", body)
	}
}

func TestNavigationByRole(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "agent", ringdesk.RoleAgent)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	_, body := e.Login(t, "agent").Do("GET", "/desk", nil)
	if !strings.Contains(body, `href="/desk"`) || strings.Contains(body, `href="/admin"`) || strings.Contains(body, `href="/supervisor"`) {
		t.Errorf("agent navigation:\n%s", body)
	}
	_, body = e.Login(t, "root").Do("GET", "/admin", nil)
	if strings.Contains(body, `href="/desk"`) || !strings.Contains(body, `href="/admin"`) {
		t.Errorf("admin navigation:\n%s", body)
	}
}

func TestDisplayNameIsEscaped(t *testing.T) {
	e := webtest.MustOpen(t)
	u := &ringdesk.User{Username: "mallory", DisplayName: `<img src=x onerror=alert(1)>`, Role: ringdesk.RoleAgent}
	if err := e.DB.CreateUser(context.Background(), u, webtest.Password("mallory"), ""); err != nil {
		t.Fatal(err)
	}
	res, body := e.Login(t, "mallory").Do("GET", "/desk", nil)
	if strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("display name not escaped:\n%s", body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Run("PerUser", func(t *testing.T) {
		e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.LoginLimitUser = 3 })
		e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
		c := e.NewClient(t)
		for i := 0; i < 3; i++ {
			if res, _ := c.SubmitLogin("alice", "guess-"+string(rune('a'+i)), ""); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d = %d, want 401", i+1, res.StatusCode)
			}
		}
		// Over the limit, even the right password is refused, and says why.
		res, body := c.SubmitLogin("alice", webtest.Password("alice"), "")
		if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") || res.Header.Get("Retry-After") == "" {
			t.Fatalf("over the limit = %d %q\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
		}
		// An unknown user name is limited the same way: the answer never
		// tells who exists.
		for i := 0; i < 3; i++ {
			c.SubmitLogin("nobody", "guess", "")
		}
		if res, _ := c.SubmitLogin("nobody", "guess", ""); res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("unknown user over the limit = %d, want 429", res.StatusCode)
		}
	})
	t.Run("PerAddress", func(t *testing.T) {
		e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.LoginLimitAddr = 2 })
		e.MustCreateUser(t, "bob", ringdesk.RoleAgent)
		c := e.NewClient(t)
		c.SubmitLogin("u1", "x", "")
		c.SubmitLogin("u2", "x", "")
		if res, _ := c.SubmitLogin("bob", webtest.Password("bob"), ""); res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("third login from one address after two failures = %d, want 429", res.StatusCode)
		}
	})
	t.Run("SuccessStartsAgain", func(t *testing.T) {
		e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.LoginLimitUser = 2 })
		e.MustCreateUser(t, "carol", ringdesk.RoleAgent)
		c := e.NewClient(t)
		c.SubmitLogin("carol", "wrong", "")
		e.Login(t, "carol")
		c.SubmitLogin("carol", "wrong", "")
		if res, _ := c.SubmitLogin("carol", webtest.Password("carol"), ""); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login after a success and one failure = %d, want 303", res.StatusCode)
		}
	})
}

func TestSessionEnds(t *testing.T) {
	t.Run("Idle", func(t *testing.T) {
		e := webtest.MustOpen(t, func(e *webtest.Env) { e.Server.Settings.SessionIdle = time.Second })
		e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
		c := e.Login(t, "alice")
		time.Sleep(1100 * time.Millisecond)
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("idle session still works: %d", res.StatusCode)
		}
	})
	t.Run("Absolute", func(t *testing.T) {
		e := webtest.MustOpen(t, func(e *webtest.Env) {
			// Margins of several hundred ms: requests under -race on a busy
			// machine take that long.
			e.Server.Settings.SessionIdle, e.Server.Settings.SessionMax = 1500*time.Millisecond, 3*time.Second
		})
		e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
		c := e.Login(t, "alice")
		// Activity keeps refreshing the idle deadline, but not past the absolute one.
		for i := 0; i < 3; i++ {
			time.Sleep(600 * time.Millisecond)
			if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusOK {
				t.Fatalf("active session ended early (%d)", res.StatusCode)
			}
		}
		time.Sleep(1300 * time.Millisecond)
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("session past its absolute lifetime still works: %d", res.StatusCode)
		}
	})
	t.Run("UserDisabled", func(t *testing.T) {
		e := webtest.MustOpen(t)
		e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
		c := e.Login(t, "alice")
		if err := e.DB.SetDisabled(context.Background(), "alice", true); err != nil {
			t.Fatal(err)
		}
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a disabled user's session still works: %d", res.StatusCode)
		}
	})
	t.Run("ForgedCookie", func(t *testing.T) {
		e := webtest.MustOpen(t)
		c := e.NewClient(t)
		u, _ := url.Parse(e.URL)
		c.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: strings.Repeat("A", 43)}})
		if res, _ := c.Do("GET", "/api/me", nil); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("forged session id accepted: %d", res.StatusCode)
		}
	})
}

func TestDeskAuthentication(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	c := e.Login(t, "alice")
	req, _ := http.NewRequest("GET", e.URL+"/desk/ws", nil)
	for _, ck := range c.HTTP.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	u, err := e.Server.AuthenticateDesk(req)
	if err != nil || u.Username != "alice" {
		t.Fatalf("AuthenticateDesk = %+v, %v", u, err)
	}
	anon, _ := http.NewRequest("GET", e.URL+"/desk/ws", nil)
	if _, err := e.Server.AuthenticateDesk(anon); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
		t.Fatalf("AuthenticateDesk without a session: %v, want unauthorized", err)
	}
}

// A form post carries its CSRF token in the body, which is parsed before
// the role check: the parse is bounded, and a multipart upload to the
// admins' import page from an agent is refused whatever it carries.
func TestFormTokenBounded(t *testing.T) {
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	a := e.Login(t, "alice")
	post := func(body io.Reader, ct string) int {
		t.Helper()
		req, err := http.NewRequest("POST", a.Base+"/admin/import", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Origin", a.Base)
		res, err := a.HTTP.Do(req)
		if err != nil {
			return 0 // the server may close on an oversized body
		}
		defer res.Body.Close()
		return res.StatusCode
	}
	multipart := func(csrf string, size int) (io.Reader, string) {
		var b bytes.Buffer
		w := mp.NewWriter(&b)
		_ = w.WriteField("csrf", csrf)
		f, _ := w.CreateFormFile("file", "c.csv")
		_, _ = f.Write(bytes.Repeat([]byte("x"), size))
		_ = w.Close()
		return &b, w.FormDataContentType()
	}
	// The right token, but an agent: 403 from the role check.
	if code := post(multipart(a.CSRF, 10)); code != http.StatusForbidden {
		t.Fatalf("agent's upload with the token: %d, want 403", code)
	}
	// Over the upload limit: the token is never read, 403 (or the
	// connection closed), and nothing is imported.
	if code := post(multipart(a.CSRF, 22<<20)); code != http.StatusForbidden && code != 0 {
		t.Fatalf("oversized upload: %d, want 403", code)
	}
	// A plain form over 1 MiB: its token is not read either.
	big := "csrf=" + a.CSRF + "&x=" + strings.Repeat("y", 2<<20)
	if code := post(strings.NewReader(big), "application/x-www-form-urlencoded"); code != http.StatusForbidden && code != 0 {
		t.Fatalf("oversized form: %d, want 403", code)
	}
}
