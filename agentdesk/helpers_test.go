package agentdesk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// testKey signs the desk tokens of every test.
var testKey = []byte("0123456789abcdef0123456789abcdef-desk-tests")

// mustBus returns a DeskBus on the test Redis, on a site unique to the test
// whose keys are deleted in t.Cleanup.
func mustBus(t testing.TB) *routing.DeskBus {
	t.Helper()
	rdb, site := routingtest.MustRedis(t)
	return routing.NewDeskBus(rdb, site)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// recordingControl is an AgentControl that records its calls and fails
// with the error set for a method, if any.
type recordingControl struct {
	mu      sync.Mutex
	calls   []string
	fail    map[string]error
	forgets bool // what ForgetsDeskCall says
}

// ForgetsDeskCall makes recordingControl an agentdesk.DeskCallForgetter
// that says false unless a test set forgets (it forgets nothing itself).
func (c *recordingControl) ForgetsDeskCall() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

func (c *recordingControl) record(call string, method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
	return c.fail[method]
}

func (c *recordingControl) setFail(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail == nil {
		c.fail = make(map[string]error)
	}
	c.fail[method] = err
}

func (c *recordingControl) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

func (c *recordingControl) Login(_ context.Context, agentID string, ready bool) error {
	return c.record(fmt.Sprintf("login %s %v", agentID, ready), "login")
}
func (c *recordingControl) SetReady(_ context.Context, agentID string) error {
	return c.record("ready "+agentID, "ready")
}
func (c *recordingControl) SetAway(_ context.Context, agentID, reason string) error {
	return c.record("away "+agentID+" "+reason, "away")
}
func (c *recordingControl) EndWrapUp(_ context.Context, agentID string) error {
	return c.record("end-wrapup "+agentID, "end-wrapup")
}
func (c *recordingControl) Logout(_ context.Context, agentID string) error {
	return c.record("logout "+agentID, "logout")
}

// testNode is one Ringdesk node's hub behind a test HTTP server.
type testNode struct {
	hub     *agentdesk.Hub
	srv     *httptest.Server
	auth    *agentdesk.TokenAuth
	control *recordingControl
}

func newNode(t testing.TB, bus ringdesk.DeskBus, node string, opts ...agentdesk.Option) *testNode {
	t.Helper()
	auth, err := agentdesk.NewTokenAuth(testKey)
	if err != nil {
		t.Fatal(err)
	}
	control := &recordingControl{}
	hub := agentdesk.NewHub(node, bus, auth, control, testLogger(t), opts...)
	if err := hub.Open(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(ctx); err != nil {
			t.Errorf("close hub %s: %v", node, err)
		}
		srv.Close()
	})
	return &testNode{hub: hub, srv: srv, auth: auth, control: control}
}

func (n *testNode) wsURL() string { return "ws" + strings.TrimPrefix(n.srv.URL, "http") }

func agent(id int64) *ringdesk.User {
	return &ringdesk.User{ID: id, Username: "agent" + strconv.FormatInt(id, 10), Role: ringdesk.RoleAgent}
}

func (n *testNode) token(t testing.TB, u *ringdesk.User) string {
	t.Helper()
	tok, err := n.auth.Issue(u, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dialRaw opens a desk connection with the given headers.
func (n *testNode) dialRaw(header http.Header, query string) (*websocket.Conn, *http.Response, error) {
	return websocket.DefaultDialer.Dial(n.wsURL()+query, header)
}

// testDesk is a desk client.
type testDesk struct {
	t     testing.TB
	conn  *websocket.Conn
	hello agentdesk.Hello
	seq   int
}

// connect opens a desk for u with its token in the rd_desk cookie and reads
// the hello.
func (n *testNode) connect(t testing.TB, u *ringdesk.User) *testDesk {
	t.Helper()
	h := http.Header{}
	h.Set("Cookie", agentdesk.CookieName+"="+n.token(t, u))
	conn, resp, err := n.dialRaw(h, "")
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial desk for %s: %v (HTTP %d)", u.Username, err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	d := &testDesk{t: t, conn: conn}
	m := d.next()
	if m.Type != agentdesk.TypeHello {
		t.Fatalf("first message is %s, want hello", m.Type)
	}
	if err := json.Unmarshal(m.Payload, &d.hello); err != nil {
		t.Fatal(err)
	}
	return d
}

// next reads the next message, failing after a generous deadline.
func (d *testDesk) next() ringdesk.DeskMessage {
	d.t.Helper()
	m, err := d.read(10 * time.Second)
	if err != nil {
		d.t.Fatalf("read desk message: %v", err)
	}
	return m
}

func (d *testDesk) read(wait time.Duration) (ringdesk.DeskMessage, error) {
	var m ringdesk.DeskMessage
	_ = d.conn.SetReadDeadline(time.Now().Add(wait))
	mt, data, err := d.conn.ReadMessage()
	if err != nil {
		return m, err
	}
	if mt != websocket.TextMessage {
		return m, fmt.Errorf("message type %d, want text", mt)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("message %q: %w", data, err)
	}
	if m.V != agentdesk.Version {
		return m, fmt.Errorf("message %q has version %d", data, m.V)
	}
	return m, nil
}

// expect reads the next message and checks its type.
func (d *testDesk) expect(typ string, payload any) ringdesk.DeskMessage {
	d.t.Helper()
	m := d.next()
	if m.Type != typ {
		d.t.Fatalf("got a %s message (%s), want %s", m.Type, m.Payload, typ)
	}
	if payload != nil {
		if err := json.Unmarshal(m.Payload, payload); err != nil {
			d.t.Fatal(err)
		}
	}
	return m
}

// sendRaw writes a text message as is.
func (d *testDesk) sendRaw(s string) {
	d.t.Helper()
	if err := d.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

// command sends a command with a fresh request id and returns its ack.
func (d *testDesk) command(typ string, payload any) agentdesk.Ack {
	d.t.Helper()
	d.seq++
	id := "r" + strconv.Itoa(d.seq)
	m := map[string]any{"type": typ, "v": agentdesk.Version, "id": id}
	if payload != nil {
		m["payload"] = payload
	}
	data, _ := json.Marshal(m)
	d.sendRaw(string(data))
	var ack agentdesk.Ack
	got := d.expect(agentdesk.TypeAck, &ack)
	if got.ID != id {
		d.t.Fatalf("ack for request %q, want %q", got.ID, id)
	}
	if ack.Command != typ {
		d.t.Fatalf("ack for command %q, want %q", ack.Command, typ)
	}
	return ack
}

// closeErr reads until the connection ends and returns the close error.
func (d *testDesk) closeErr() error {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := d.read(time.Until(deadline)); err != nil {
			if strings.Contains(err.Error(), "message type") {
				continue
			}
			return err
		}
	}
	d.t.Fatal("connection still open")
	return nil
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testPop(agentID, callID string) *ringdesk.Pop {
	return &ringdesk.Pop{
		CallID:     callID,
		AgentID:    agentID,
		Queue:      "support",
		CallerRaw:  "+44 20 7946 0000",
		CallerE164: "+442079460000",
		CallerName: "Ada",
		Match:      ringdesk.MatchOne,
		Customer:   &ringdesk.Customer{ID: 11, Name: "Ada Lovelace", Status: ringdesk.CustomerActive},
		RecentCalls: []ringdesk.HistoryItem{
			{Kind: "call", ID: "c0", Title: "inbound", Status: "ended"},
		},
		OpenCases: []ringdesk.Case{{ID: 3, CustomerID: 11, Subject: "Broken engine", Status: ringdesk.CaseOpen}},
		WaitMS:    1200,
		OfferedAt: time.Now(),
	}
}
