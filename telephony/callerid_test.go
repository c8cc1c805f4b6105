package telephony_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/telephony"
)

type cid = telephony.CallerID

func TestExtractCallerID(t *testing.T) {
	type H = telephony.CallerIDHeaders
	const from = `"Alice Smith" <sip:+447700900123@carrier.example>;tag=1`
	tests := []struct {
		name    string
		h       H
		trusted bool
		want    cid
	}{
		{"from only", H{From: from}, false, cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"pai trusted", H{From: `<sip:0800@gw>;tag=1`, PAI: []string{`"Bob" <sip:+15551230000@carrier;user=phone>`}}, true,
			cid{Number: "+15551230000", Name: "Bob", Source: "pai"}},
		{"pai untrusted ignored", H{From: from, PAI: []string{`<sip:+15551230000@carrier>`}}, false,
			cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"pai sip and tel in one header: tel preferred", H{From: from, PAI: []string{`<sip:5551230000@carrier>, <tel:+1-555-123-0000>`}}, true,
			cid{Number: "+1-555-123-0000", Name: "Alice Smith", Source: "pai"}},
		{"pai sip and tel in two headers", H{From: from, PAI: []string{`"Carrier Name" <sip:+15551230000@carrier>`, `<tel:+15551230000;cpc=ordinary>`}}, true,
			cid{Number: "+15551230000", Name: "Carrier Name", Source: "pai"}},
		{"pai without name borrows from", H{From: from, PAI: []string{`<tel:+447700900999>`}}, true,
			cid{Number: "+447700900999", Name: "Alice Smith", Source: "pai"}},
		{"pai unparsable: rpid", H{From: from, PAI: []string{`garbage`}, RPID: []string{`<sip:+442079460000@x>;party=calling`}}, true,
			cid{Number: "+442079460000", Name: "Alice Smith", Source: "rpid"}},
		{"pai host only: rpid", H{From: from, PAI: []string{`<sip:carrier.example>`}, RPID: []string{`<sip:+442079460000@x>`}}, true,
			cid{Number: "+442079460000", Name: "Alice Smith", Source: "rpid"}},
		{"rpid untrusted trunk used", H{From: from, RPID: []string{`"Rem" <sip:+12125550000@gw>;party=calling;screen=yes;privacy=off`}}, false,
			cid{Number: "+12125550000", Name: "Rem", Source: "rpid"}},
		{"rpid called party skipped", H{From: from, RPID: []string{`<sip:+100@gw>;party=called, <sip:+12125550000@gw>;party=calling`}}, false,
			cid{Number: "+12125550000", Name: "Alice Smith", Source: "rpid"}},
		{"rpid only called party: from", H{From: from, RPID: []string{`<sip:+100@gw>;party=called`}}, false,
			cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"rpid privacy=full", H{From: from, RPID: []string{`"Rem" <sip:+12125550000@gw>;party=calling;privacy=full`}}, false,
			cid{Source: "rpid", Anonymous: true}},
		{"rpid privacy=uri", H{From: from, RPID: []string{`<sip:+12125550000@gw>;privacy="uri"`}}, false,
			cid{Source: "rpid", Anonymous: true}},
		{"rpid privacy=name keeps number", H{From: from, RPID: []string{`"Rem" <sip:+12125550000@gw>;privacy=name`}}, false,
			cid{Number: "+12125550000", Source: "rpid"}},
		{"from anonymous", H{From: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1`}, false, cid{Source: "from", Anonymous: true}},
		{"from anonymous.invalid host", H{From: `<sip:caller@anonymous.invalid>;tag=1`}, false, cid{Source: "from", Anonymous: true}},
		{"from restricted", H{From: `<sip:Restricted@gw.example>;tag=1`}, false, cid{Source: "from", Anonymous: true}},
		{"from unavailable", H{From: `sip:unavailable@gw.example;tag=1`}, false, cid{Source: "from", Anonymous: true}},
		{"from private", H{From: `<sip:private@gw.example>`}, false, cid{Source: "from", Anonymous: true}},
		{"from unknown", H{From: `<sip:unknown@gw.example>`}, false, cid{Source: "from", Anonymous: true}},
		{"privacy id hides trusted pai", H{From: `<sip:anonymous@anonymous.invalid>;tag=1`, PAI: []string{`<tel:+15551230000>`}, Privacy: []string{"id"}}, true,
			cid{Source: "pai", Anonymous: true}},
		{"privacy user", H{From: from, Privacy: []string{"user;critical"}}, false, cid{Source: "from", Anonymous: true}},
		{"privacy header", H{From: from, Privacy: []string{"header"}}, false, cid{Source: "from", Anonymous: true}},
		{"privacy none", H{From: from, Privacy: []string{"none"}}, false, cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"privacy session only", H{From: from, Privacy: []string{"session"}}, false, cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"anonymous pai user", H{From: from, PAI: []string{`<sip:anonymous@carrier>`}}, true, cid{Source: "pai", Anonymous: true}},
		{"uri params stripped", H{From: `<sip:+447700900123;npdi;rn=+4477@carrier;user=phone>;tag=9`}, false,
			cid{Number: "+447700900123", Source: "from"}},
		{"password stripped", H{From: `<sip:2125550000:secret@gw>`}, false, cid{Number: "2125550000", Source: "from"}},
		{"escaped plus", H{From: `<sip:%2B442079460000@gw>`}, false, cid{Number: "+442079460000", Source: "from"}},
		{"escape decoded once", H{From: `<sip:%2541@gw>`}, false, cid{Number: "%41", Source: "from"}},
		{"visual separators kept", H{From: `<tel:+44-20-7946-0000;phone-context=+44>`}, false, cid{Number: "+44-20-7946-0000", Source: "from"}},
		{"national number raw", H{From: `"Shop" <sip:020 7946 0000@gw>`}, false, cid{Number: "020 7946 0000", Name: "Shop", Source: "from"}},
		{"unquoted display name", H{From: `Alice   Smith <sip:+447700900123@gw>`}, false, cid{Number: "+447700900123", Name: "Alice Smith", Source: "from"}},
		{"escaped quote in name", H{From: `"Al \"The Boss\" Capone" <sip:100@gw>`}, false, cid{Number: "100", Name: `Al "The Boss" Capone`, Source: "from"}},
		{"control chars removed", H{From: "\"Evil\x07\x00\u202eName\" <sip:100@gw>"}, false, cid{Number: "100", Name: "EvilName", Source: "from"}},
		{"long name cut", H{From: `"` + strings.Repeat("x", 200) + `" <sip:100@gw>`}, false, cid{Number: "100", Name: strings.Repeat("x", 64), Source: "from"}},
		{"utf-8 name", H{From: `"Zoë Ångström" <sip:100@gw>`}, false, cid{Number: "100", Name: "Zoë Ångström", Source: "from"}},
		{"addr-spec with tag", H{From: `sip:+15551230000@gw;tag=abc`}, false, cid{Number: "+15551230000", Source: "from"}},
		{"no user part", H{From: `<sip:gw.example>;tag=1`}, false, cid{Source: "from"}},
		{"empty", H{}, false, cid{Source: "from"}},
		{"unknown scheme", H{From: `<http://example.com/>`}, false, cid{Source: "from"}},
		{"sips", H{From: `<sips:+15551230000@gw>`}, false, cid{Number: "+15551230000", Source: "from"}},
		{"unterminated quote", H{From: `"Alice <sip:100@gw>`}, false, cid{Number: "100", Name: "Alice", Source: "from"}},
		{"ipv6 host", H{From: `<sip:100@[2001:db8::1]:5060>`}, false, cid{Number: "100", Source: "from"}},
	}
	if len(tests) < 25 {
		t.Fatal("want at least 25 cases")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := telephony.ExtractCallerID(tt.h, tt.trusted); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

type fakeNormalizer struct{}

func (fakeNormalizer) Normalize(raw string) ringdesk.PhoneNumber {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, raw)
	if strings.HasPrefix(raw, "+") {
		return ringdesk.PhoneNumber{Raw: raw, E164: "+" + d}
	}
	return ringdesk.PhoneNumber{Raw: raw}
}

func TestIdentifyCaller(t *testing.T) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "+442079460000", Host: "127.0.0.1"})
	req.AppendHeader(sip.NewHeader("From", `"Alice" <sip:+44 7700 900123@carrier>;tag=1`))
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", `<sip:+15551230000@carrier>, <tel:+1-555-123-0000>`))
	if _, err := sip.ParseMessage([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	trusted := &ringdesk.Trunk{Name: "carrier", TrustPAI: true}
	untrusted := &ringdesk.Trunk{Name: "pbx"}
	tests := []struct {
		trunk      *ringdesk.Trunk
		raw, e164  string
		wantSource string
	}{
		{trusted, "+1-555-123-0000", "+15551230000", "pai"},
		{untrusted, "+44 7700 900123", "+447700900123", "from"},
		{nil, "+44 7700 900123", "+447700900123", "from"},
	}
	for _, tt := range tests {
		c := telephony.IdentifyCaller(req, tt.trunk, fakeNormalizer{})
		if c.Number != tt.raw || c.Phone.E164 != tt.e164 || c.Source != tt.wantSource || c.Name != "Alice" {
			t.Errorf("trunk %v: got %+v", tt.trunk, c)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+447700900123": "+*********123",
		"12":            "12",
		"":              "",
		"020 7946 0000": "*** **** *000",
	} {
		if got := telephony.MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExtractCallerID(f *testing.F) {
	f.Add(`"Alice" <sip:+447700900123@gw>;tag=1`, `<sip:+1555@c>, <tel:+1555>`, `<sip:1@x>;party=calling;privacy=full`, "id", true)
	f.Add(`sip:anonymous@anonymous.invalid`, ``, ``, ``, false)
	f.Add(`"\"<<>>,;\\`, `<tel:%ZZ;x>`, `;;;`, `;`, true)
	f.Fuzz(func(t *testing.T, from, pai, rpid, privacy string, trusted bool) {
		h := telephony.CallerIDHeaders{From: from, PAI: []string{pai}, RPID: []string{rpid}, Privacy: []string{privacy}}
		c := telephony.ExtractCallerID(h, trusted)
		switch c.Source {
		case "pai", "rpid", "from":
		default:
			t.Fatalf("source %q", c.Source)
		}
		if c.Source == "pai" && !trusted {
			t.Fatal("PAI used from an untrusted trunk")
		}
		if c.Anonymous && (c.Number != "" || c.Name != "") {
			t.Fatalf("anonymous caller with identity %+v", c)
		}
		if !utf8.ValidString(c.Name) || !utf8.ValidString(c.Number) {
			t.Fatalf("invalid UTF-8: %+v", c)
		}
		if utf8.RuneCountInString(c.Name) > 64 || len(c.Number) > 64 {
			t.Fatalf("too long: %+v", c)
		}
		for _, r := range c.Name + c.Number {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("control character %U in %+v", r, c)
			}
		}
		if c.Name != strings.TrimSpace(c.Name) {
			t.Fatalf("untrimmed name %q", c.Name)
		}
	})
}

func TestDialledNumber(t *testing.T) {
	for _, tt := range []struct{ ruri, to, want string }{
		{"sip:+442079460000@ringdesk", "<sip:x@y>", "+442079460000"},
		{"sip:%2B442079460000;npdi;rn=+44@ringdesk;user=phone", "<sip:x@y>", "+442079460000"},
		{"tel:+44-20-7946-0000;phone-context=+44", "<sip:x@y>", "+44-20-7946-0000"},
		{"sip:ringdesk.example", "<sip:02079460000@ringdesk.example>", "02079460000"},
		{"sip:ringdesk.example", "<sip:ringdesk.example>", ""},
		{"sips:100@ringdesk", "<sip:x@y>", "100"},
	} {
		raw := "INVITE " + tt.ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n" +
			"To: " + tt.to + "\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", tt.ruri, err)
		}
		if got := telephony.DialledNumber(msg.(*sip.Request)); got != tt.want {
			t.Errorf("DialledNumber(%s, To %s) = %q, want %q", tt.ruri, tt.to, got, tt.want)
		}
	}
}
