package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/web/webtest"
)

// waitJS waits until the JavaScript expression is truthy in the tab,
// failing the test with the page's text if it is not within 10 s.
func waitJS(t *testing.T, tab *webtest.Tab, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		text := webtest.Eval[string](t, tab, `document.body ? document.body.innerText : ""`)
		t.Fatalf("waiting for %s: %v\npage text:\n%.3000s", what, err, text)
	}
}

// fullPage saves a PNG of the whole page, beyond the 1366×768 viewport.
func fullPage(t *testing.T, tab *webtest.Tab, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("full-page screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// pageChecks are what every customer page must pass at 1366×768: no
// horizontal scrolling, every form control labelled (so a screen reader
// and keyboard user can tell them apart), nothing focusable hidden from
// the keyboard, and text of readable contrast (WCAG AA).
func pageChecks(t *testing.T, tab *webtest.Tab, page string) {
	t.Helper()
	problems := webtest.Eval[[]string](t, tab, `(() => {
		const out = [];
		if (document.documentElement.scrollWidth > window.innerWidth)
			out.push("scrolls sideways: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
		for (const c of document.querySelectorAll("main input:not([type=hidden]), main select, main textarea, main button")) {
			const named = c.tagName === "BUTTON" ? (c.textContent.trim() || c.getAttribute("aria-label"))
				: (c.labels && c.labels.length) || c.getAttribute("aria-label");
			if (!named) out.push("unlabelled " + c.outerHTML.slice(0, 80));
			if (c.tabIndex < 0) out.push("not keyboard reachable " + c.outerHTML.slice(0, 80));
		}
		// WCAG AA contrast of every visible text against the background it
		// sits on: 4.5:1, or 3:1 for large text (24px, or 18.66px bold).
		const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
		const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
			.reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
		const bg = (n) => { for (; n; n = n.parentElement) { const c = rgb(getComputedStyle(n).backgroundColor); if (c.length < 4 || c[3] > 0.5) return c; } return [255, 255, 255]; };
		const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		const seen = new Set();
		for (let t = walker.nextNode(); t; t = walker.nextNode()) {
			const n = t.parentElement;
			if (!t.textContent.trim() || seen.has(n) || !n.offsetParent || n.closest("[disabled], .sr-only, option")) continue;
			seen.add(n);
			const st = getComputedStyle(n);
			const [l1, l2] = [lum(rgb(st.color)), lum(bg(n))].sort((a, b) => b - a);
			const ratio = (l1 + 0.05) / (l2 + 0.05);
			const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
			const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
			if (ratio < need) out.push("contrast " + ratio.toFixed(2) + " < " + need + ": " + JSON.stringify(t.textContent.trim().slice(0, 40)));
		}
		return out;
	})()`)
	for _, p := range problems {
		t.Errorf("%s: %s", page, p)
	}
}

// TestBrowserRecords drives the customer pages in headless Chromium
// against a real server (MariaDB, Redis): search finds a customer as the
// agent types; two agents edit one record, the second is told and the
// first edit stays; a note and a case (opened, then closed) appear on the
// timeline; a customer whose name is markup shows it as text; an agent
// cannot open the import page; an admin imports a small CSV and sees the
// per-line errors. A screenshot of the record goes to var/artifacts.
func TestBrowserRecords(t *testing.T) {
	browser := webtest.NewBrowser(t) // fails, never skips, without chromium
	e := webtest.MustOpen(t)
	ctx := context.Background()
	e.MustCreateUser(t, "alice", ringdesk.RoleAgent)
	e.MustCreateUser(t, "bob", ringdesk.RoleSupervisor)
	e.MustCreateUser(t, "root", ringdesk.RoleAdmin)
	ada := mustCustomer(t, e, &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Engines", Email: "ada@example.com",
		AccountNumber: "ACC-1815", Tags: []string{"vip", "engines"}, Address: "12 St James's Square, London",
		Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}, {Label: "work", Raw: "020 7946 0123"}}})
	charles := mustCustomer(t, e, &ringdesk.Customer{Name: "Charles Babbage", Company: "Difference Ltd", AccountNumber: "ACC-1791"})
	evil := mustCustomer(t, e, &ringdesk.Customer{Name: xssName, Company: `"><svg onload=alert(2)>`, Tags: []string{`<b>x</b>`}})
	call := &ringdesk.Call{ID: "0192b6a0-0000-7000-8000-00000000c001", Direction: ringdesk.Inbound, CallerE164: "+447700900123",
		CustomerID: ada.ID, State: ringdesk.CallStateEnded, OfferedAt: time.Now().UTC().Add(-time.Hour),
		Disposition: "resolved", Notes: "Asked about the invoice."}
	if err := e.DB.CreateCall(ctx, call); err != nil {
		t.Fatal(err)
	}
	record := fmt.Sprintf("%s/customers/%d", e.URL, ada.ID)

	a := browser.NewTab(t, "alice")
	b := browser.NewTab(t, "bob")
	a.Login(t, e.URL, "alice", webtest.Password("alice"))
	b.Login(t, e.URL, "bob", webtest.Password("bob"))

	t.Run("SearchAsYouType", func(t *testing.T) {
		a.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/customers"), chromedp.WaitVisible(chromedp.ID("q")))
		pageChecks(t, a, "/customers")
		// Typed, not submitted: the list follows the keys.
		a.Do(t, 10*time.Second, chromedp.SendKeys(chromedp.ID("q"), "lovel"))
		waitJS(t, a, "Ada alone in the results", fmt.Sprintf(`document.querySelector('#results-body a[href="/customers/%d"]') &&
			!document.querySelector('#results-body a[href="/customers/%d"]') && location.search === "?q=lovel"`, ada.ID, charles.ID))
		if got := a.Text(t, "#search-status"); got != "1 found" {
			t.Errorf("status %q, want 1 found", got)
		}
		// By phone, as people say it.
		a.Do(t, 10*time.Second, chromedp.Evaluate[chromedp.Void](`document.getElementById("q").value = ""`), chromedp.SendKeys(chromedp.ID("q"), "020 7946 01"))
		waitJS(t, a, "Ada found by phone", fmt.Sprintf(`document.querySelectorAll('#results-body tr').length === 1 &&
			document.querySelector('#results-body a[href="/customers/%d"]')`, ada.ID))
		// Arrow down, Enter: the record opens from the keyboard.
		a.Do(t, 10*time.Second, chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("edit-form")))
		if got := a.Text(t, "#customer-name"); got != "Ada Lovelace" {
			t.Errorf("opened %q", got)
		}
	})

	t.Run("NewCustomer", func(t *testing.T) {
		a.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/customers"), chromedp.WaitVisible(chromedp.ID("new-name")),
			chromedp.Click(chromedp.CSS("#new-customer button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#new-msg.error")))
		if msg := a.Text(t, "#new-msg"); !strings.Contains(msg, "needs a name or a company") {
			t.Errorf("empty form told %q", msg)
		}
		a.Do(t, 10*time.Second,
			chromedp.SendKeys(chromedp.ID("new-name"), "Mary Somerville"),
			chromedp.SendKeys(chromedp.ID("new-phone"), "020 7946 0888"),
			chromedp.Click(chromedp.CSS("#new-customer button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("edit-form")))
		if got := a.Text(t, "#customer-name"); got != "Mary Somerville" {
			t.Errorf("new record shows %q", got)
		}
		if found, err := e.DB.LookupByPhone(ctx, "+442079460888"); err != nil || len(found) != 1 || found[0].Name != "Mary Somerville" {
			t.Errorf("new customer by phone: %+v, %v", found, err)
		}
	})

	t.Run("EditConflict", func(t *testing.T) {
		// Both have version 1 open.
		a.Do(t, 10*time.Second, chromedp.Navigate(record), chromedp.WaitVisible(chromedp.ID("edit-form")))
		b.Do(t, 10*time.Second, chromedp.Navigate(record), chromedp.WaitVisible(chromedp.ID("edit-form")))
		pageChecks(t, a, "/customers/{id}")
		a.Do(t, 10*time.Second,
			chromedp.SetValue(chromedp.ID("f-name"), "Ada King"),
			chromedp.Click(chromedp.ID("phone-add")),
			chromedp.SendKeys(chromedp.CSS("#phone-list li:last-child .ph-label"), "home"),
			chromedp.SendKeys(chromedp.CSS("#phone-list li:last-child .ph-raw"), "020 7946 0555"),
			chromedp.SetValue(chromedp.ID("f-tags"), "vip, engines, countess"),
			chromedp.Click(chromedp.ID("save-customer")),
			chromedp.WaitVisible(chromedp.CSS("#edit-msg.ok")),
		)
		waitJS(t, a, "the header showing the new name", `document.getElementById("customer-name").textContent === "Ada King" &&
			document.getElementById("version").textContent === "2"`)
		b.Do(t, 10*time.Second,
			chromedp.SetValue(chromedp.ID("f-email"), "countess@example.com"),
			chromedp.Click(chromedp.ID("save-customer")),
			chromedp.WaitVisible(chromedp.CSS("#edit-msg.error")),
		)
		if msg := b.Text(t, "#edit-msg"); !strings.Contains(msg, "changed by someone else") || !strings.Contains(msg, "not saved") {
			t.Errorf("second agent told %q", msg)
		}
		if v := webtest.Eval[string](t, b, `document.getElementById("f-email").value`); v != "countess@example.com" {
			t.Errorf("second agent's form lost the edit: %q", v)
		}
		got, err := e.DB.FindCustomerByID(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Ada King" || got.Email != "ada@example.com" || got.Version != 2 || len(got.Phones) != 3 ||
			got.Phones[2].Label != "home" || got.Phones[2].E164 != "+442079460555" || strings.Join(got.Tags, ",") != "vip,engines,countess" {
			t.Fatalf("stored %+v", got)
		}
	})

	t.Run("NoteAndCaseOnTimeline", func(t *testing.T) {
		// Opened from the call, as the desk links it: both are linked to it.
		a.Do(t, 10*time.Second, chromedp.Navigate(record+"?call="+call.ID), chromedp.WaitVisible(chromedp.ID("from-call")))
		note := "Prefers a call after 5 pm <not markup>."
		a.Do(t, 10*time.Second,
			chromedp.SendKeys(chromedp.ID("note-body"), note),
			chromedp.Click(chromedp.CSS("#note-new button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#note-msg.ok")),
		)
		waitJS(t, a, "the note on the timeline, by its author", fmt.Sprintf(`[...document.querySelectorAll("#timeline .tl-note")].some(n =>
			n.querySelector(".body")?.textContent === %q && n.querySelector(".tl-author")?.textContent === "· Alice")`, note))
		a.Do(t, 10*time.Second,
			chromedp.Click(chromedp.CSS(".new-case summary")),
			chromedp.SendKeys(chromedp.ID("case-subject"), "Difference engine jams"),
			chromedp.SendKeys(chromedp.ID("case-description"), "Gear 4 slips under load."),
			chromedp.SetValue(chromedp.ID("case-priority"), "high"),
			chromedp.Click(chromedp.CSS("#case-new button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#case-new-msg.ok")),
		)
		waitJS(t, a, "the case in the list and on the timeline", `document.querySelector("#cases .case h3")?.textContent === "Difference engine jams" &&
			[...document.querySelectorAll("#timeline .tl-case strong")].some(n => n.textContent === "Difference engine jams")`)
		a.Screenshot(t, filepath.Join(webtest.ArtifactDir(t), "customer-record.png"))
		fullPage(t, a, filepath.Join(webtest.ArtifactDir(t), "customer-record-full.png"))

		// Close it from the record.
		a.Do(t, 10*time.Second, chromedp.Click(chromedp.CSS("#cases .case .case-close")))
		waitJS(t, a, "the case closed", `document.querySelector("#cases .case .badge.case-closed") &&
			document.querySelector("#cases .case .case-msg")?.textContent === "Case closed." &&
			document.querySelector("#timeline .tl-case .tl-status")?.textContent === "closed"`)
		cases, err := e.DB.FindCustomerCases(ctx, ada.ID, 10)
		if err != nil || len(cases) != 1 || cases[0].Status != ringdesk.CaseClosed || cases[0].ClosedAt == nil ||
			cases[0].Priority != "high" || cases[0].CallID != call.ID {
			t.Fatalf("cases %+v, %v", cases, err)
		}
		if notes, err := e.DB.FindNotes(ctx, ada.ID, 10); err != nil || len(notes) != 1 || notes[0].CallID != call.ID || notes[0].Body != note {
			t.Fatalf("notes %+v, %v", notes, err)
		}
		// The other agent's stale copy of the case is refused.
		b.Do(t, 10*time.Second, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#cases .case-form")))
		reopen := ringdesk.CaseOpen
		if _, err := e.DB.UpdateCase(ctx, cases[0].ID, ringdesk.CaseUpdate{Version: cases[0].Version, Status: &reopen}); err != nil {
			t.Fatal(err)
		}
		b.Do(t, 10*time.Second, chromedp.SetValue(chromedp.CSS("#cases .case-form select[name=priority]"), "low"),
			chromedp.Click(chromedp.CSS("#cases .case-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#cases .case-msg.error")))
		if msg := b.Text(t, "#cases .case-msg"); !strings.Contains(msg, "changed by someone else") {
			t.Errorf("stale case update told %q", msg)
		}
		if k, _ := e.DB.FindCaseByID(ctx, cases[0].ID); k.Priority != "high" {
			t.Errorf("refused case update changed the priority to %q", k.Priority)
		}
		// The call logged before is on the timeline too.
		if tl := a.Text(t, "#timeline"); !strings.Contains(tl, "Asked about the invoice.") || !strings.Contains(tl, "ended: resolved") {
			t.Errorf("timeline lacks the call:\n%s", tl)
		}
	})

	t.Run("MarkupShownAsText", func(t *testing.T) {
		a.Do(t, 10*time.Second, chromedp.Navigate(fmt.Sprintf("%s/customers/%d", e.URL, evil.ID)), chromedp.WaitVisible(chromedp.ID("edit-form")))
		if got := a.Text(t, "#customer-name"); got != xssName {
			t.Errorf("name shows %q, want the markup as text", got)
		}
		if got := webtest.Eval[string](t, a, `document.getElementById("f-name").value`); got != xssName {
			t.Errorf("name field holds %q", got)
		}
		a.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/customers"), chromedp.WaitVisible(chromedp.ID("q")),
			chromedp.SendKeys(chromedp.ID("q"), "<img"))
		waitJS(t, a, "the markup customer found", fmt.Sprintf(`document.querySelector('#results-body a[href="/customers/%d"]')?.textContent === %q`, evil.ID, xssName))
		if n := webtest.Eval[int](t, a, `document.querySelectorAll("main img, main svg, main b").length`); n != 0 {
			t.Errorf("the customer's fields became %d element(s)", n)
		}
	})

	t.Run("AgentCannotImport", func(t *testing.T) {
		a.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/admin/import"), chromedp.WaitVisible(chromedp.ID("main")))
		if got := a.Text(t, "main h1"); !strings.Contains(got, "403") {
			t.Errorf("agent at /admin/import sees %q, want 403", got)
		}
		if n := webtest.Eval[int](t, a, `document.querySelectorAll("input[type=file]").length`); n != 0 {
			t.Error("the agent sees the upload form")
		}
	})

	t.Run("ImportCSV", func(t *testing.T) {
		csv := filepath.Join(t.TempDir(), "customers.csv")
		if err := os.WriteFile(csv, []byte("name,company,email,mobile,account_number\n"+
			"Grace Hopper,Navy,grace@example.com,07700 900456,ACC-1906\n"+
			"Broken Email,,not-an-email,,ACC-2\n"+
			",,,,ACC-3\n"+
			"Alan Turing,,alan@example.com,020 7946 0777,ACC-1912\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := browser.NewTab(t, "root")
		r.Login(t, e.URL, "root", webtest.Password("root"))
		r.Do(t, 10*time.Second, chromedp.Navigate(e.URL+"/admin"), chromedp.Click(chromedp.CSS(`a[href="/admin/import"]`)),
			chromedp.WaitVisible(chromedp.ID("file")))
		pageChecks(t, r, "/admin/import")
		r.Do(t, 20*time.Second,
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{csv}),
			chromedp.Click(chromedp.CSS(".import-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("import-report")),
		)
		for sel, want := range map[string]string{"#rep-rows": "4", "#rep-created": "2", "#rep-failed": "2"} {
			if got := r.Text(t, sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		errs := r.Text(t, "#import-errors tbody")
		for _, want := range []string{"3\tEmail \"not-an-email\" is not an email address.", "4\tA customer needs a name or a company."} {
			if !strings.Contains(errs, want) {
				t.Errorf("per-line errors lack %q:\n%s", want, errs)
			}
		}
		r.Screenshot(t, filepath.Join(webtest.ArtifactDir(t), "customer-import.png"))
		found, err := e.DB.LookupByPhone(ctx, "07700 900456")
		if err != nil || len(found) != 1 || found[0].Name != "Grace Hopper" || found[0].Phones[0].Label != "mobile" {
			t.Fatalf("imported Grace: %+v, %v", found, err)
		}
	})

	if errs := browser.Errors(); len(errs) > 0 {
		t.Errorf("browser errors:\n%s", strings.Join(errs, "\n"))
	}
}
