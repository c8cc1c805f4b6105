package telephony_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
	"github.com/icholy/digest"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/routing/routingtest"
	"github.com/ringdesk/ringdesk/store/storetest"
	"github.com/ringdesk/ringdesk/telephony"
)

type regEnv struct {
	t    *testing.T
	reg  *telephony.Registrar
	regs *routing.Registrations
	db   telephony.SIPUsers
	key  []byte // the site's nonce secret
	seq  int
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sharedAuth returns a digest checker keyed with the site's shared secret.
func (e *regEnv) sharedAuth(t *testing.T) *telephony.DigestAuth {
	t.Helper()
	auth, err := telephony.NewSharedDigestAuth("ringdesk", e.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

func newRegEnv(t *testing.T) *regEnv {
	db := storetest.MustOpenDB(t, "GB")
	rdb, site := routingtest.MustRedis(t)
	ctx := context.Background()
	for _, u := range []struct{ name, sip string }{{"alice", "1001"}, {"bob", "1002"}} {
		if err := db.CreateUser(ctx, &ringdesk.User{Username: u.name, Role: ringdesk.RoleAgent, SIPUsername: u.sip, SIPRealm: "ringdesk"},
			"login-password", "sip-password-"+u.sip); err != nil {
			t.Fatal(err)
		}
	}
	key, err := routing.SharedSecret(ctx, rdb, site, "sip-nonce")
	if err != nil {
		t.Fatal(err)
	}
	e := &regEnv{t: t, regs: routing.NewRegistrations(rdb, site), db: db, key: key}
	e.reg = telephony.NewRegistrar(e.sharedAuth(t), "node-a", db, e.regs, quiet())
	return e
}

// register sends one REGISTER through the handler and returns the response.
func (e *regEnv) register(aor, src string, extra ...string) *sip.Response {
	e.t.Helper()
	e.seq++
	msg := fmt.Sprintf("REGISTER sip:ringdesk.test SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:%s@ringdesk.test>;tag=f%d\r\nTo: <sip:%s@ringdesk.test>\r\n"+
		"Call-ID: reg-%s@test\r\nCSeq: %d REGISTER\r\n%s\r\nContent-Length: 0\r\n\r\n",
		src, e.seq, aor, e.seq, aor, aor, e.seq, strings.Join(extra, "\r\n"))
	parsed, err := sip.NewParser().ParseSIP([]byte(msg))
	if err != nil {
		e.t.Fatalf("parse: %v\n%s", err, msg)
	}
	req := parsed.(*sip.Request)
	req.SetSource(src)
	rec := siptest.NewServerTxRecorder(req)
	e.reg.HandleRegister(req, rec)
	res := rec.Result()
	if len(res) != 1 {
		e.t.Fatalf("got %d responses, want 1", len(res))
	}
	return res[0]
}

// authorize answers the 401's challenge with user/password.
func regAuthorize(t *testing.T, chalRes *sip.Response, user, password string) string {
	t.Helper()
	h := chalRes.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("%d without WWW-Authenticate", chalRes.StatusCode)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:ringdesk.test", Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return "Authorization: " + cred.String()
}

func TestRegisterDigestAndBindings(t *testing.T) {
	e := newRegEnv(t)
	ctx := context.Background()
	contact := "Contact: <sip:1001@127.0.0.1:5070>"

	chal := e.register("1001", "127.0.0.1:5070", contact)
	if chal.StatusCode != 401 {
		t.Fatalf("no credentials: %d, want 401", chal.StatusCode)
	}
	res := e.register("1001", "127.0.0.1:5070", contact, "Expires: 120", regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 200 {
		t.Fatalf("right password: %d %s, want 200", res.StatusCode, res.Reason)
	}
	if c := res.GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), "sip:1001@127.0.0.1:5070") || !strings.Contains(c.Value(), "expires=120") {
		t.Errorf("200 Contact = %v, want the binding with expires=120", c)
	}
	bs, err := e.regs.Bindings(ctx, "1001")
	if err != nil || len(bs) != 1 || bs[0].Source != "127.0.0.1:5070" || bs[0].Node != "node-a" {
		t.Fatalf("bindings = %+v, %v", bs, err)
	}

	// A second contact adds a binding; expires param beats the header; long expiries are capped.
	second := "Contact: <sip:1001@127.0.0.1:5071>;expires=99999"
	res = e.register("1001", "127.0.0.1:5071", second, regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 2 {
		t.Fatalf("second contact: %d with %d contacts", res.StatusCode, len(res.GetHeaders("Contact")))
	}
	if bs, _ := e.regs.Bindings(ctx, "1001"); len(bs) != 2 || time.Until(bs[0].Expires) > telephony.MaxExpires {
		t.Errorf("after second contact: %+v", bs)
	}

	// Too brief → 423 with Min-Expires; nothing stored.
	res = e.register("1001", "127.0.0.1:5072", "Contact: <sip:1001@127.0.0.1:5072>;expires=10", regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil {
		t.Errorf("expires=10: %d, want 423 with Min-Expires", res.StatusCode)
	}

	// Unregister one contact, then all with '*'.
	res = e.register("1001", "127.0.0.1:5070", contact, "Expires: 0", regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 1 {
		t.Fatalf("unregister one: %d with %d contacts", res.StatusCode, len(res.GetHeaders("Contact")))
	}
	res = e.register("1001", "127.0.0.1:5070", "Contact: *", regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 400 {
		t.Errorf("'*' without Expires: 0 → %d, want 400", res.StatusCode)
	}
	res = e.register("1001", "127.0.0.1:5070", "Contact: *", "Expires: 0", regAuthorize(t, chal, "1001", "sip-password-1001"))
	if res.StatusCode != 200 {
		t.Fatalf("unregister all: %d", res.StatusCode)
	}
	if bs, _ := e.regs.Bindings(ctx, "1001"); len(bs) != 0 {
		t.Errorf("bindings after '*': %+v", bs)
	}
}

func TestRegisterRejectsWrongCredentials(t *testing.T) {
	e := newRegEnv(t)
	ctx := context.Background()
	contact := "Contact: <sip:1001@127.0.0.1:5070>"
	chal := e.register("1001", "127.0.0.1:5070", contact)

	cases := []struct {
		name, aor, auth string
		code            int
	}{
		{"wrong password", "1001", regAuthorize(t, chal, "1001", "guess"), 403},
		{"unknown user", "9999", regAuthorize(t, chal, "9999", "whatever"), 403},
		{"another user's AOR", "1001", regAuthorize(t, chal, "1002", "sip-password-1002"), 403},
		{"forged nonce", "1001", strings.Replace(regAuthorize(t, chal, "1001", "sip-password-1001"), "nonce=\"", "nonce=\"AAAA", 1), 403},
		{"garbage header", "1001", "Authorization: Digest ,,,=", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if res := e.register(c.aor, "127.0.0.2:5070", contact, c.auth); res.StatusCode != c.code {
				t.Errorf("%d %s, want %d", res.StatusCode, res.Reason, c.code)
			}
		})
	}
	if bs, _ := e.regs.Bindings(ctx, "1001"); len(bs) != 0 {
		t.Errorf("a rejected REGISTER stored bindings: %+v", bs)
	}
	// The source is now throttled: even the right password is refused.
	for i := 0; i < 10; i++ {
		e.register("1001", "127.0.0.3:5070", contact, regAuthorize(t, chal, "1001", "wrong"))
	}
	if res := e.register("1001", "127.0.0.3:5070", contact, regAuthorize(t, chal, "1001", "sip-password-1001")); res.StatusCode != 403 {
		t.Errorf("throttled source: %d, want 403", res.StatusCode)
	}
	// Another source is not affected.
	if res := e.register("1001", "127.0.0.4:5070", contact, regAuthorize(t, chal, "1001", "sip-password-1001")); res.StatusCode != 200 {
		t.Errorf("other source: %d, want 200", res.StatusCode)
	}
}

// A phone challenged by one node may send its next REGISTER to another:
// nonces are signed with the site's shared secret, so both accept it, and
// a nonce of another site is refused.
func TestRegisterNonceFromAnotherNode(t *testing.T) {
	a := newRegEnv(t)
	chal := a.register("1001", "127.0.0.1:5070", "Contact: <sip:1001@127.0.0.1:5070>")
	b := &regEnv{t: t, regs: a.regs, reg: telephony.NewRegistrar(a.sharedAuth(t), "node-b", a.db, a.regs, quiet())}
	if res := b.register("1001", "127.0.0.1:5070", "Contact: <sip:1001@127.0.0.1:5070>", regAuthorize(t, chal, "1001", "sip-password-1001")); res.StatusCode != 200 {
		t.Errorf("nonce of node A at node B: %d, want 200", res.StatusCode)
	}
	other := newRegEnv(t) // another site: another secret
	if res := other.register("1001", "127.0.0.1:5070", "Contact: <sip:1001@127.0.0.1:5070>", regAuthorize(t, chal, "1001", "sip-password-1001")); res.StatusCode != 403 {
		t.Errorf("nonce of another site: %d, want 403", res.StatusCode)
	}
}
