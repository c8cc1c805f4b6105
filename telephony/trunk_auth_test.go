package telephony_test

import (
	"crypto/md5"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/telephony"
)

// authorize answers challenge the way a trunk's UAC does.
func authorize(t *testing.T, req *sip.Request, challenge, user, password string, mutate func(*digest.Credentials)) {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: req.Recipient.String(), Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(cred)
	}
	req.RemoveHeader("Authorization")
	req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
}

func TestDigestAuth(t *testing.T) {
	clk := newFakeClock()
	auth, err := telephony.NewDigestAuth("ringdesk", clk.fn())
	if err != nil {
		t.Fatal(err)
	}
	trunk := &ringdesk.Trunk{Name: "pbx", Username: "pbx", Password: "s3cret"}
	chal := auth.Challenge(false)
	if !strings.HasPrefix(chal, `Digest realm="ringdesk", nonce="`) || !strings.Contains(chal, `qop="auth"`) {
		t.Fatalf("challenge %s", chal)
	}
	tests := []struct {
		name     string
		user     string
		password string
		mutate   func(*digest.Credentials)
		advance  time.Duration
		want     telephony.AuthResult
	}{
		{"ok", "pbx", "s3cret", nil, 0, telephony.AuthOK},
		{"wrong password", "pbx", "guess", nil, 0, telephony.AuthFailed},
		{"wrong user", "admin", "s3cret", nil, 0, telephony.AuthFailed},
		{"forged nonce", "pbx", "s3cret", func(c *digest.Credentials) { c.Nonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }, 0, telephony.AuthFailed},
		{"other uri", "pbx", "s3cret", func(c *digest.Credentials) { c.URI = "sip:other@ringdesk" }, 0, telephony.AuthFailed},
		{"other realm", "pbx", "s3cret", func(c *digest.Credentials) { c.Realm = "elsewhere" }, 0, telephony.AuthMissing},
		{"upper-case response", "pbx", "s3cret", func(c *digest.Credentials) { c.Response = strings.ToUpper(c.Response) }, 0, telephony.AuthOK},
		{"expired nonce, right password", "pbx", "s3cret", nil, 6 * time.Minute, telephony.AuthStale},
		{"expired nonce, wrong password", "pbx", "guess", nil, 6 * time.Minute, telephony.AuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "+442079460000", Host: "ringdesk"})
			authorize(t, req, auth.Challenge(false), tt.user, tt.password, tt.mutate)
			clk.add(tt.advance)
			defer clk.add(-tt.advance)
			if got := auth.Check(req, trunk); got != tt.want {
				t.Fatalf("Check = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("no authorization", func(t *testing.T) {
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "x", Host: "ringdesk"})
		if got := auth.Check(req, trunk); got != telephony.AuthMissing {
			t.Fatalf("Check = %v", got)
		}
	})
	t.Run("nonce of another server", func(t *testing.T) {
		other, err := telephony.NewDigestAuth("ringdesk", clk.fn())
		if err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "x", Host: "ringdesk"})
		authorize(t, req, other.Challenge(false), "pbx", "s3cret", nil)
		if got := auth.Check(req, trunk); got != telephony.AuthFailed {
			t.Fatalf("Check = %v", got)
		}
	})
	t.Run("stored HA1", func(t *testing.T) {
		sum := md5.Sum([]byte("agent7:ringdesk:phonepass"))
		ha1 := hex.EncodeToString(sum[:])
		for _, tc := range []struct {
			password string
			want     telephony.AuthResult
		}{{"phonepass", telephony.AuthOK}, {"guess", telephony.AuthFailed}} {
			req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "ringdesk"})
			authorize(t, req, auth.Challenge(false), "agent7", tc.password, nil)
			if user, ok := auth.Username(req); !ok || user != "agent7" {
				t.Fatalf("Username = %q, %v", user, ok)
			}
			if got := auth.CheckHA1(req, "agent7", strings.ToUpper(ha1)); got != tc.want {
				t.Fatalf("CheckHA1 with password %q = %v, want %v", tc.password, got, tc.want)
			}
		}
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "ringdesk"})
		if got := auth.CheckHA1(req, "agent7", ""); got != telephony.AuthFailed {
			t.Fatalf("empty HA1: %v", got)
		}
	})
	if _, err := telephony.NewDigestAuth(`bad"realm`, nil); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("bad realm: %v", err)
	}
}

func TestAdmissionDigest(t *testing.T) {
	m, err := telephony.NewTrunkMatcher([]ringdesk.Trunk{
		{Name: "pbx", Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}, Username: "pbx", Password: "s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	auth, err := telephony.NewDigestAuth("ringdesk", clk.fn())
	if err != nil {
		t.Fatal(err)
	}
	noAuth := telephony.NewAdmission(m, 60, 5, nil, clk.fn())
	if d := noAuth.Check(request(t, "192.0.2.10:5060", "")); d.Status != 403 {
		t.Fatalf("credentials configured but no digest auth: %+v", d)
	}

	adm := telephony.NewAdmission(m, 60, 2, nil, clk.fn(), telephony.WithDigestAuth(auth))
	req := request(t, "192.0.2.10:5060", "")
	d := adm.Check(req)
	if d.Status != 401 || d.Challenge == "" || d.Trunk != nil {
		t.Fatalf("first round: %+v", d)
	}
	authorize(t, req, d.Challenge, "pbx", "s3cret", nil)
	if d := adm.Check(req); d.Status != 0 || d.Trunk == nil || d.Trunk.Name != "pbx" {
		t.Fatalf("authorized: %+v", d)
	}
	// Wrong passwords: 401 within the source's budget, then silence.
	var got []int
	for i := 0; i < 4; i++ {
		bad := request(t, "192.0.2.10:5060", "")
		authorize(t, bad, auth.Challenge(false), "pbx", "guess", nil)
		got = append(got, adm.Check(bad).Status)
	}
	if want := []int{401, 401, -1, -1}; !equalInts(got, want) {
		t.Fatalf("wrong passwords: %v, want %v", got, want)
	}
	// Right credentials from outside the trunk's CIDR: 403.
	outside := request(t, "192.0.2.11:5060", "")
	authorize(t, outside, auth.Challenge(false), "pbx", "s3cret", nil)
	if d := adm.Check(outside); d.Status != 403 {
		t.Fatalf("outside CIDR: %+v", d)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
