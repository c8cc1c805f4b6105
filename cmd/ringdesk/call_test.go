package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
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
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if testing.Short() {
			t.Skip("sipp not installed (-short)")
		}
		t.Fatalf("sipp not found (Debian package sip-tester): %v", err)
	}
	cfg := testConfig(t)
	ctx := context.Background()
	// The demo setup (agents, queue, DID, loopback trunk) must exist before
	// serve loads queues and trunks.
	if code, _, errOut := cli(t, cfg, "", "migrate"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := cli(t, cfg, "", "seed", "--customers", "0", "--demo-users"); code != 0 {
		t.Fatal(errOut)
	}
	m := mustOpenMain(t, cfg)
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
	sf := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "..", "telephony", "testdata", "sipp", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	target := m.SIP.UDPAddr().String()
	pport := freeUDPPort(t)
	reg := exec.Command(sipp, "-sf", sf("agent_register.xml"), "-t", "u1", "-i", "127.0.0.1", "-p", strconv.Itoa(pport), "-m", "1",
		"-s", "1001", "-au", "1001", "-ap", "ringdesk-sip-1001", "-auth_uri", target, "-timeout", "20s", "-timeout_error", "-nostdin", target)
	reg.Dir = t.TempDir()
	if out, err := reg.CombinedOutput(); err != nil {
		t.Fatalf("phone REGISTER: %v\n%s", err, out)
	}
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

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
