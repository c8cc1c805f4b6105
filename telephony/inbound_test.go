package telephony_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
	"github.com/ringdesk/ringdesk/telephony"
)

const (
	testDID    = "+442079460000"
	knownPhone = "+447700900123"
)

// callEnv is one Ringdesk node's call path on the real MariaDB and Redis:
// SIP server, routing engine, desk hub (over httptest), call log.
type callEnv struct {
	t      *testing.T
	db     *store.DB
	dsn    string // db's
	rdb    redisClient
	agents []agentUser
	site   string
	router *routing.Router
	regs   *routing.Registrations
	hub    *agentdesk.Hub
	http   *httptest.Server
	auth   *agentdesk.TokenAuth
	srv    *telephony.Server
	in     *telephony.Inbound
	calls  *telephony.CallLog
	logs   *syncBuffer

	mu   sync.Mutex
	pops []popTiming
}

type popTiming struct {
	callID, agentID        string
	inviteToPop, popToRing time.Duration
}

// redisClient is the shared Redis of the test's nodes.
type redisClient = redis.UniversalClient

// agentUser is a test agent with its user id.
type agentUser struct {
	user *ringdesk.User
	id   string
}

type envOptions struct {
	overflow ringdesk.Overflow
	ring     time.Duration
	members  int
	maxLen   int
	maxWait  time.Duration
	// maxLookups is the Inbound's MaxLookups (0: its default).
	maxLookups int
	// join starts a second node on join's MySQL, Redis site, users and
	// queues; node names it (default "node-a").
	join *callEnv
	node string
	// callStore, when set, wraps the MySQL the call log writes to;
	// spoolLimit caps its spool.
	callStore  func(*store.DB) telephony.CallStore
	spoolLimit int64
	// offerNotices: the router also sends an offer made within Enqueue as
	// a notice (routing.Config.OfferInReply off, unlike serve), which the
	// call path must skip.
	offerNotices bool
}

func newCallEnv(t *testing.T, opt envOptions) (*callEnv, []agentUser) {
	t.Helper()
	sippPath(t)
	if opt.node == "" {
		opt.node = "node-a"
	}
	var db *store.DB
	var dsn string
	var rdb redisClient
	var site string
	if opt.join != nil {
		db, dsn, rdb, site = opt.join.db, opt.join.dsn, opt.join.rdb, opt.join.site
	} else {
		db, dsn = storetest.MustOpenDBWithDSN(t, "GB")
		rdb, site = routingtest.MustRedis(t)
	}
	ctx := context.Background()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ringdesk log:\n%s", tailString(logs.String(), 12000))
		}
	})

	agents := opt.join.agentsOrNil()
	if opt.join == nil {
		agents = seedCallData(t, db, opt)
	}

	// One desk bus for the router and the hub, and offers in Enqueue's
	// reply, as serve wires them.
	bus := routing.NewDeskBus(rdb, site)
	router, err := routing.NewRouter(rdb, routing.Config{Site: site, Node: opt.node, Logger: logger, DeskBus: bus,
		OfferInReply: !opt.offerNotices})
	if err != nil {
		t.Fatal(err)
	}
	if err := router.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = router.Close() })
	queues, err := db.FindQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		if err := router.PutQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	auth, err := agentdesk.NewTokenAuth([]byte("0123456789abcdef0123456789abcdef-call-tests"))
	if err != nil {
		t.Fatal(err)
	}
	hub := agentdesk.NewHub(opt.node, bus, auth, router, logger)
	if err := hub.Open(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(hub)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hub.Close(cctx)
		hs.Close()
	})

	matcher, err := telephony.NewTrunkMatcher([]ringdesk.Trunk{{Name: "sipp", Sources: mustSources(t, "127.0.0.1"), TrustPAI: true}})
	if err != nil {
		t.Fatal(err)
	}
	adm := telephony.NewAdmission(matcher, 6000, 1000, logger, nil)
	var callStore telephony.CallStore = db
	if opt.callStore != nil {
		callStore = opt.callStore(db)
	}
	calls := telephony.NewCallLog(callStore, t.TempDir(), logger, telephony.WithSpoolLimit(opt.spoolLimit),
		telephony.WithReplayInterval(200*time.Millisecond))
	if err := calls.Open(); err != nil {
		t.Fatal(err)
	}
	dids := telephony.NewDIDTable(func(ctx context.Context) (map[string]telephony.DIDRoute, error) {
		rs, err := db.FindDIDRoutes(ctx)
		if err != nil {
			return nil, err
		}
		m := make(map[string]telephony.DIDRoute, len(rs))
		for _, r := range rs {
			m[r.Number] = telephony.DIDRoute{Queue: r.Queue, QueueID: r.QueueID}
		}
		return m, nil
	}, db.Normalizer(), logger)
	if err := dids.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	env := &callEnv{t: t, db: db, dsn: dsn, rdb: rdb, agents: agents, site: site, router: router, regs: routing.NewRegistrations(rdb, site), hub: hub,
		http: hs, auth: auth, calls: calls, logs: logs}
	in, err := telephony.NewInbound(telephony.InboundConfig{
		Node: opt.node, Router: router, Desks: hub, Registrations: env.regs, Customers: db, Agents: db,
		LookupBudget: 200 * time.Millisecond, MaxLookups: opt.maxLookups,
		Calls: calls, DIDs: dids, Admission: adm, Normalizer: db.Normalizer(), Logger: logger,
		QueuedInterval: 2 * time.Second,
		OnPop: func(callID, agentID string, a, b time.Duration) {
			env.mu.Lock()
			env.pops = append(env.pops, popTiming{callID, agentID, a, b})
			env.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Inbound comes first: the server hands it the agents' 2xx
	// retransmissions.
	srv, err := telephony.NewServer(logger, telephony.Config{RepliesPerSecond: 1000, RepliesBurst: 1000,
		OnUnmatchedResponse: in.HandleUnmatchedResponse})
	if err != nil {
		t.Fatal(err)
	}
	env.srv = srv
	in.Register(srv)
	key, err := routing.SharedSecret(ctx, rdb, site, "sip-nonce")
	if err != nil {
		t.Fatal(err)
	}
	regAuth, err := telephony.NewSharedDigestAuth("ringdesk", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.SIP().OnRegister(telephony.NewRegistrar(regAuth, opt.node, db, env.regs, logger).HandleRegister)
	if err := srv.Listen(ctx, "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := in.Open(ctx); err != nil {
		t.Fatal(err)
	}
	env.in = in
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Close(cctx); err != nil {
			t.Errorf("close inbound: %v", err)
		}
		_ = srv.Close()
		if err := calls.Close(cctx); err != nil {
			t.Errorf("close call log: %v", err)
		}
	})
	return env, agents
}

// seedCallData writes the agents, the "sales" queue with its DID and a
// known customer.
func seedCallData(t *testing.T, db *store.DB, opt envOptions) []agentUser {
	t.Helper()
	ctx := context.Background()
	var agents []agentUser
	var members []ringdesk.QueueMember
	for i := 0; i < max(opt.members, 2); i++ {
		sipUser := strconv.Itoa(1001 + i)
		u := &ringdesk.User{Username: "agent" + sipUser, Role: ringdesk.RoleAgent, SIPUsername: sipUser, SIPRealm: "ringdesk"}
		if err := db.CreateUser(ctx, u, "login-password", "sip-password-"+sipUser); err != nil {
			t.Fatal(err)
		}
		u, err := db.FindUserBySIPUsername(ctx, sipUser)
		if err != nil {
			t.Fatal(err)
		}
		id := strconv.FormatInt(u.ID, 10)
		agents = append(agents, agentUser{user: u, id: id})
		members = append(members, ringdesk.QueueMember{AgentID: id})
	}
	ring := opt.ring
	if ring == 0 {
		ring = 20 * time.Second
	}
	qid, err := db.CreateQueue(ctx, &ringdesk.Queue{Name: "sales", RingTimeout: ring, Overflow: opt.overflow, MaxLen: opt.maxLen, MaxWait: opt.maxWait, Members: members})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDID(ctx, testDID, qid); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCustomer(ctx, &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Ltd",
		Phones: []ringdesk.Phone{{Label: "mobile", Raw: "07700 900123"}}}); err != nil {
		t.Fatal(err)
	}
	known, err := db.LookupByPhone(ctx, knownPhone)
	if err != nil || len(known) != 1 {
		t.Fatalf("lookup of the known customer: %v, %v", known, err)
	}
	for _, c := range []ringdesk.Case{{Subject: "Engine jammed", Status: ringdesk.CaseOpen}, {Subject: "Old invoice", Status: ringdesk.CaseClosed}} {
		c.CustomerID, c.Priority = known[0].ID, "normal"
		if err := db.CreateCase(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	return agents
}

func (e *callEnv) agentsOrNil() []agentUser {
	if e == nil {
		return nil
	}
	return e.agents
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// freePort returns a UDP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// freeTCPPort returns a TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// desk connects a desk for the agent and logs the agent in, ready.
func (e *callEnv) desk(a agentUser, ready bool) *callDesk {
	e.t.Helper()
	tok, err := e.auth.Issue(a.user, time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + "/?token=" + tok
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		e.t.Fatalf("dial desk: %v", err)
	}
	d := &callDesk{t: e.t, conn: conn, msgs: make(chan deskMsg, 64)}
	go d.read()
	e.t.Cleanup(func() { _ = conn.Close() })
	if m := d.next(agentdesk.TypeHello, 10*time.Second); m.Type == "" {
		e.t.Fatal("no hello on the desk")
	}
	if ready {
		if err := e.router.Login(context.Background(), a.id, true); err != nil {
			e.t.Fatal(err)
		}
	}
	return d
}

type deskMsg struct {
	ringdesk.DeskMessage
	at time.Time
}

type callDesk struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan deskMsg
}

func (d *callDesk) read() {
	defer close(d.msgs)
	for {
		_, data, err := d.conn.ReadMessage()
		if err != nil {
			return
		}
		var m ringdesk.DeskMessage
		if json.Unmarshal(data, &m) == nil {
			d.msgs <- deskMsg{m, time.Now()}
		}
	}
}

// next returns the next message of type typ, skipping others, or a zero
// message after wait.
func (d *callDesk) next(typ string, wait time.Duration) deskMsg {
	deadline := time.After(wait)
	for {
		select {
		case m, ok := <-d.msgs:
			if !ok {
				return deskMsg{}
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			return deskMsg{}
		}
	}
}

func (d *callDesk) pop(wait time.Duration) (*ringdesk.Pop, time.Time) {
	d.t.Helper()
	m := d.next(agentdesk.TypePop, wait)
	if m.Type == "" {
		d.t.Fatal("no pop reached the desk")
	}
	var p ringdesk.Pop
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		d.t.Fatal(err)
	}
	return &p, m.at
}

// phone is a sipp agent phone registered through Ringdesk's registrar.
type phone struct {
	cmd  *exec.Cmd
	dir  string
	out  bytes.Buffer
	done chan error
}

func (e *callEnv) phone(a agentUser, scenario string, extra ...string) *phone {
	e.t.Helper()
	return e.phoneOn(a, "udp", e.register(a), scenario, extra...)
}

// phoneOn runs an agent phone's scenario over transport ("udp", "tcp")
// on a port the phone registered from.
func (e *callEnv) phoneOn(a agentUser, transport string, port int, scenario string, extra ...string) *phone {
	e.t.Helper()
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	p := &phone{dir: e.t.TempDir(), done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	args := append([]string{"-sf", sf, "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1",
		"-timeout", "60s", "-timeout_error", "-nostdin", "-trace_msg", "-trace_err"}, extra...)
	p.cmd = exec.CommandContext(ctx, sippPath(e.t), args...)
	p.cmd.Dir = p.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); cancel() }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	})
	return p
}

// register has a sipp phone REGISTER the agent's SIP user with digest
// through Ringdesk's registrar, from a free port, and returns the port:
// the phone's answering scenario then runs there.
func (e *callEnv) register(a agentUser) int {
	e.t.Helper()
	port := freePort(e.t)
	bs := e.registerFrom(a, "udp", port, "agent_register.xml")
	if len(bs) != 1 || bs[0].Source != "127.0.0.1:"+strconv.Itoa(port) {
		e.t.Fatalf("bindings of %s after REGISTER: %+v", a.user.SIPUsername, bs)
	}
	return port
}

// registerFrom has a sipp phone run a REGISTER scenario from port over
// transport and returns the agent's bindings then.
func (e *callEnv) registerFrom(a agentUser, transport string, port int, scenario string, extra ...string) []ringdesk.Binding {
	e.t.Helper()
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	target := e.srv.UDPAddr().String()
	if transport == "tcp" {
		target = e.srv.TCPAddr().String()
	}
	mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	args := append([]string{"-sf", sf, "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1",
		"-s", a.user.SIPUsername, "-au", a.user.SIPUsername, "-ap", "sip-password-" + a.user.SIPUsername,
		"-auth_uri", target, "-timeout", "20s", "-timeout_error", "-nostdin"}, extra...)
	cmd := exec.Command(sippPath(e.t), append(args, target)...)
	cmd.Dir = e.t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("register agent phone %s: %v\n%s", a.user.SIPUsername, err, tail(out, 2000))
	}
	bs, err := e.regs.Bindings(context.Background(), a.user.SIPUsername)
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

// wait fails the test unless sipp finished its scenario successfully.
func (p *phone) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("agent phone sipp: %v\n%s\n%s", err, tailString(p.out.String(), 2000), p.messages())
		}
	case <-time.After(70 * time.Second):
		t.Fatalf("agent phone sipp did not finish\n%s", p.messages())
	}
}

// messages returns the end of sipp's message trace.
func (p *phone) messages() string { return tailString(p.trace(), 6000) }

// trace returns sipp's whole message trace.
func (p *phone) trace() string { return readTrace(p.dir) }

func readTrace(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*_messages.log"))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// received returns the messages of a sipp trace that sipp received and
// whose first line starts with prefix ("INVITE ", "SIP/2.0 200").
func received(trace, prefix string) []string {
	var out []string
	for _, block := range strings.Split(trace, "-----") {
		i := strings.Index(block, "message received")
		if i < 0 {
			continue
		}
		msg := block[i:]
		if j := strings.Index(msg, "\n"); j >= 0 {
			msg = strings.TrimLeft(msg[j:], "\n")
		}
		if strings.HasPrefix(msg, prefix) {
			out = append(out, msg)
		}
	}
	return out
}

// header returns the value of a message's header (first of its name).
func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// tagOf returns the tag parameter of a From or To value.
func tagOf(v string) string {
	_, t, _ := strings.Cut(v, ";tag=")
	t, _, _ = strings.Cut(t, ";")
	return t
}

// call runs the trunk caller's scenario to the end.
func (e *callEnv) call(scenario, caller string, pause time.Duration) error {
	_, err := e.callTrace(scenario, caller, pause)
	return err
}

// callTrace is call, and returns the trunk's sipp message trace.
func (e *callEnv) callTrace(scenario, caller string, pause time.Duration) (string, error) {
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := e.t.TempDir()
	cmd := exec.CommandContext(ctx, sippPath(e.t), "-sf", sf, "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(e.t)),
		"-m", "1", "-d", strconv.Itoa(int(pause/time.Millisecond)), "-key", "caller", caller, "-key", "did", testDID,
		"-timeout", "60s", "-timeout_error", "-nostdin", "-trace_msg", "-trace_err", e.srv.UDPAddr().String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	msgs := readTrace(dir)
	if err != nil {
		return msgs, fmt.Errorf("trunk sipp %s: %v\n%s\n%s", scenario, err, tail(out, 1500), tailString(msgs, 6000))
	}
	return msgs, nil
}

// finalCall waits for the call row to reach a final state.
func (e *callEnv) finalCall(want string) *ringdesk.Call {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.calls.Sync(ctx)
		c := e.lastCall(ctx)
		cancel()
		if c != nil && c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("call row is %+v, want state %s", c, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *callEnv) lastCall(ctx context.Context) *ringdesk.Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := e.callIDs(ctx)
	if len(ids) == 0 {
		return nil
	}
	c, err := e.db.FindCallByID(ctx, ids[len(ids)-1])
	if err != nil {
		return nil
	}
	return c
}

// callIDs lists the ids of the call rows, oldest first (UUIDv7 sorts by time).
func (e *callEnv) callIDs(ctx context.Context) []string {
	ids := []string{}
	for _, m := range strings.Split(e.logs.String(), "\n") {
		if i := strings.Index(m, "call_id="); i >= 0 && strings.Contains(m, "msg=\"call offered\"") {
			ids = append(ids, strings.Fields(m[i+len("call_id="):])[0])
		}
	}
	return ids
}

func (e *callEnv) events(callID string) []string {
	e.t.Helper()
	evs, err := e.db.FindCallEvents(context.Background(), callID)
	if err != nil {
		e.t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	return kinds
}

func (e *callEnv) popTimings() []popTiming {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]popTiming(nil), e.pops...)
}

// TestInboundAnswered: a known caller's call is queued, popped on the
// ready agent's desk before that agent's phone is rung, answered, and
// ended by the caller's BYE; the call row says answered → ended.
func TestInboundAnswered(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer.xml", "-d", "300")

	errc := make(chan error, 1)
	var trace string
	go func() {
		var err error
		trace, err = env.callTrace("trunk_call.xml", knownPhone, 500*time.Millisecond)
		errc <- err
	}()

	pop, popAt := desk.pop(20 * time.Second)
	if got, want := pop.Match, ringdesk.MatchOne; got != want {
		t.Fatalf("pop match %q, want %q", got, want)
	}
	if pop.Customer == nil || pop.Customer.Name != "Ada Lovelace" {
		t.Fatalf("pop customer %+v, want Ada Lovelace", pop.Customer)
	}
	if len(pop.OpenCases) != 1 || pop.OpenCases[0].Subject != "Engine jammed" {
		t.Fatalf("pop open cases %+v, want the one open case", pop.OpenCases)
	}
	if got, want := pop.CallerE164, knownPhone; got != want {
		t.Fatalf("pop caller %q, want %q", got, want)
	}
	if got, want := pop.AgentID, agents[0].id; got != want {
		t.Fatalf("pop agent %q, want %q", got, want)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Offered at once: the caller hears the agent's ringing, and no 182
	// Queued before it (that is for calls that wait).
	if n, r := strings.Count(trace, "SIP/2.0 182 "), strings.Count(trace, "SIP/2.0 180 "); n != 0 || r == 0 {
		t.Fatalf("the caller got %d 182 and %d 180, want no 182 and the agent's 180:\n%s", n, r, trace)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.AnsweredAt == nil || c.EndedAt == nil || c.TalkMS <= 0 {
		t.Fatalf("call row %+v: want answered and ended with talk time", c)
	}
	if got, want := strconv.FormatInt(c.AgentID, 10), agents[0].id; got != want {
		t.Fatalf("call agent %s, want %s", got, want)
	}
	if c.CustomerID == 0 || c.CallerE164 != knownPhone {
		t.Fatalf("call row %+v: want the customer and caller", c)
	}
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,offer,answered,ended"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
	// After the pop (which is the ringing: PROTOCOL.md) the desk hears
	// the call connect and end, nothing else.
	var states []string
	for range 2 {
		var p ringdesk.CallProgress
		if m := desk.next(agentdesk.TypeCall, 10*time.Second); m.Type == "" || json.Unmarshal(m.Payload, &p) != nil {
			t.Fatalf("call progress after %v: none", states)
		}
		states = append(states, p.State)
	}
	if got, want := strings.Join(states, ","), ringdesk.ProgressConnected+","+ringdesk.ProgressEnded; got != want {
		t.Fatalf("call progress %s, want %s", got, want)
	}
	ts := env.popTimings()
	if len(ts) != 1 {
		t.Fatalf("%d offers, want 1", len(ts))
	}
	invite := firstInviteAt(t, ph.messages())
	t.Logf("INVITE→pop sent %v; pop sent→agent INVITE sent %v; desk got the pop %v before the phone got the INVITE",
		ts[0].inviteToPop, ts[0].popToRing, invite.Sub(popAt))
}

// firstInviteAt reads when sipp received the first INVITE from its
// -trace_msg log ("----- 2026-11-28\t06:10:00.123456" headers).
func firstInviteAt(t *testing.T, log string) time.Time {
	t.Helper()
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "INVITE ") && i >= 3 {
			for j := i - 1; j >= 0 && j >= i-4; j-- {
				if k := strings.Index(lines[j], "----- "); k >= 0 {
					f := strings.Fields(lines[j][k+6:])
					if len(f) >= 2 {
						ts, err := time.ParseInLocation("2006-01-02 15:04:05.000000", f[0]+" "+f[1], time.Local)
						if err == nil {
							return ts
						}
					}
				}
			}
		}
	}
	return time.Time{}
}

// TestInboundUnknownCaller: a number with no customer pops "unknown" and
// the call still connects.
func TestInboundUnknownCaller(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", "+447700900999", 200*time.Millisecond) }()
	pop, _ := desk.pop(20 * time.Second)
	if got, want := pop.Match, ringdesk.MatchUnknown; got != want {
		t.Fatalf("pop match %q, want %q", got, want)
	}
	if pop.Customer != nil || pop.CallerE164 != "+447700900999" {
		t.Fatalf("pop %+v: want no customer and the caller's number", pop)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	if c := env.finalCall(ringdesk.CallStateEnded); c.CustomerID != 0 {
		t.Fatalf("call row has customer %d, want none", c.CustomerID)
	}
}

// TestInboundAbandonWhileQueued: no agent is ready; the caller hangs up
// while queued: 487, the call row says abandoned with its wait.
func TestInboundAbandonWhileQueued(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	env.desk(agents[0], false)
	if err := env.router.Login(context.Background(), agents[0].id, false); err != nil {
		t.Fatal(err)
	}
	trace, err := env.callTrace("trunk_cancel.xml", knownPhone, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// A call that waits is told so: 182 Queued, and no ringing.
	if n, r := strings.Count(trace, "SIP/2.0 182 "), strings.Count(trace, "SIP/2.0 180 "); n == 0 || r != 0 {
		t.Fatalf("the caller got %d 182 and %d 180, want 182 Queued and no 180:\n%s", n, r, trace)
	}
	c := env.finalCall(ringdesk.CallStateAbandoned)
	if c.WaitMS <= 0 || c.EndedAt == nil || c.AnsweredAt != nil {
		t.Fatalf("call row %+v: want abandoned with a wait time", c)
	}
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,abandoned"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
	rc, err := env.router.FindCall(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Status != ringdesk.CallEnded || rc.Result != ringdesk.ResultAbandoned {
		t.Fatalf("routing has the call %s/%s, want ended/abandoned", rc.Status, rc.Result)
	}
}

// TestInboundAbandonWhileRinging: the caller hangs up while the agent's
// phone rings: the agent leg is CANCELled, the call is abandoned.
func TestInboundAbandonWhileRinging(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_noanswer.xml")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_cancel.xml", knownPhone, 1500*time.Millisecond) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateAbandoned)
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,offer,abandoned"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
}

// TestInboundRingNoAnswer: the first agent lets the phone ring out; the
// call goes back to the queue and the second agent gets the pop and the
// call. With a router that also sends the first offer as a notice, the
// call path skips it (else agent 1 would be rung twice).
func TestInboundRingNoAnswer(t *testing.T) {
	for _, notices := range []bool{false, true} {
		t.Run("offerNotices="+strconv.FormatBool(notices), func(t *testing.T) { testInboundRingNoAnswer(t, notices) })
	}
}

func testInboundRingNoAnswer(t *testing.T, offerNotices bool) {
	env, agents := newCallEnv(t, envOptions{ring: 2 * time.Second, offerNotices: offerNotices})
	desk1 := env.desk(agents[0], true)
	ph1 := env.phone(agents[0], "agent_noanswer.xml")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 300*time.Millisecond) }()
	pop1, _ := desk1.pop(20 * time.Second)
	if pop1.AgentID != agents[0].id {
		t.Fatalf("first pop for agent %s, want %s", pop1.AgentID, agents[0].id)
	}
	// The second agent gets ready only now, so the first offer is agent 1's.
	desk2 := env.desk(agents[1], true)
	ph2 := env.phone(agents[1], "agent_answer.xml", "-d", "100")
	pop2, _ := desk2.pop(30 * time.Second)
	if pop2.AgentID != agents[1].id || pop2.CallID != pop1.CallID || pop2.Match != ringdesk.MatchOne {
		t.Fatalf("second pop %+v, want agent %s for call %s", pop2, agents[1].id, pop1.CallID)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph1.wait(t)
	ph2.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if got, want := strconv.FormatInt(c.AgentID, 10), agents[1].id; got != want {
		t.Fatalf("call answered by agent %s, want %s", got, want)
	}
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,offer,rona,offer,answered,ended"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
}

// TestInboundNoAgent: nobody is logged in to a queue that overflows to a
// callback: the caller gets 480 and the call is logged overflowed with a
// callback event.
func TestInboundNoAgent(t *testing.T) {
	env, _ := newCallEnv(t, envOptions{overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}})
	if err := env.call("trunk_480.xml", knownPhone, 0); err != nil {
		t.Fatal(err)
	}
	c := env.finalCall(ringdesk.CallStateOverflowed)
	evs := strings.Join(env.events(c.ID), ",")
	if !strings.Contains(evs, "overflow") || !strings.HasSuffix(evs, "callback") {
		t.Fatalf("call events %s, want an overflow and a callback request", evs)
	}
}

// TestInboundGhostOffer: routing offers this node a call it does not hold
// (as after an Enqueue whose reply was lost): the node ends the call in
// routing, and the agent reserved for it is free again at once.
func TestInboundGhostOffer(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{ring: time.Minute})
	env.desk(agents[0], true)
	ctx := context.Background()
	other, err := routing.NewRouter(env.rdb, routing.Config{Site: env.site, Node: "node-z"})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	p, err := other.Enqueue(ctx, &ringdesk.WaitingCall{ID: "ghost-1", Queues: []string{"sales"}, Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != ringdesk.CallRinging || p.AgentID != agents[0].id {
		t.Fatalf("placement %+v, want ringing at %s", p, agents[0].id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := env.router.FindCall(ctx, "ghost-1")
		if err != nil {
			t.Fatal(err)
		}
		a, err := env.router.FindAgent(ctx, agents[0].id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status == ringdesk.CallEnded && a.State == ringdesk.AgentAvailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ghost call %s (%s), agent %s: want the call ended and the agent available", c.Status, c.Result, a.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInboundUnknownDID: a number no queue answers gets 404.
func TestInboundUnknownDID(t *testing.T) {
	env, _ := newCallEnv(t, envOptions{})
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", "trunk_404.xml"))
	cmd := exec.Command(sippPath(t), "-sf", sf, "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-m", "1",
		"-key", "caller", knownPhone, "-key", "did", "+442079460999", "-timeout", "30s", "-timeout_error", "-nostdin",
		env.srv.UDPAddr().String())
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sipp: %v\n%s", err, tail(out, 2000))
	}
}

// TestInboundUntrusted: an INVITE from a source that is no trunk gets 403.
func TestInboundUntrusted(t *testing.T) {
	env, _ := newCallEnv(t, envOptions{})
	_ = env
	// The env's trunk is 127.0.0.1; sipp sends from 127.0.0.2 here.
	sf, _ := filepath.Abs(filepath.Join("testdata", "sipp", "invite_untrusted.xml"))
	cmd := exec.Command(sippPath(t), "-sf", sf, "-t", "u1", "-i", "127.0.0.2", "-m", "1",
		"-timeout", "30s", "-timeout_error", "-nostdin", env.srv.UDPAddr().String())
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sipp: %v\n%s", err, tail(out, 2000))
	}
}

// TestInboundAnonymousCaller: a withheld number pops "unknown" without a
// number and the call connects.
func TestInboundAnonymousCaller(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", "anonymous", 200*time.Millisecond) }()
	pop, _ := desk.pop(20 * time.Second)
	if pop.Match != ringdesk.MatchUnknown || pop.CallerE164 != "" || pop.CallerRaw != "anonymous" {
		t.Fatalf("pop %+v: want unknown, anonymous, no number", pop)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	env.finalCall(ringdesk.CallStateEnded)
}

// TestInboundSharedNumber: a number on two customers pops both as
// candidates.
func TestInboundSharedNumber(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	if err := env.db.CreateCustomer(context.Background(), &ringdesk.Customer{Name: "Charles Babbage",
		Phones: []ringdesk.Phone{{Label: "office", Raw: knownPhone}}}); err != nil {
		t.Fatal(err)
	}
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 200*time.Millisecond) }()
	pop, _ := desk.pop(20 * time.Second)
	if pop.Match != ringdesk.MatchSeveral || len(pop.Candidates) != 2 || pop.Customer != nil {
		t.Fatalf("pop %+v: want 2 candidates", pop)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	if c := env.finalCall(ringdesk.CallStateEnded); c.CustomerID != 0 {
		t.Fatalf("call row has customer %d for a shared number, want none", c.CustomerID)
	}
}

// TestInboundTwoNodes: two Ringdesk nodes share MySQL and Redis. The call
// comes into node A; the agent's desk is connected to node B and the
// agent's phone registered through node B: the pop reaches the desk on B,
// and A rings the phone at its registered address.
func TestInboundTwoNodes(t *testing.T) {
	envA, agents := newCallEnv(t, envOptions{})
	envB, _ := newCallEnv(t, envOptions{join: envA, node: "node-b"})
	desk := envB.desk(agents[0], true)
	ph := envB.phone(agents[0], "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- envA.call("trunk_call.xml", knownPhone, 300*time.Millisecond) }()
	pop, _ := desk.pop(20 * time.Second)
	if pop.Match != ringdesk.MatchOne || pop.AgentID != agents[0].id {
		t.Fatalf("pop on node B %+v", pop)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := envA.finalCall(ringdesk.CallStateEnded)
	if c.AnsweredAt == nil || strconv.FormatInt(c.AgentID, 10) != agents[0].id {
		t.Fatalf("call row %+v", c)
	}
	if len(envB.popTimings()) != 0 || len(envA.popTimings()) != 1 {
		t.Fatalf("offers on A %d, on B %d: want the owning node A to ring", len(envA.popTimings()), len(envB.popTimings()))
	}
}

// TestInboundAgentHangsUp: the agent's BYE ends the call: the caller gets
// a BYE, the row says ended by the agent.
func TestInboundAgentHangsUp(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_hangup.xml", "-d", "300")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call_agent_bye.xml", knownPhone, 0) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.EndReason != "agent-hangup" || c.TalkMS <= 0 {
		t.Fatalf("call row %+v: want ended by the agent with talk time", c)
	}
	a, err := env.router.FindAgent(context.Background(), agents[0].id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("agent after the call: %s", a.State)
}

// TestInboundInfoRelay: a mid-call INFO from the caller reaches the
// agent's phone and its 200 comes back; so does an UPDATE, a target
// refresh: the phone's 200 moves its Contact, and the BYE goes there.
func TestInboundInfoRelay(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer_info.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call_info.xml", knownPhone, 300*time.Millisecond) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	env.finalCall(ringdesk.CallStateEnded)
	checkByeAfterUpdate(t, ph.trace())
}

// checkByeAfterUpdate checks, in a phone's trace of trunk_call_info.xml,
// that the relayed UPDATE came and the BYE went to the Contact of the
// phone's 200 to it (agent-moved).
func checkByeAfterUpdate(t *testing.T, trace string) {
	t.Helper()
	upd, byes := received(trace, "UPDATE "), received(trace, "BYE ")
	if len(upd) != 1 || len(byes) != 1 || !strings.HasPrefix(byes[0], "BYE sip:agent-moved@") {
		t.Fatalf("phone got %d UPDATEs and BYEs %v: want one UPDATE, then the BYE at sip:agent-moved@…", len(upd), byes)
	}
}

// waitQueued waits until the latest call row is queued.
func (e *callEnv) waitQueued() {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.calls.Sync(ctx)
		c := e.lastCall(ctx)
		cancel()
		if c != nil && c.State == ringdesk.CallStateQueued {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the call was never queued")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInboundQueueFull: a queue at its length limit without overflow
// refuses the next call with 503 and Retry-After.
func TestInboundQueueFull(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{maxLen: 1})
	env.desk(agents[0], false)
	if err := env.router.Login(context.Background(), agents[0].id, false); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_cancel.xml", knownPhone, 3*time.Second) }()
	env.waitQueued()
	if err := env.call("trunk_503.xml", "+447700900999", 0); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestInboundMaxWait: a caller who waits past the queue's max wait is
// overflowed to a callback request (the routing engine's notice): 480,
// logged overflowed with a callback event.
func TestInboundMaxWait(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{maxWait: time.Second, overflow: ringdesk.Overflow{Kind: ringdesk.OverflowCallback}})
	env.desk(agents[0], false)
	if err := env.router.Login(context.Background(), agents[0].id, false); err != nil {
		t.Fatal(err)
	}
	if err := env.call("trunk_480.xml", knownPhone, 0); err != nil {
		t.Fatal(err)
	}
	c := env.finalCall(ringdesk.CallStateOverflowed)
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,overflow,callback"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
	if c.WaitMS < 1000 {
		t.Fatalf("wait %d ms, want at least the max wait", c.WaitMS)
	}
}

// TestInboundLookupUnavailable: while MySQL cannot answer the customer
// lookup (another session holds a write lock on the phones), a call's pop
// says "unavailable" once the budget has passed and the call still routes
// and connects; a call arriving while MaxLookups run waits for a turn
// within the budget and, when none comes, is not looked up at all; one that
// gets a turn in time pops with the record. The late query is not cancelled
// (the driver would drop its connection): it finishes once the lock is
// gone.
func TestInboundLookupUnavailable(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{maxLookups: 1, members: 3})
	ctx := context.Background()
	sqldb, err := sql.Open("mysql", env.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	lock, err := sqldb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "LOCK TABLES customer_phones WRITE"); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
				t.Error(err)
			}
		}
	}
	defer unlock()

	pops := make(chan deskMsg, 3)
	var phones []*phone
	for _, a := range agents[:3] {
		d := env.desk(a, true)
		go func() { pops <- d.next(agentdesk.TypePop, 30*time.Second) }()
		phones = append(phones, env.phone(a, "agent_answer.xml", "-d", "100"))
	}
	errc := make(chan error, 3)
	// The first call stays up while the second and third come in, which
	// go to the other agents.
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 3*time.Second) }()
	popOf := func() *ringdesk.Pop {
		t.Helper()
		m := <-pops
		if m.Type == "" {
			t.Fatal("no pop reached the desks")
		}
		var p ringdesk.Pop
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	for i, want := range []struct{ late, shed int64 }{{1, 0}, {1, 1}} {
		if i == 1 {
			go func() { errc <- env.call("trunk_call.xml", knownPhone, 200*time.Millisecond) }()
		}
		pop := popOf()
		if pop.Match != ringdesk.MatchUnavailable || pop.CallerE164 != knownPhone {
			t.Fatalf("pop %d %+v: want lookup unavailable with the caller's number", i+1, pop)
		}
		if late, shed := env.in.LookupStats(); late != want.late || shed != want.shed {
			t.Fatalf("after pop %d: %d late and %d shed lookups, want %d and %d", i+1, late, shed, want.late, want.shed)
		}
	}
	// A lookup that finds MaxLookups running waits for a turn within its
	// budget: the third call comes in while the first call's lookup still
	// holds the only one; the table is unlocked 100 ms later, that lookup
	// ends, and the third runs in time to pop with the record.
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 200*time.Millisecond) }()
	time.Sleep(100 * time.Millisecond)
	unlock()
	if pop := popOf(); pop.Match != ringdesk.MatchOne || pop.Customer == nil {
		t.Fatalf("pop 3 %+v: want the customer, after waiting for the running lookup", pop)
	}
	if late, shed := env.in.LookupStats(); late != 1 || shed != 1 {
		t.Fatalf("after pop 3: %d late and %d shed lookups, want still 1 and 1", late, shed)
	}
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, ph := range phones {
		ph.wait(t)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(env.logs.String(), `msg="late customer lookup finished"`) {
		if time.Now().After(deadline) {
			t.Fatal("the late lookup did not finish after the lock was gone")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range strings.Split(env.logs.String(), "\n") {
		if strings.Contains(l, `msg="late customer lookup finished"`) && !strings.Contains(l, "error=<nil>") {
			t.Fatalf("the late lookup failed instead of finishing: %s", l)
		}
	}
	env.finalCall(ringdesk.CallStateEnded)
}

// TestInboundClose: Close stops taking calls and, when its deadline
// passes, ends a call still queued with 503 (its carrier may retry
// elsewhere); later INVITEs get 503 too.
func TestInboundClose(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	env.desk(agents[0], false)
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_503.xml", knownPhone, 0) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = env.calls.Sync(ctx)
		c := env.lastCall(ctx)
		cancel()
		if c != nil && c.State == ringdesk.CallStateQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was never queued")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := env.in.Close(ctx); err == nil {
		t.Fatal("Close returned nil with a call still queued at its deadline")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if c := env.finalCall(ringdesk.CallStateFailed); c.EndReason != "shutdown" {
		t.Fatalf("call row %+v: want failed by shutdown", c)
	}
	if err := env.call("trunk_503.xml", knownPhone, 0); err != nil {
		t.Fatal(err)
	}
}

// TestInboundLateAnswer: the caller hangs up while the agent's phone
// rings, and the phone's 200 crosses Ringdesk's CANCEL. The late answer is
// ACKed and the phone hung up at once with a BYE (the sipp phone fails
// without both); the call row says abandoned with its timestamps, the
// late answer is a call event of that agent, and the agent is left
// neither ringing nor on a call.
func TestInboundLateAnswer(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_late_answer.xml")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_cancel.xml", knownPhone, 300*time.Millisecond) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateAbandoned)
	if c.EndedAt == nil || c.WaitMS <= 0 || c.AnsweredAt != nil || c.EndReason != "caller-cancel" {
		t.Fatalf("call row %+v: want abandoned by the caller with its wait, never answered", c)
	}
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,offer,late-answer,abandoned"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
	ctx := context.Background()
	evs, err := env.db.FindCallEvents(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strconv.FormatInt(evs[3].AgentID, 10), agents[0].id; got != want || evs[3].At.IsZero() {
		t.Fatalf("late-answer event %+v: want agent %s with its time", evs[3], want)
	}
	rc, err := env.router.FindCall(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Status != ringdesk.CallEnded || rc.Result != ringdesk.ResultAbandoned {
		t.Fatalf("routing has the call %s/%s, want ended/abandoned", rc.Status, rc.Result)
	}
	a, err := env.router.FindAgent(ctx, agents[0].id)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != ringdesk.AgentAvailable {
		t.Fatalf("agent is %s after the late answer, want %s", a.State, ringdesk.AgentAvailable)
	}
	// The phone saw ACK then BYE, with no 200 OK of the caller in between.
	msgs := ph.messages()
	ack, bye := strings.Index(msgs, "\nACK sip:"), strings.Index(msgs, "\nBYE sip:")
	if ack < 0 || bye < ack {
		t.Fatalf("phone trace lacks ACK then BYE:\n%s", msgs)
	}
}

// TestInboundReinvite: re-INVITEs are relayed across the legs both ways,
// each leg with its own CSeq and tags: the caller's hold (a=sendonly)
// reaches the agent's phone and its a=recvonly answer and the ACK come
// back and go across; the phone's 491 to the caller's resume is relayed
// back; the phone's own hold reaches the caller and is answered and ACKed.
// Each relay is a call event.
func TestInboundReinvite(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_reinvite.xml")
	errc := make(chan error, 1)
	var trunk string
	go func() {
		var err error
		trunk, err = env.callTrace("trunk_call_reinvite.xml", knownPhone, 0)
		errc <- err
	}()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)

	// The caller's leg: the agent's re-INVITE came in the caller's dialog,
	// from Ringdesk's To-tag, with a CSeq of Ringdesk's own.
	oks := received(trunk, "SIP/2.0 200")
	ins := received(trunk, "INVITE ")
	if len(oks) < 2 || len(ins) != 1 {
		t.Fatalf("trunk got %d 200s and %d INVITEs, want 2 and 1", len(oks), len(ins))
	}
	ourTag := tagOf(header(oks[0], "To"))
	if got := ins[0]; tagOf(header(got, "From")) != ourTag || header(got, "Call-ID") != header(oks[0], "Call-ID") ||
		tagOf(header(got, "To")) != tagOf(header(oks[0], "From")) || header(got, "CSeq") == "1 INVITE" {
		t.Fatalf("relayed INVITE to the caller is not in the caller's dialog (our tag %s):\n%s", ourTag, got)
	}
	// Target refresh (RFC 3261 §12.2.1.2): the caller's hold re-INVITE
	// gave a new Contact (caller-moved), so the agent's re-INVITE reaches
	// the caller there; the caller's 200 to that gave another
	// (caller-again), where the agent's hang-up goes.
	byes := received(trunk, "BYE ")
	if !strings.HasPrefix(ins[0], "INVITE sip:caller-moved@") || len(byes) != 1 || !strings.HasPrefix(byes[0], "BYE sip:caller-again@") {
		t.Fatalf("requests to the caller after its target refreshes: want sip:caller-moved@… then sip:caller-again@…, got\n%s\n%v", ins[0], byes)
	}
	// The agent's leg: both of the caller's re-INVITEs came in the agent's
	// dialog, with CSeqs following the first INVITE's; the second went to
	// the Contact of the phone's 200 to the first (agent-moved).
	inv := received(ph.trace(), "INVITE ")
	if len(inv) != 3 {
		t.Fatalf("phone got %d INVITEs, want 3", len(inv))
	}
	if !strings.HasPrefix(inv[1], "INVITE sip:agent@") || !strings.HasPrefix(inv[2], "INVITE sip:agent-moved@") {
		t.Fatalf("re-INVITEs to the phone: want sip:agent@… then, after its 200's new Contact, sip:agent-moved@…:\n%s\n%s", inv[1], inv[2])
	}
	// The ACK of that 200 went to its Contact already (RFC 3261 §13.2.2.4).
	if acks := received(ph.trace(), "ACK "); len(acks) < 2 || !strings.HasPrefix(acks[1], "ACK sip:agent-moved@") {
		t.Fatalf("ACKs to the phone %v: want the second (of the hold's 200) at sip:agent-moved@…", acks)
	}
	first, _ := strconv.Atoi(strings.Fields(header(inv[0], "CSeq"))[0])
	for i, m := range inv[1:] {
		if got, want := header(m, "CSeq"), strconv.Itoa(first+i+1)+" INVITE"; got != want {
			t.Fatalf("re-INVITE %d to the phone has CSeq %q, want %q", i+1, got, want)
		}
		if header(m, "Call-ID") != header(inv[0], "Call-ID") || tagOf(header(m, "From")) != tagOf(header(inv[0], "From")) ||
			tagOf(header(m, "To")) == "" {
			t.Fatalf("re-INVITE %d is not in the agent's dialog:\n%s", i+1, m)
		}
	}
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.EndReason != "agent-hangup" || c.AnsweredAt == nil || c.EndedAt == nil {
		t.Fatalf("call row %+v: want answered, then ended by the agent", c)
	}
	evs, err := env.db.FindCallEvents(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var relays []string
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == "reinvite" {
			relays = append(relays, ev.Data)
		}
	}
	if got, want := strings.Join(kinds, ","), "offered,queued,offer,answered,reinvite,reinvite,reinvite,ended"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
	want := []string{"from=caller status=200 media=sendonly", "from=caller status=491 media=sendrecv", "from=agent status=200 media=sendonly"}
	if got := strings.Join(relays, "|"); got != strings.Join(want, "|") {
		t.Fatalf("re-INVITE events %q, want %q", relays, want)
	}
}

// TestInboundTCPAgent: an agent phone registered over TCP (Contact
// ;transport=tcp) gets its INVITE over TCP and the call completes. Like a
// real phone, it registers from one port (its connection, gone by the
// call) and listens on another, its Contact: the INVITE goes there.
func TestInboundTCPAgent(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	regPort, port := freeTCPPort(t), freeTCPPort(t)
	contact := "127.0.0.1:" + strconv.Itoa(port) + ";transport=tcp"
	bs := env.registerFrom(agents[0], "tcp", regPort, "agent_register_as.xml",
		"-key", "via", "127.0.0.1:"+strconv.Itoa(regPort), "-key", "contact", contact)
	if len(bs) != 1 || bs[0].Transport != "tcp" || bs[0].Contact != "sip:1001@"+contact ||
		bs[0].Source != "127.0.0.1:"+strconv.Itoa(regPort) {
		t.Fatalf("bindings after a TCP REGISTER: %+v", bs)
	}
	ph := env.phoneOn(agents[0], "tcp", port, "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 300*time.Millisecond) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.AnsweredAt == nil || c.EndReason != "caller-hangup" {
		t.Fatalf("call row %+v: want answered, then ended by the caller", c)
	}
	inv := received(ph.trace(), "INVITE ")
	if len(inv) != 1 || !strings.Contains(strings.ToUpper(header(inv[0], "Via")), "SIP/2.0/TCP") {
		t.Fatalf("phone got %d INVITEs, want 1 over TCP:\n%s", len(inv), ph.messages())
	}
	if got := header(inv[0], "Contact"); !strings.Contains(got, ";transport=tcp") {
		t.Fatalf("agent leg Contact %q, want Ringdesk's TCP contact", got)
	}
}

// TestInboundNATAgent: an agent phone behind NAT registers with a Via and
// a Contact naming an address where nothing reaches it, but sends from
// its real socket. The registrar answers at the source port (rport), the
// INVITE goes where the REGISTER came from, and the ACK, a relayed INFO
// and the BYE go where the phone answered from: the call completes and
// nothing is sent to the Contact. (The unreachable address is a loopback
// trap that counts what reaches it, rather than 192.0.2.1, so that no test
// traffic leaves the machine and a miss is seen, not just timed out.)
func TestInboundNATAgent(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	trap, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	trapped := make(chan string, 16)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := trap.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case trapped <- string(buf[:n]):
			default:
			}
		}
	}()
	private := trap.LocalAddr().String()
	port := freePort(t)
	bs := env.registerFrom(agents[0], "udp", port, "agent_register_as.xml", "-key", "via", private, "-key", "contact", private)
	if len(bs) != 1 || bs[0].Contact != "sip:1001@"+private || bs[0].Source != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("bindings of a phone behind NAT: %+v, want contact %s from 127.0.0.1:%d", bs, private, port)
	}
	ph := env.phoneOn(agents[0], "udp", port, "agent_answer_info_nat.xml", "-d", "100", "-key", "contact", private)
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call_info.xml", knownPhone, 300*time.Millisecond) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.AnsweredAt == nil || c.EndReason != "caller-hangup" {
		t.Fatalf("call row %+v: want answered, then ended by the caller", c)
	}
	select {
	case m := <-trapped:
		t.Fatalf("a message went to the phone's private Contact:\n%s", m)
	default:
	}
	// The UPDATE's 200 moved the Contact (still the private address): the
	// BYE names it but still went where the phone's messages came from.
	checkByeAfterUpdate(t, ph.trace())
}

// TestInboundSpoolFull: MySQL refuses the call log's writes and its spool
// is full after the first records: the call is still served (queued,
// popped, answered, hung up), the writes that did not fit are logged at
// ERROR and counted, and the spooled ones reach MySQL once it is back.
func TestInboundSpoolFull(t *testing.T) {
	var fs *flakyStore
	env, agents := newCallEnv(t, envOptions{spoolLimit: 1024, callStore: func(db *store.DB) telephony.CallStore {
		fs = &flakyStore{DB: db}
		fs.down.Store(true)
		return fs
	}})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 300*time.Millisecond) }()
	pop, _ := desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.calls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if env.calls.Overflows() == 0 || env.calls.SpoolBytes() == 0 || env.calls.SpoolBytes() > 1024 {
		t.Fatalf("spool %d bytes, %d overflows: want it full, within 1024 bytes, and overflows counted",
			env.calls.SpoolBytes(), env.calls.Overflows())
	}
	if !strings.Contains(env.logs.String(), "call log record not kept") {
		t.Fatal("no ERROR for the writes the full spool could not keep")
	}
	fs.down.Store(false)
	for env.calls.Spooled() {
		if ctx.Err() != nil {
			t.Fatal("spool never replayed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := env.db.FindCallByID(ctx, pop.CallID)
	if err != nil {
		t.Fatalf("the spooled call row never reached MySQL: %v", err)
	}
	t.Logf("after the replay the row is %s (later writes overflowed); %d writes overflowed", c.State, env.calls.Overflows())
}

// TestInboundReinviteGlare: the agent's phone sends its own re-INVITE
// while the caller's is being relayed to it: Ringdesk answers it 491
// Request Pending (RFC 3261 §14.2) and the caller's re-INVITE still
// completes once the phone answers it.
func TestInboundReinviteGlare(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_reinvite_glare.xml")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call_hold.xml", knownPhone, 0) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if got, want := strings.Join(env.events(c.ID), ","), "offered,queued,offer,answered,reinvite,ended"; got != want {
		t.Fatalf("call events %s, want %s", got, want)
	}
}

// TestInboundReackLate2xx: a 2xx of the agent's phone that matches no
// transaction any more (a late retransmission) is ACKed again, with the
// INVITE's CSeq, built from the 2xx itself.
func TestInboundReackLate2xx(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_answer_reack.xml", "-d", "100")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, time.Second) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	env.finalCall(ringdesk.CallStateEnded)
	trace := ph.trace()
	inv, acks := received(trace, "INVITE "), received(trace, "ACK ")
	if len(inv) != 1 || len(acks) < 2 {
		t.Fatalf("phone got %d INVITEs and %d ACKs, want 1 and 2", len(inv), len(acks))
	}
	n := strings.Fields(header(inv[0], "CSeq"))[0]
	for _, a := range acks {
		if got, want := header(a, "CSeq"), n+" ACK"; got != want {
			t.Fatalf("ACK with CSeq %q, want %q:\n%s", got, want, a)
		}
	}
}

// TestInboundReinviteCancel: the caller CANCELs its re-INVITE before the
// agent's phone answers it: the caller gets 200 and 487, the relayed
// re-INVITE is CANCELled on the agent's leg (the phone fails without the
// CANCEL), and the call goes on to its end.
func TestInboundReinviteCancel(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	desk := env.desk(agents[0], true)
	ph := env.phone(agents[0], "agent_reinvite_cancel.xml")
	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call_hold_cancel.xml", knownPhone, 0) }()
	desk.pop(20 * time.Second)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ph.wait(t)
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.EndReason != "caller-hangup" {
		t.Fatalf("call row %+v: want ended by the caller", c)
	}
	evs, err := env.db.FindCallEvents(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Kind+":"+ev.Data)
	}
	if len(evs) != 6 || evs[4].Data != "from=caller status=487 other=487" {
		t.Fatalf("call events %q, want the cancelled re-INVITE logged 487 on both legs", got)
	}
}
