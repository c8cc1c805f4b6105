package telephony_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// tlsPhone is an agent phone speaking SIP over TLS, built on sipgo (sipp
// as packaged has no TLS). Like a TLS phone behind NAT it registers over
// its own connection and takes its calls on that connection.
type tlsPhone struct {
	client  *sipgo.Client
	invites chan *sip.Request
	acks    chan *sip.Request
	byes    chan *sip.Request
}

func newTLSPhone(t *testing.T, cfg *tls.Config) *tlsPhone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tls-phone"), sipgo.WithUserAgenTLSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsPhone{client: client, invites: make(chan *sip.Request, 4), acks: make(chan *sip.Request, 4),
		byes: make(chan *sip.Request, 4)}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		p.invites <- req
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRinging, "Ringing", nil))
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK",
			[]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: 5061,
			UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}}})
		_ = tx.Respond(res)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { p.acks <- req })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		p.byes <- req
	})
	return p
}

// Register registers user (password sip-password-USER) at the registrar
// on addr over TLS, answering its digest challenge.
func (p *tlsPhone) Register(t *testing.T, addr, user string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(ps)
	aor := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	req.SetTransport("TLS")
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	// A TLS phone behind NAT cannot be reached at its Contact: Ringdesk
	// must use the connection the phone registered over.
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "192.0.2.1", Port: 5061,
		UriParams: sip.HeaderParams{{K: "transport", V: "tls"}}}})
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	res, err := p.client.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: "sip-password-" + user})
	}
	if err != nil || res.StatusCode != sip.StatusOK {
		t.Fatalf("TLS REGISTER: %v %v", res, err)
	}
}

// TestInboundTLSAgent: an agent phone registered over TLS from behind NAT
// (its Contact unreachable) gets the call's INVITE, its ACK and the BYE
// over the TLS connection it registered on, with Ringdesk's TLS Contact,
// and the call completes.
func TestInboundTLSAgent(t *testing.T) {
	env, agents := newCallEnv(t, envOptions{})
	cert, pool := selfSigned(t)
	if err := env.srv.ListenTLS(context.Background(), "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	desk := env.desk(agents[0], true)
	ph := newTLSPhone(t, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	ph.Register(t, env.srv.TLSAddr().String(), agents[0].user.SIPUsername)
	bs, err := env.regs.Bindings(context.Background(), agents[0].user.SIPUsername)
	if err != nil || len(bs) != 1 || bs[0].Transport != "tls" {
		t.Fatalf("bindings after a TLS REGISTER: %+v, %v", bs, err)
	}

	errc := make(chan error, 1)
	go func() { errc <- env.call("trunk_call.xml", knownPhone, 300*time.Millisecond) }()
	if pop, _ := desk.pop(20 * time.Second); pop.Match != ringdesk.MatchOne {
		t.Fatalf("pop %+v: want the known customer", pop)
	}
	wait := func(ch chan *sip.Request, what string) *sip.Request {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("the TLS phone got no %s", what)
			return nil
		}
	}
	inv := wait(ph.invites, "INVITE")
	if via := inv.Via(); via == nil || !strings.EqualFold(via.Transport, "TLS") {
		t.Fatalf("INVITE's Via %v: want TLS", inv.Via())
	}
	if c := inv.Contact(); c == nil || !strings.Contains(strings.ToLower(c.Value()), "transport=tls") {
		t.Fatalf("agent leg Contact %v: want Ringdesk's TLS contact", inv.Contact())
	}
	if len(inv.Body()) == 0 {
		t.Fatal("the INVITE to the phone carries no SDP offer")
	}
	wait(ph.acks, "ACK")
	wait(ph.byes, "BYE") // the caller hangs up after 300 ms
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c := env.finalCall(ringdesk.CallStateEnded)
	if c.AnsweredAt == nil || c.EndReason != "caller-hangup" {
		t.Fatalf("call row %+v: want answered, then ended by the caller", c)
	}
}
