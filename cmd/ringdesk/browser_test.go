package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// sippPath returns the sipp binary; a missing one fails the test (CI
// installs it), except under -short.
func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if testing.Short() {
			t.Skip("sipp not installed (-short)")
		}
		t.Fatalf("sipp not found (Debian package sip-tester): %v", err)
	}
	return p
}

// scenario returns the absolute path of a sipp scenario: the telephony
// package's shared ones, or this package's testdata.
func scenario(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "telephony", "testdata", "sipp")
	if name == "trunk_call_named.xml" {
		dir = filepath.Join("testdata", "sipp")
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sippRun starts sipp with args and returns a channel that yields its
// output on failure, or nil when it succeeded.
func sippRun(ctx context.Context, t *testing.T, args ...string) <-chan []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, sippPath(t), args...)
	cmd.Dir = t.TempDir()
	done := make(chan []byte, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		if err != nil {
			done <- append(out, []byte("\nsipp: "+err.Error())...)
			return
		}
		done <- nil
	}()
	return done
}

func waitSipp(t *testing.T, what string, done <-chan []byte) {
	t.Helper()
	select {
	case out := <-done:
		if out != nil {
			t.Fatalf("%s:\n%s", what, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not finish", what)
	}
}

// TestBrowserDesk drives the agent desk in headless Chromium against a
// running serve (real MariaDB, Redis, SIP), with sipp as the trunk and as
// agent1's phone: log in, go Ready, a known caller pops within a second,
// wrap-up lands on the customer's timeline, an unknown caller (with a
// script in its display name, shown as text) is saved from the pop and
// the call linked; a shared number offers a chooser that survives a
// reload and logs the call to the pick; agent2's desk sees none of it; a POST without the CSRF
// token is refused; an agent cannot open the supervisor or admin pages.
// Screenshots go to var/artifacts.
func TestBrowserDesk(t *testing.T) {
	browser := webtest.NewBrowser(t) // fails (not skips) without chromium
	sippPath(t)
	cfg := testConfig(t)
	ctx := context.Background()
	m := mustOpenDemo(t, cfg)
	ada := &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Engines", AccountNumber: "E2E-1", Email: "ada@example.com",
		Tags: []string{"vip", "engines"}, Phones: []ringdesk.Phone{{Label: "work", Raw: "020 7946 0123"}}}
	if err := m.DB.CreateCustomer(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if err := m.DB.CreateCase(ctx, &ringdesk.Case{CustomerID: ada.ID, Subject: "Difference engine jams", Priority: "high"}); err != nil {
		t.Fatal(err)
	}
	// Two customers share a number (a household, a switchboard).
	shared := []*ringdesk.Customer{
		{Name: "Charles Babbage", Company: "Difference Ltd", Phones: []ringdesk.Phone{{Label: "office", Raw: "020 7946 0888"}}},
		{Name: "Georgiana Babbage", Phones: []ringdesk.Phone{{Label: "home", Raw: "020 7946 0888"}}},
	}
	for _, c := range shared {
		if err := m.DB.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + m.HTTP.Addr()
	art := webtest.ArtifactDir(t)
	var password string
	for _, l := range store.DemoLogins() {
		if l.Username == "agent1" {
			password = l.Password
		}
	}

	a := browser.NewTab(t, "agent1")
	b := browser.NewTab(t, "agent2")
	a.Login(t, base, "agent1", password)
	b.Login(t, base, "agent2", password)
	for _, tab := range []*webtest.Tab{a, b} {
		tab.Do(t, 15*time.Second, chromedp.WaitVisible(chromedp.CSS(`#state[data-state="logged-out"]`)))
	}

	// agent1's phone registers as 1001 and answers three calls after 500 ms.
	target := m.SIP.UDPAddr().String()
	pport := strconv.Itoa(freeUDPPort(t))
	reg := exec.Command(sippPath(t), "-sf", scenario(t, "agent_register.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", pport, "-m", "1",
		"-s", "1001", "-au", "1001", "-ap", "ringdesk-sip-1001", "-auth_uri", target, "-timeout", "20s", "-timeout_error", "-nostdin", target)
	reg.Dir = t.TempDir()
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("phone REGISTER: %v\n%s", err, out)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	phone := sippRun(sctx, t, "-sf", scenario(t, "agent_answer.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", pport,
		"-m", "3", "-d", "500", "-timeout", "100s", "-timeout_error", "-nostdin")
	call := func(number, name string) <-chan []byte {
		return sippRun(sctx, t, "-sf", scenario(t, "trunk_call_named.xml"), "-t", "u1", "-i", "127.0.0.1",
			"-p", strconv.Itoa(freeUDPPort(t)), "-m", "1", "-d", "2500", "-key", "caller", number, "-key", "caller_name", name,
			"-key", "did", store.DemoDID, "-timeout", "50s", "-timeout_error", "-nostdin", target)
	}

	// Ready: the state shown is the routing state.
	a.Do(t, 10*time.Second, chromedp.Click(chromedp.ID("btn-ready")),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="available"]`)))

	// Layout shifts from here on are summed (CLS): a pop must not move
	// anything on the page.
	if !webtest.Eval[bool](t, a, `PerformanceObserver.supportedEntryTypes.includes("layout-shift")`) {
		t.Fatal("this Chromium does not report layout shifts")
	}
	webtest.Eval[chromedp.Void](t, a, `window.rdShift = 0; window.rdShifted = []; new PerformanceObserver((l) => {
		for (const e of l.getEntries()) {
			if (e.hadRecentInput) continue;
			window.rdShift += e.value;
			for (const src of e.sources || []) {
				const n = src.node;
				const r = (x) => x ? [x.x, x.y, x.width, x.height].map(Math.round).join(",") : "";
				window.rdShifted.push((n ? (n.id || n.className || n.nodeName) + ": " + (n.textContent || "").slice(0, 30) : "?") +
					" [" + r(src.previousRect) + " -> " + r(src.currentRect) + "]");
			}
		}
	}).observe({type: "layout-shift"})`)

	// A known caller: the pop shows the customer, within a second of the INVITE.
	caller1 := call("020 7946 0123", "ADA L")
	a.Do(t, 20*time.Second, chromedp.WaitVisible(chromedp.ID("pop-name")))
	if got := a.Text(t, "#pop-name"); got != "Ada Lovelace" {
		t.Fatalf("pop shows %q, want Ada Lovelace", got)
	}
	callID := webtest.Eval[string](t, a, `document.getElementById("pop").dataset.callId`)
	// The pop is the ringing (no "ringing" progress follows it): the call
	// state says so until the phone answers, 500 ms later (or, on a slow
	// machine, already says what followed).
	if st := webtest.Eval[string](t, a, `document.getElementById("call-state").dataset.state`); st != "ringing" && st != "connected" && st != "ended" {
		t.Errorf("call state %q with the pop on screen, want ringing", st)
	}
	// The call log writes in batches, behind the call: the row may follow
	// the pop by a moment.
	var c1 *ringdesk.Call
	waitFor(t, "call "+callID+" logged", func() bool {
		var err error
		c1, err = m.DB.FindCallByID(ctx, callID)
		return err == nil
	})
	shownAt := webtest.Eval[float64](t, a, `Number(document.getElementById("pop").dataset.shownAt)`)
	latency := time.UnixMilli(int64(shownAt)).Sub(c1.OfferedAt)
	t.Logf("pop on screen %s after the INVITE arrived (call %s)", latency, callID)
	if latency > time.Second {
		t.Errorf("the pop took %s to show, more than 1 s", latency)
	}
	for _, want := range []string{"vip", "engines", "Difference engine jams", "E2E-1", "ADA L"} {
		if body := a.Text(t, "#pop"); !strings.Contains(body, want) {
			t.Errorf("pop lacks %q:\n%s", want, body)
		}
	}
	noPop := func(when string) {
		t.Helper()
		got := webtest.Eval[string](t, b, `document.getElementById("pop").dataset.callId + "|" + document.body.innerText`)
		if !strings.HasPrefix(got, "|") || strings.Contains(got, "Ada") || strings.Contains(got, "7946") {
			t.Errorf("agent2's desk shows agent1's call %s:\n%s", when, got)
		}
	}
	noPop("during the pop")
	if shift := webtest.Eval[float64](t, a, `window.rdShift`); shift > 0 {
		t.Errorf("the pop shifted the layout (cumulative layout shift %.6f): %s", shift, webtest.Eval[string](t, a, `window.rdShifted.join("; ")`))
	}
	a.Screenshot(t, filepath.Join(art, "desk-pop.png"))

	// The call connects, ends, and agent1 is in wrap-up.
	a.Do(t, 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#call-state[data-state="connected"]`)))
	a.Do(t, 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#call-state[data-state="ended"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="wrap-up"]`)))
	waitSipp(t, "caller 1", caller1)

	// Wrap-up: a disposition and a note, on the customer's timeline.
	note := "Asked about the invoice; sending a copy <today>."
	a.Do(t, 10*time.Second,
		chromedp.SetValue(chromedp.ID("disposition"), "resolved"),
		chromedp.SendKeys(chromedp.ID("notes"), note),
		chromedp.Click(chromedp.ID("btn-wrapup")),
		chromedp.WaitVisible(chromedp.CSS(`#wrapup-msg.ok`)),
	)
	a.Screenshot(t, filepath.Join(art, "desk-wrapup.png"))
	hist, err := m.DB.CustomerHistory(ctx, ada.ID, 20)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range hist {
		found = found || (h.Kind == "call" && h.ID == callID && strings.HasSuffix(h.Status, ": resolved") && h.Body == note)
	}
	if !found {
		t.Fatalf("the wrap-up is not on Ada's timeline: %+v", hist)
	}
	// Ready ends wrap-up and clears the desk.
	a.Do(t, 10*time.Second, chromedp.Click(chromedp.ID("btn-ready")),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="available"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#pop[data-call-id=""]`)))

	// An unknown caller whose display name is markup: shown as text, and
	// saved as a new customer from the pop, the call linked to it.
	xss := `<img src=x onerror=alert(1)>`
	caller2 := call("020 7946 0999", xss)
	a.Do(t, 20*time.Second, chromedp.WaitVisible(chromedp.ID("newcust-form")))
	if got := a.Text(t, "#pop-caller"); !strings.Contains(got, xss) {
		t.Errorf("caller line %q does not show the display name as text", got)
	}
	if n := webtest.Eval[int](t, a, `document.querySelectorAll("img, #pop script").length`); n != 0 {
		t.Errorf("the caller's display name became %d element(s)", n)
	}
	if got := webtest.Eval[string](t, a, `document.getElementById("nc-phone").value`); got != "+442079460999" {
		t.Errorf("new-customer phone pre-filled with %q", got)
	}
	if shift := webtest.Eval[float64](t, a, `window.rdShift`); shift > 0 {
		t.Errorf("the unknown caller's pop shifted the layout (cumulative layout shift %.6f): %s", shift, webtest.Eval[string](t, a, `window.rdShifted.join("; ")`))
	}
	a.Screenshot(t, filepath.Join(art, "desk-unknown-caller.png"))
	call2ID := webtest.Eval[string](t, a, `document.getElementById("pop").dataset.callId`)
	a.Do(t, 10*time.Second,
		chromedp.SendKeys(chromedp.ID("nc-name"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.ID("nc-company"), "Navy"),
		chromedp.Click(chromedp.ID("nc-save")),
		chromedp.WaitVisible(chromedp.ID("pop-card")),
	)
	if got := a.Text(t, "#pop-name"); got != "Grace Hopper" {
		t.Errorf("card after saving shows %q", got)
	}
	c2, err := m.DB.FindCallByID(ctx, call2ID)
	if err != nil || c2.CustomerID == 0 {
		t.Fatalf("call 2 not linked: %+v, %v", c2, err)
	}
	if cu, err := m.DB.FindCustomerByID(ctx, c2.CustomerID); err != nil || cu.Name != "Grace Hopper" || len(cu.Phones) != 1 || cu.Phones[0].E164 != "+442079460999" {
		t.Fatalf("customer of call 2 = %+v, %v", cu, err)
	}
	a.Screenshot(t, filepath.Join(art, "desk-new-customer-saved.png"))
	waitSipp(t, "caller 2", caller2)
	a.Do(t, 30*time.Second, chromedp.WaitVisible(chromedp.CSS(`#state[data-state="wrap-up"]`)),
		chromedp.Click(chromedp.ID("btn-ready")), chromedp.WaitVisible(chromedp.CSS(`#state[data-state="available"]`)))

	// A shared number: a chooser. A reload in the middle gets the pop again
	// (the desk re-syncs on connect); the pick logs the call to that customer.
	caller3 := call("020 7946 0888", "BABBAGE")
	a.Do(t, 20*time.Second, chromedp.WaitVisible(chromedp.ID("pop-candidates")))
	call3ID := webtest.Eval[string](t, a, `document.getElementById("pop").dataset.callId`)
	a.Do(t, 20*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("pop-candidates")))
	if got := webtest.Eval[string](t, a, `document.getElementById("pop").dataset.callId`); got != call3ID {
		t.Fatalf("after a reload the desk shows call %q, want %q", got, call3ID)
	}
	if n := webtest.Eval[int](t, a, `document.querySelectorAll("#pop-candidates li").length`); n != 2 {
		t.Fatalf("chooser lists %d customers, want 2", n)
	}
	a.Screenshot(t, filepath.Join(art, "desk-shared-number.png"))
	// Everything the agent needs now is reachable with Tab, and the desk
	// fits the 1366-pixel width.
	webtest.Eval[chromedp.Void](t, a, `document.activeElement && document.activeElement.blur()`)
	stops := map[string]bool{}
	for i := 0; i < 20; i++ {
		a.Do(t, 5*time.Second, chromedp.KeyEvent(kb.Tab))
		stops[webtest.Eval[string](t, a, `(() => { const x = document.activeElement;
			return x.id || (x.dataset.customerId ? "pick-" + x.dataset.customerId : x.getAttribute("href") || x.textContent.trim()); })()`)] = true
	}
	for _, want := range []string{"away-reason", "disposition", "notes", "btn-wrapup",
		fmt.Sprintf("pick-%d", shared[0].ID), fmt.Sprintf("pick-%d", shared[1].ID)} {
		if !stops[want] {
			t.Errorf("Tab never reaches %s (stops: %v)", want, stops)
		}
	}
	if webtest.Eval[bool](t, a, `document.documentElement.scrollWidth > window.innerWidth`) {
		t.Errorf("the desk is wider than the window")
	}
	// On a large monitor the desk uses the width without stretching the
	// caller's card into lines too long to read at a glance.
	a.Do(t, 10*time.Second, chromedp.EmulateViewport(2560, 1440))
	if webtest.Eval[bool](t, a, `document.documentElement.scrollWidth > window.innerWidth`) {
		t.Errorf("the desk is wider than a 2560-pixel window")
	}
	if w := webtest.Eval[float64](t, a, `document.getElementById("pop").getBoundingClientRect().width`); w < 1000 || w > 1900 {
		t.Errorf("at 2560 pixels the caller's card is %.0f pixels wide, want 1000–1900", w)
	}
	a.Screenshot(t, filepath.Join(art, "desk-large-monitor.png"))
	a.Do(t, 10*time.Second, chromedp.EmulateViewport(1366, 768))
	a.Do(t, 10*time.Second,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pop-candidates button[data-customer-id="%d"]`, shared[1].ID))),
		chromedp.WaitVisible(chromedp.ID("pop-card")))
	if got := a.Text(t, "#pop-name"); got != "Georgiana Babbage" {
		t.Errorf("card after the pick shows %q", got)
	}
	if c3, err := m.DB.FindCallByID(ctx, call3ID); err != nil || c3.CustomerID != shared[1].ID {
		t.Fatalf("call 3 not logged to the pick: %+v, %v", c3, err)
	}
	noPop("after all calls")
	waitSipp(t, "caller 3", caller3)
	waitSipp(t, "agent phone", phone)

	// The socket drops: the desk says so, reconnects by itself (backoff
	// from 0.5 s) and shows the routing state and the call again.
	if n := a.CloseWebSockets(t); n != 1 {
		t.Fatalf("closed %d desk sockets, want 1", n)
	}
	a.Do(t, 5*time.Second, chromedp.WaitVisible(chromedp.CSS(`#conn.down`)))
	a.Do(t, 30*time.Second, chromedp.Poll[chromedp.Void](`document.getElementById("conn").textContent === "Connected"`),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="wrap-up"], #state[data-state="available"]`)))
	if got := webtest.Eval[string](t, a, `document.getElementById("pop").dataset.callId`); got != call3ID {
		t.Errorf("after reconnecting the desk shows call %q, want %q", got, call3ID)
	}

	// A state-changing request without the CSRF token is refused and changes nothing.
	status := webtest.Eval[int](t, a, fmt.Sprintf(`fetch("/api/calls/%s/wrapup", {method: "POST",
		headers: {"Content-Type": "application/json"}, body: JSON.stringify({disposition: "other"})}).then(r => r.status)`, callID))
	if status != 403 {
		t.Errorf("POST without CSRF token = %d, want 403", status)
	}
	if c, _ := m.DB.FindCallByID(ctx, callID); c.Disposition != "resolved" {
		t.Errorf("the refused POST changed the disposition to %q", c.Disposition)
	}
	// With the token (as the page sends it) the same request works: the 403 was the token.
	status = webtest.Eval[int](t, a, fmt.Sprintf(`fetch("/api/calls/%s/wrapup", {method: "POST",
		headers: {"Content-Type": "application/json", "X-CSRF-Token": rd.csrf()},
		body: JSON.stringify({disposition: "resolved", notes: %q})}).then(r => r.status)`, callID, note))
	if status != 200 {
		t.Errorf("POST with the CSRF token = %d, want 200", status)
	}

	// An agent cannot open the supervisor or admin pages.
	for _, p := range []string{"/supervisor", "/admin"} {
		a.Do(t, 10*time.Second, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.ID("main")))
		if got := a.Text(t, "main h1"); !strings.Contains(got, "403") {
			t.Errorf("agent at %s sees %q, want 403", p, got)
		}
	}
	if errs := browser.Errors(); len(errs) > 0 {
		t.Errorf("browser errors:\n%s", strings.Join(errs, "\n"))
	}
}
