package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumEnv names a variable that overrides the browser binary.
const ChromiumEnv = "RINGDESK_CHROMIUM"

// Chromium returns the path of the headless browser: $RINGDESK_CHROMIUM,
// else Debian's /usr/bin/chromium, else chromium on the PATH. A missing
// browser fails the test (scripts/setup.sh installs it; CI has it): a
// browser test never skips silently, except under -short.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{os.Getenv(ChromiumEnv), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if testing.Short() {
		tb.Skip("no chromium (-short)")
	}
	tb.Fatalf("no Chromium for the browser tests: install Debian's chromium package (scripts/setup.sh does), or set %s", ChromiumEnv)
	return ""
}

// Browser is one headless Chromium process. Each Tab runs in a browser
// context of its own (its own cookies), so two tabs are two people.
type Browser struct {
	ctx    context.Context // the first tab's, which owns the browser
	mu     sync.Mutex
	errors []string // JavaScript exceptions, console errors and dialogs seen in any tab
}

// NewBrowser starts Chromium, headless, at 1366×768, kept off the network
// (these machines have none): no background networking, component updates
// or first-run tasks. It ends with the test.
func NewBrowser(tb testing.TB) *Browser {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(tb)),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where Chromium's sandbox cannot start
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1366, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(cancelAlloc)
	// The first context starts the browser; tabs open their own browser
	// contexts in it.
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(cancel)
	// Not with a timeout: the context of the first run owns the browser,
	// and ending it would end the browser.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return &Browser{ctx: ctx}
}

// Tab is one page in its own browser context.
type Tab struct {
	Ctx  context.Context
	b    *Browser
	name string
}

// NewTab opens a tab in a fresh browser context; name labels its errors.
// JavaScript errors and dialogs (alert: a script that should never have
// run) are recorded and reported by Errors.
func (b *Browser) NewTab(tb testing.TB, name string) *Tab {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	t := &Tab{Ctx: ctx, b: b, name: name}
	// Listen starts the browser and the tab now, so later timings do not
	// include Chromium's start.
	dialogs := make(chan struct{}, 16)
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.record(fmt.Sprintf("%s: javascript exception at %s:%d: %s", name, d.URL, d.LineNumber+1, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.record(fmt.Sprintf("%s: console.error: %s", name, strings.Join(parts, " ")))
			}
		case *page.EventJavascriptDialogOpening:
			b.record(fmt.Sprintf("%s: a %s dialog opened: %q", name, ev.Type, ev.Message))
			select {
			case dialogs <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	// A dialog blocks the page: close it from outside the event loop.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-dialogs:
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}
		}
	}()
	return t
}

func (b *Browser) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// Errors returns what went wrong in any tab so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Do runs steps in the tab with a timeout, failing the test on error with
// the page's address and text.
func (t *Tab) Do(tb testing.TB, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.fail(tb, err)
	}
}

// Eval evaluates a JavaScript expression in the tab (promises awaited) and
// returns its value as T.
func Eval[T any](tb testing.TB, t *Tab, expr string) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.fail(tb, fmt.Errorf("evaluate %s: %w", expr, err))
	}
	return v
}

// Text returns the text of the first element matching the CSS selector.
func (t *Tab) Text(tb testing.TB, css string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.fail(tb, fmt.Errorf("text of %s: %w", css, err))
	}
	return s
}

func (t *Tab) fail(tb testing.TB, err error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	tb.Fatalf("%s: %v\nat %s, page text:\n%.2000s\nbrowser errors: %q", t.name, err, loc, body, t.b.Errors())
}

// CloseWebSockets closes every WebSocket of the page from the browser side,
// as a network blip would: found through DevTools (Runtime.queryObjects),
// so the page needs no test hook. It returns how many it closed.
func (t *Tab) CloseWebSockets(tb testing.TB) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, func(ctx context.Context, _ *chromedp.Target) (int, error) {
		proto, err := chromedp.Run(ctx, chromedp.Evaluate[*runtime.RemoteObject](`WebSocket.prototype`))
		if err != nil {
			return 0, err
		}
		objs, err := chromedp.Call(ctx, runtime.QueryObjects, runtime.QueryObjectsParams{PrototypeObjectID: proto.ObjectID})
		if err != nil {
			return 0, err
		}
		res, err := chromedp.Call(ctx, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			FunctionDeclaration: `function() { let n = 0; for (const ws of this) { if (ws.readyState < 2) { ws.close(); n++; } } return n; }`,
			ObjectID:            objs.Objects.ObjectID,
			ReturnByValue:       &[]bool{true}[0],
		})
		if err != nil {
			return 0, err
		}
		var n int
		if err := json.Unmarshal([]byte(res.Result.Value), &n); err != nil {
			return 0, fmt.Errorf("close websockets: %s", res.Result.Value)
		}
		return n, nil
	})
	if err != nil {
		t.fail(tb, err)
	}
	return n
}

// Login logs in through the login form at base and waits until the page
// it lands on has loaded.
func (t *Tab) Login(tb testing.TB, base, username, password string) {
	tb.Helper()
	t.Do(tb, 20*time.Second,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitNotPresent(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("main")),
	)
}

// Screenshot saves a PNG of the viewport, scrolled to the top (as a person
// sees the page; clicks may have scrolled it), to path (directories created).
func (t *Tab) Screenshot(tb testing.TB, path string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(t.Ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.fail(tb, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.fail(tb, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot: %s", path)
}

// ArtifactDir returns var/artifacts under the repository root (found from
// the working directory upwards by go.mod), created if missing.
func ArtifactDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "var", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		tb.Fatal(err)
	}
	return out
}
