package telephony_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/telephony"
)

func mustSources(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	p, err := telephony.ParseSources(s...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrunkMatcher(t *testing.T) {
	m, err := telephony.NewTrunkMatcher([]ringdesk.Trunk{
		{Name: "carrier", Sources: mustSources(t, "203.0.113.0/24", "2001:db8:100::/48"), TrustPAI: true},
		{Name: "carrier-edge", Sources: mustSources(t, "203.0.113.7")},
		{Name: "pbx", Sources: mustSources(t, "192.0.2.10", "::ffff:198.51.100.0/120"), Username: "pbx", Password: "s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, want string
	}{
		{"203.0.113.1", "carrier"},
		{"203.0.113.255", "carrier"},
		{"203.0.113.7", "carrier-edge"}, // most specific wins
		{"203.0.114.1", ""},
		{"192.0.2.10", "pbx"},
		{"192.0.2.11", ""},
		{"::ffff:192.0.2.10", "pbx"}, // IPv4-mapped source
		{"198.51.100.20", "pbx"},     // IPv4-mapped prefix
		{"2001:db8:100:5::1", "carrier"},
		{"2001:db8:101::1", ""},
		{"fe80::1%eth0", ""},
		{"127.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			tr, ok := m.Match(netip.MustParseAddr(tt.addr))
			got := ""
			if ok {
				got = tr.Name
			}
			if got != tt.want {
				t.Fatalf("Match(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
	if _, ok := m.Match(netip.Addr{}); ok {
		t.Fatal("zero address matched")
	}
	var nilMatcher *telephony.TrunkMatcher
	if _, ok := nilMatcher.Match(netip.MustParseAddr("203.0.113.1")); ok {
		t.Fatal("nil matcher matched")
	}
}

func TestNewTrunkMatcherInvalid(t *testing.T) {
	ok := mustSources(t, "192.0.2.1")
	tests := []struct {
		name   string
		trunks []ringdesk.Trunk
	}{
		{"no name", []ringdesk.Trunk{{Sources: ok}}},
		{"duplicate name", []ringdesk.Trunk{{Name: "a", Sources: ok}, {Name: "a", Sources: mustSources(t, "192.0.2.2")}}},
		{"no source", []ringdesk.Trunk{{Name: "a"}}},
		{"invalid source", []ringdesk.Trunk{{Name: "a", Sources: []netip.Prefix{{}}}}},
		{"shared source", []ringdesk.Trunk{{Name: "a", Sources: ok}, {Name: "b", Sources: ok}}},
		{"password without user", []ringdesk.Trunk{{Name: "a", Sources: ok, Password: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := telephony.NewTrunkMatcher(tt.trunks)
			if got := ringdesk.ErrorCode(err); got != ringdesk.EINVALID {
				t.Fatalf("error %v (code %q), want EINVALID", err, got)
			}
		})
	}
	if _, err := telephony.ParseSources("not-an-ip"); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("ParseSources: %v", err)
	}
	if _, err := telephony.ParseSources("10.0.0.0/33"); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
		t.Fatalf("ParseSources: %v", err)
	}
}

// fakeClock is a manual clock for the token buckets and log windows.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) add(d time.Duration)  { c.t = c.t.Add(d) }
func (c *fakeClock) fn() func() time.Time { return c.now }

func TestSourceLimiter(t *testing.T) {
	clk := newFakeClock()
	l := telephony.NewSourceLimiter(2, 3, clk.fn()) // 2/s, burst 3
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	steps := []struct {
		advance time.Duration
		ip      netip.Addr
		want    bool
	}{
		{0, a, true}, {0, a, true}, {0, a, true}, {0, a, false}, // burst spent
		{0, b, true},                       // other sources unaffected
		{400 * time.Millisecond, a, false}, // 0.8 token
		{100 * time.Millisecond, a, true},  // 1 token
		{0, a, false},
		{10 * time.Second, a, true}, {0, a, true}, {0, a, true}, {0, a, false}, // refilled to burst, not beyond
	}
	for i, s := range steps {
		clk.add(s.advance)
		if got := l.Allow(s.ip); got != s.want {
			t.Fatalf("step %d: Allow(%s) = %v, want %v", i, s.ip, got, s.want)
		}
	}
	clk.add(time.Minute)
	l.Sweep() // forgets refilled sources; they start full again
	for i := 0; i < 3; i++ {
		if !l.Allow(a) {
			t.Fatal("swept source not full")
		}
	}
}

func TestIsScanner(t *testing.T) {
	for ua, want := range map[string]bool{
		"friendly-scanner":          true,
		"sipvicious":                true,
		"SIPVicious 0.3.4":          true,
		"sipcli/v1.8":               true,
		"VaxSIPUserAgent/3.1":       true,
		"Grandstream GXP2170":       false,
		"Asterisk PBX 20.5.0":       false,
		"":                          false,
		"FreeSWITCH-mod_sofia/1.10": false,
	} {
		if got := telephony.IsScanner(ua); got != want {
			t.Errorf("IsScanner(%q) = %v, want %v", ua, got, want)
		}
	}
}

func request(t *testing.T, source, userAgent string) *sip.Request {
	t.Helper()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "+442079460000", Host: "ringdesk"})
	if userAgent != "" {
		req.AppendHeader(sip.NewHeader("User-Agent", userAgent))
	}
	req.SetSource(source)
	return req
}

func TestAdmissionCheck(t *testing.T) {
	m, err := telephony.NewTrunkMatcher([]ringdesk.Trunk{
		{Name: "carrier", Sources: mustSources(t, "203.0.113.0/24"), TrustPAI: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	adm := telephony.NewAdmission(m, 60, 2, nil, clk.fn()) // 1/s after a burst of 2
	tests := []struct {
		name, source, ua string
		advance          time.Duration
		status           int
		trunk            string
	}{
		{"trunk", "203.0.113.5:5060", "", 0, 0, "carrier"},
		{"trunk ipv4-mapped", "[::ffff:203.0.113.5]:5060", "", 0, 0, "carrier"},
		{"unknown source", "198.51.100.1:5060", "", 0, 403, ""},
		{"unknown again", "198.51.100.1:5061", "", 0, 403, ""},
		{"unknown over budget: dropped", "198.51.100.1:5062", "", 0, -1, ""},
		{"other unknown source has its own budget", "198.51.100.2:5060", "", 0, 403, ""},
		{"budget refills", "198.51.100.1:5060", "", time.Second, 403, ""},
		{"scanner dropped even from a trunk", "203.0.113.5:5060", "friendly-scanner", 0, -1, ""},
		{"scanner from unknown source", "198.51.100.3:5060", "sipvicious", 0, -1, ""},
		{"no source", "", "", 0, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.add(tt.advance)
			d := adm.Check(request(t, tt.source, tt.ua))
			got := ""
			if d.Trunk != nil {
				got = d.Trunk.Name
			}
			if d.Status != tt.status || got != tt.trunk {
				t.Fatalf("Check = %+v (trunk %q), want status %d trunk %q", d, got, tt.status, tt.trunk)
			}
		})
	}
}
