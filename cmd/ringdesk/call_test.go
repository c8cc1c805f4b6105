package main

import (
	"context"
	"database/sql"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/store"
)

// TestServeInboundCall is the demo as a test, through everything serve
// wires: a known caller's call from the loopback trunk to the demo DID pops
// the customer on agent1's desk, rings agent1's registered sipp phone, is
// answered, hung up, and logged against the customer.
func TestServeInboundCall(t *testing.T) {
	sipp := sippPath(t)
	cfg := testConfig(t)
	ctx := context.Background()
	m := mustOpenDemo(t, cfg)
	cust := &ringdesk.Customer{Name: "Ada Lovelace", Company: "Analytical Engines", AccountNumber: "E2E-1",
		Phones: []ringdesk.Phone{{Label: "work", Raw: "020 7946 0123"}}}
	if err := m.DB.CreateCustomer(ctx, cust); err != nil {
		t.Fatal(err)
	}

	// agent1's desk logs in ready.
	agent, err := m.DB.FindUserByUsername(ctx, "agent1")
	if err != nil {
		t.Fatal(err)
	}
	code, token, errOut := cli(t, cfg, "", "user", "token", "agent1")
	if code != 0 {
		t.Fatal(errOut)
	}
	desk, err := agentdesk.Dial(ctx, "ws://"+m.HTTP.Addr()+"/desk/ws", token[:len(token)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Close()
	if _, err := desk.Send(agentdesk.TypeLogin, map[string]bool{"ready": true}); err != nil {
		t.Fatal(err)
	}

	// agent1's phone registers as 1001 and answers after 500 ms.
	sf := func(name string) string { return scenario(t, name) }
	target := m.SIP.UDPAddr().String()
	pport := freeUDPPort(t)
	registerPhone(t, sipp, target, pport)
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	phone := exec.CommandContext(pctx, sipp, "-sf", sf("agent_answer.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(pport),
		"-m", "1", "-d", "500", "-timeout", "50s", "-timeout_error", "-nostdin")
	phone.Dir = t.TempDir()
	if err := phone.Start(); err != nil {
		t.Fatal(err)
	}
	phoneDone := make(chan error, 1)
	go func() { phoneDone <- phone.Wait() }()

	// The trunk calls the demo DID from the customer's number and hangs up after 1 s.
	caller := exec.CommandContext(pctx, sipp, "-sf", sf("trunk_call.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-m", "1", "-d", "1000", "-key", "caller", "020 7946 0123", "-key", "did", store.DemoDID,
		"-timeout", "50s", "-timeout_error", "-nostdin", target)
	caller.Dir = t.TempDir()
	callerDone := make(chan []byte, 1)
	go func() {
		out, err := caller.CombinedOutput()
		if err != nil {
			out = append(out, []byte("\nsipp caller: "+err.Error())...)
			callerDone <- out
			return
		}
		callerDone <- nil
	}()

	// The pop arrives on the desk, for this customer.
	var pop ringdesk.Pop
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	for pop.CallID == "" {
		msg, err := desk.Next(rctx)
		if err != nil {
			t.Fatalf("no pop on the desk: %v", err)
		}
		if msg.Type == agentdesk.TypePop {
			if err := agentdesk.Decode(msg, &pop); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pop.Match != ringdesk.MatchOne || pop.Customer == nil || pop.Customer.ID != cust.ID || pop.CallerE164 != "+442079460123" ||
		pop.AgentID != strconv.FormatInt(agent.ID, 10) || pop.Queue != store.DemoQueue {
		t.Fatalf("pop = %+v", pop)
	}
	if out := <-callerDone; out != nil {
		t.Fatalf("caller:\n%s", out)
	}
	if err := <-phoneDone; err != nil {
		t.Fatalf("agent phone: %v", err)
	}
	// Logged against the customer: answered, then ended, with its times.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := m.DB.FindCallByID(ctx, pop.CallID)
		if err == nil && c.State == ringdesk.CallStateEnded {
			if c.CustomerID != cust.ID || c.AgentID != agent.ID || c.AnsweredAt == nil || c.TalkMS <= 0 {
				t.Fatalf("call row = %+v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s not logged as ended: %+v, %v", pop.CallID, c, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// registerPhone registers agent1's phone (SIP user 1001 of the demo setup)
// from 127.0.0.1:port with sipp.
func registerPhone(t *testing.T, sipp, target string, port int) {
	t.Helper()
	reg := exec.Command(sipp, "-sf", scenario(t, "agent_register.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1",
		"-s", "1001", "-au", "1001", "-ap", "ringdesk-sip-1001", "-auth_uri", target, "-timeout", "20s", "-timeout_error", "-nostdin", target)
	reg.Dir = t.TempDir()
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("phone REGISTER: %v\n%s", err, out)
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestServeNoDeskNoOffer: with routing.require_desk (the default), an agent
// who is ready but whose desk has gone is not offered the call — its phone
// never rings — and is set away (no-desk); the caller waits, hangs up, and
// the call is logged abandoned.
func TestServeNoDeskNoOffer(t *testing.T) {
	sipp := sippPath(t)
	cfg := testConfig(t)
	ctx := context.Background()
	m := mustOpenDemo(t, cfg)
	agent, err := m.DB.FindUserByUsername(ctx, "agent1")
	if err != nil {
		t.Fatal(err)
	}
	agentID := strconv.FormatInt(agent.ID, 10)

	// agent1 logs in ready from its desk, then the desk goes away.
	code, token, errOut := cli(t, cfg, "", "user", "token", "agent1")
	if code != 0 {
		t.Fatal(errOut)
	}
	desk, err := agentdesk.Dial(ctx, "ws://"+m.HTTP.Addr()+"/desk/ws", token[:len(token)-1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := desk.Send(agentdesk.TypeLogin, map[string]bool{"ready": true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "agent1 available", func() bool {
		a, err := m.Router.FindAgent(ctx, agentID)
		return err == nil && a.State == ringdesk.AgentAvailable
	})
	desk.Close()
	waitFor(t, "agent1's desk gone", func() bool {
		ok, err := m.Desk.DeskConnected(ctx, agentID)
		return err == nil && !ok
	})

	// The phone registers, then this test holds its port: any INVITE to it
	// would be read here.
	target := m.SIP.UDPAddr().String()
	pport := freeUDPPort(t)
	registerPhone(t, sipp, target, pport)
	phone, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(pport))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	rang := make(chan string, 1)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, _, err := phone.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case rang <- string(buf[:n]):
			default:
			}
		}
	}()

	// The caller waits (182 Queued, no 180), then cancels.
	caller := exec.Command(sipp, "-sf", scenario(t, "trunk_cancel.xml"), "-t", "u1", "-i", "127.0.0.1",
		"-p", strconv.Itoa(freeUDPPort(t)), "-m", "1", "-key", "caller", "020 7946 0999", "-key", "did", store.DemoDID,
		"-timeout", "30s", "-timeout_error", "-nostdin", target)
	caller.Dir = t.TempDir()
	if out, err := caller.CombinedOutput(); err != nil {
		t.Fatalf("caller: %v\n%s", err, out)
	}
	select {
	case msg := <-rang:
		t.Fatalf("the deskless agent's phone got:\n%s", msg)
	default:
	}
	a, err := m.Router.FindAgent(ctx, agentID)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != ringdesk.AgentAway || a.Reason != ringdesk.ReasonNoDesk {
		t.Fatalf("agent1 = %s/%s, want away/no-desk", a.State, a.Reason)
	}
	db, err := sql.Open("mysql", cfg.MySQL.DSN) // registered by store
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, "the call logged abandoned, offered to nobody", func() bool {
		var n int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM calls WHERE state = ? AND agent_id IS NULL AND ended_at IS NOT NULL`,
			ringdesk.CallStateAbandoned).Scan(&n)
		return err == nil && n == 1
	})
}

// mustOpenDemo migrates cfg's database, seeds the demo setup (agents, the
// queue, the DID, the loopback trunk: serve loads them when it opens) and
// opens Main on it.
func mustOpenDemo(t *testing.T, cfg Config) *Main {
	t.Helper()
	if code, _, errOut := cli(t, cfg, "", "migrate"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := cli(t, cfg, "", "seed", "--customers", "0", "--demo-users"); code != 0 {
		t.Fatal(errOut)
	}
	return mustOpenMain(t, cfg)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
