package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// TestBrowserLoginByKeyboard logs in with the keyboard alone in headless
// Chromium at 1366×768: the login form has focus, a wrong password says so
// and keeps the user name, the layout fits the width, the skip link and
// navigation are reachable with Tab, and the Log out button ends the
// session. (The desk with a live socket is tested through serve, in
// cmd/ringdesk's TestBrowserDesk.)
func TestBrowserLoginByKeyboard(t *testing.T) {
	browser := webtest.NewBrowser(t)
	e := webtest.MustOpen(t)
	e.MustCreateUser(t, "alice", ringdesk.RoleSupervisor)
	tab := browser.NewTab(t, "alice")
	focused := func() string {
		return webtest.Eval[string](t, tab, `(() => { const a = document.activeElement;
			return a ? (a.id || a.getAttribute("href") || a.textContent.trim()) : ""; })()`)
	}

	tab.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/supervisor"), chromedp.WaitVisible(chromedp.ID("username")))
	if got := focused(); got != "username" {
		t.Fatalf("focus on the login page is on %q, want the user name", got)
	}
	tab.Do(t, 10*time.Second, chromedp.KeyEvent("alice"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("wrong password"),
		chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`.alert`)))
	if got := tab.Text(t, ".alert"); got != "Wrong user name or password." {
		t.Errorf("alert = %q", got)
	}
	if got := webtest.Eval[string](t, tab, `document.getElementById("username").value`); got != "alice" {
		t.Errorf("user name not kept: %q", got)
	}
	if got := focused(); got != "password" {
		t.Errorf("after a failure focus is on %q, want the password", got)
	}
	tab.Do(t, 10*time.Second, chromedp.KeyEvent(webtest.Password("alice")), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitNotPresent(chromedp.ID("password")), chromedp.WaitVisible(chromedp.ID("main")))
	if loc := webtest.Eval[string](t, tab, `location.pathname`); loc != "/supervisor" {
		t.Errorf("after login at %s, want back at /supervisor", loc)
	}
	if over := webtest.Eval[bool](t, tab, `document.documentElement.scrollWidth > window.innerWidth`); over {
		t.Errorf("the page is wider than the %v px window", webtest.Eval[int](t, tab, `window.innerWidth`))
	}

	// Tab from the top: the skip link first, then the navigation and Log out.
	tab.Do(t, 5*time.Second, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	var order []string
	for i := 0; i < 8; i++ {
		tab.Do(t, 5*time.Second, chromedp.KeyEvent(kb.Tab))
		order = append(order, focused())
	}
	got := strings.Join(order, " | ")
	for _, want := range []string{"#main", "/desk", "/supervisor", "Log out"} {
		if !strings.Contains(got, want) {
			t.Errorf("Tab never reaches %q: %s", want, got)
		}
	}
	if order[0] != "#main" {
		t.Errorf("the first Tab stop is %q, want the skip link", order[0])
	}

	tab.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.ID("username")))
	if status := webtest.Eval[int](t, tab, `fetch("/api/me").then(r => r.status)`); status != 401 {
		t.Errorf("after Log out /api/me = %d, want 401", status)
	}
	if errs := browser.Errors(); len(errs) > 0 {
		t.Errorf("browser errors:\n%s", strings.Join(errs, "\n"))
	}
}
