package telephony_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk/telephony"
)

// tortureVerdicts is what Validate decides for each RFC 4475 message: the
// strict choice for every lenient=y entry (all are rejected), 0 for accept,
// -1 for drop. wsinv and inv2543 ("any") are refused 400: their top Via has
// no RFC 3261 branch and sipgo v1.7.2 finds no From tag (inv2543 has none;
// wsinv's "; ; tag = x" defeats sipgo's parameter parser), so sipgo could
// not match their transaction. The server's network reply for accepted ones depends on the
// handlers (see TestTortureOverNetwork).
var tortureVerdicts = map[string]int{
	"wsinv.dat": 400, "intmeth.dat": 0, "esc01.dat": 0, "escnull.dat": 0, "esc02.dat": 0,
	"lwsdisp.dat": 0, "longreq.dat": 0, "dblreq.dat": 0, "semiuri.dat": 0, "transports.dat": 0,
	"mpart01.dat": 0, "unreason.dat": 0, "noreason.dat": 0,
	"badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400, "scalarlg.dat": -1,
	"quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400, "lwsstart.dat": 400, "trws.dat": 400,
	"escruri.dat": 400, "baddate.dat": 400, "regbadct.dat": 400, "badaspec.dat": 400, "baddn.dat": 400,
	"badvers.dat": 505, "mismatch01.dat": 400, "mismatch02.dat": 400, "bigcode.dat": -1,
	"badbranch.dat": 0, "insuf.dat": 400, "unkscm.dat": 416, "novelsc.dat": 416, "unksm2.dat": 0,
	"bext01.dat": 420, "invut.dat": 415, "regaut01.dat": 0, "multi01.dat": 400, "mcl01.dat": 400,
	"bcast.dat": 0, "zeromf.dat": 0, "cparam01.dat": 0, "cparam02.dat": 0, "regescrt.dat": 0,
	"sdp01.dat": 406, "inv2543.dat": 400, "test.dat": -1,
}

func verdictCode(v telephony.Verdict) int {
	switch v.Action {
	case telephony.Accept:
		return 0
	case telephony.Drop:
		return -1
	}
	return v.Status
}

func TestValidateTorture(t *testing.T) {
	for _, tc := range tortureCases(t) {
		t.Run(tc.File, func(t *testing.T) {
			want, ok := tortureVerdicts[tc.File]
			if !ok {
				t.Fatalf("no expectation for %s", tc.File)
			}
			v := telephony.Validate(tc.Data, telephony.ValidateOptions{MaxSize: telephony.DefaultMaxUDPMessage})
			if got := verdictCode(v); got != want {
				t.Fatalf("verdict = %d (%s: %s), want %d", got, v.Action, v.Detail, want)
			}
			if v.Action == telephony.Reject {
				reply := telephony.Reply(tc.Data, v, "Ringdesk")
				checkReply(t, reply, v.Status)
				// A retransmission gets the same reply (same To-tag).
				if again := telephony.Reply(tc.Data, v, "Ringdesk"); !bytes.Equal(again, reply) {
					t.Fatal("reply differs for the same request")
				}
			}
			// The expectation must satisfy the corpus' own column.
			code := want
			if code < 0 {
				code = 0
			}
			if code != 0 || tc.Expect == "none" || tc.Expect == "reject" {
				if !meets(tc.Expect, code) {
					t.Fatalf("verdict %d does not meet index.tsv expect %q", want, tc.Expect)
				}
			}
		})
	}
}

const okOptions = "OPTIONS sip:ringdesk@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: <sip:probe@127.0.0.1>;tag=1\r\n" +
	"To: <sip:ringdesk@127.0.0.1>\r\n" +
	"Call-ID: probe-1\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

const okInvite = "INVITE sip:+442079460000@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-2\r\n" +
	"Max-Forwards: 70\r\n" +
	"From: \"Alice\" <sip:+447700900123@carrier.example>;tag=9\r\n" +
	"To: <sip:+442079460000@127.0.0.1>\r\n" +
	"Call-ID: inv-1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:alice@127.0.0.1:5062>\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\n" +
	"v=0\n"

func TestValidate(t *testing.T) {
	edit := func(base, old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("test case edits %q, which is not in the base message", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	tests := []struct {
		name   string
		msg    string
		opt    telephony.ValidateOptions
		want   int
		header string
	}{
		{"options", okOptions, telephony.ValidateOptions{}, 0, ""},
		{"invite", okInvite, telephony.ValidateOptions{}, 0, ""},
		{"invite tel uri", edit(okInvite, "INVITE sip:+442079460000@127.0.0.1", "INVITE tel:+442079460000"), telephony.ValidateOptions{}, 0, ""},
		{"too large", okOptions, telephony.ValidateOptions{MaxSize: 100}, 400, ""},
		{"content-length over limit", edit(okInvite, "Content-Length: 4", "Content-Length: 4000"), telephony.ValidateOptions{MaxSize: 1000}, 400, ""},
		{"version 3.0", edit(okOptions, "SIP/2.0\r\n", "SIP/3.0\r\n"), telephony.ValidateOptions{}, 505, ""},
		{"version lower case", edit(okOptions, "SIP/2.0\r\n", "sip/2.0\r\n"), telephony.ValidateOptions{}, 0, ""},
		{"version garbage", edit(okOptions, "SIP/2.0\r\n", "HTTP/1.1\r\n"), telephony.ValidateOptions{}, 400, ""},
		{"max-forwards 0 options", edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 0"), telephony.ValidateOptions{}, 0, ""},
		{"max-forwards 0 invite", edit(okInvite, "Max-Forwards: 70", "Max-Forwards: 0"), telephony.ValidateOptions{}, 483, ""},
		{"max-forwards 0 bye", strings.ReplaceAll(edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 0"), "OPTIONS", "BYE"), telephony.ValidateOptions{}, 0, ""},
		{"max-forwards 0 message", strings.ReplaceAll(edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 0"), "OPTIONS", "MESSAGE"), telephony.ValidateOptions{}, 483, ""},
		{"max-forwards 256", edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 256"), telephony.ValidateOptions{}, 400, ""},
		{"max-forwards negative", edit(okOptions, "Max-Forwards: 70", "Max-Forwards: -1"), telephony.ValidateOptions{}, 400, ""},
		{"cseq 2^31", edit(okOptions, "CSeq: 1 OPTIONS", "CSeq: 2147483648 OPTIONS"), telephony.ValidateOptions{}, 400, ""},
		{"cseq 2^31-1", edit(okOptions, "CSeq: 1 OPTIONS", "CSeq: 2147483647 OPTIONS"), telephony.ValidateOptions{}, 0, ""},
		{"cseq negative", edit(okOptions, "CSeq: 1 OPTIONS", "CSeq: -1 OPTIONS"), telephony.ValidateOptions{}, 400, ""},
		{"cseq method lower case", edit(okOptions, "CSeq: 1 OPTIONS", "CSeq: 1 options"), telephony.ValidateOptions{}, 400, ""},
		{"expires huge", edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 70\r\nExpires: 99999999999"), telephony.ValidateOptions{}, 400, ""},
		{"expires ok", edit(okOptions, "Max-Forwards: 70", "Max-Forwards: 70\r\nExpires: 3600"), telephony.ValidateOptions{}, 0, ""},
		{"missing call-id", edit(okOptions, "Call-ID: probe-1\r\n", ""), telephony.ValidateOptions{}, 400, ""},
		{"missing via", edit(okOptions, "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n", ""), telephony.ValidateOptions{}, -1, ""},
		{"missing cseq", edit(okOptions, "CSeq: 1 OPTIONS\r\n", ""), telephony.ValidateOptions{}, -1, ""},
		{"missing content-length on stream", edit(okOptions, "Content-Length: 0\r\n", ""), telephony.ValidateOptions{Stream: true}, 400, ""},
		{"missing content-length on udp", edit(okOptions, "Content-Length: 0\r\n", ""), telephony.ValidateOptions{}, 0, ""},
		{"no empty line", strings.TrimSuffix(okOptions, "\r\n"), telephony.ValidateOptions{}, 400, ""},
		{"bare LF lines", strings.ReplaceAll(okOptions, "\r\n", "\n"), telephony.ValidateOptions{}, 400, ""},
		{"require 100rel", edit(okInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nRequire: 100rel"), telephony.ValidateOptions{}, 420, "Unsupported: 100rel"},
		{"require supported", edit(okInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nRequire: timer"), telephony.ValidateOptions{Supported: []string{"timer"}}, 0, ""},
		{"proxy-require ignored by a UAS", edit(okInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nProxy-Require: foo"), telephony.ValidateOptions{}, 0, ""},
		{"invite without content-type", edit(okInvite, "Content-Type: application/sdp\r\n", ""), telephony.ValidateOptions{}, 400, ""},
		{"invite multipart", edit(okInvite, "Content-Type: application/sdp", "Content-Type: multipart/mixed;boundary=x"), telephony.ValidateOptions{}, 0, ""},
		{"invite text/plain", edit(okInvite, "Content-Type: application/sdp", "Content-Type: text/plain"), telephony.ValidateOptions{}, 415, "Accept: application/sdp"},
		{"invite accept */*", edit(okInvite, "Max-Forwards: 70", "Max-Forwards: 70\r\nAccept: text/html, */*"), telephony.ValidateOptions{}, 0, ""},
		{"sips scheme", edit(okOptions, "OPTIONS sip:", "OPTIONS sips:"), telephony.ValidateOptions{}, 0, ""},
		{"http scheme", edit(okOptions, "OPTIONS sip:ringdesk@127.0.0.1", "OPTIONS http://127.0.0.1/"), telephony.ValidateOptions{}, 416, ""},
		{"two spaces", edit(okOptions, "OPTIONS sip:", "OPTIONS  sip:"), telephony.ValidateOptions{}, 400, ""},
		{"tab in request line", edit(okOptions, "OPTIONS sip:", "OPTIONS\tsip:"), telephony.ValidateOptions{}, 400, ""},
		{"header without colon", edit(okOptions, "Max-Forwards: 70", "Max-Forwards 70"), telephony.ValidateOptions{}, 400, ""},
		{"ack never answered", edit(edit(okInvite, "INVITE sip", "ACK sip"), "1 INVITE", "1 ACK\r\nRequire: x"), telephony.ValidateOptions{}, 0, ""},
		{"broken ack dropped", edit(edit(okInvite, "INVITE sip", "ACK sip"), "1 INVITE", "1 INVITE"), telephony.ValidateOptions{}, -1, ""},
		{"response", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", telephony.ValidateOptions{}, 0, ""},
		{"response code 99", "SIP/2.0 099 Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n", telephony.ValidateOptions{}, -1, ""},
		// sipgo cannot parse it: dropped here, or left to sipgo to drop.
		{"response unparsable", "SIP/2.0 200 OK\r\nVia: garbage\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", telephony.ValidateOptions{}, -1, ""},
		{"response unparsable, parse skipped", "SIP/2.0 200 OK\r\nVia: garbage\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", telephony.ValidateOptions{SkipResponseParse: true}, 0, ""},
		{"response code 99, parse skipped", "SIP/2.0 099 Odd\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n", telephony.ValidateOptions{SkipResponseParse: true}, -1, ""},
		{"request unparsable, parse skipped", edit(okOptions, "From: <sip:probe@127.0.0.1>;tag=1", "From: <sip:probe@127.0.0.1;tag=1"), telephony.ValidateOptions{SkipResponseParse: true}, 400, ""},
		{"junk", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", telephony.ValidateOptions{}, -1, ""},
		{"http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", telephony.ValidateOptions{}, -1, ""},
		{"empty", "", telephony.ValidateOptions{}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := telephony.Validate([]byte(tt.msg), tt.opt)
			if got := verdictCode(v); got != tt.want {
				t.Fatalf("verdict = %d (%s: %s), want %d", got, v.Action, v.Detail, tt.want)
			}
			if tt.header != "" {
				reply := string(telephony.Reply([]byte(tt.msg), v, ""))
				if !strings.Contains(reply, tt.header+"\r\n") {
					t.Fatalf("reply lacks %q:\n%s", tt.header, reply)
				}
			}
		})
	}
}

func FuzzValidate(f *testing.F) {
	f.Add([]byte(okOptions))
	f.Add([]byte(okInvite))
	if !testing.Short() {
		for _, tc := range tortureCases(f) {
			f.Add(tc.Data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, stream := range []bool{false, true} {
			v := telephony.Validate(data, telephony.ValidateOptions{MaxSize: 4096, Stream: stream})
			switch v.Action {
			case telephony.Accept:
				msg, err := sip.ParseMessage(data)
				if err != nil {
					t.Fatalf("accepted a message sipgo cannot parse: %v", err)
				}
				// What sipgo needs to make a server transaction and a
				// response must be there as sipgo reads it.
				if req, ok := msg.(*sip.Request); ok {
					if req.Via() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil {
						t.Fatalf("accepted a request sipgo reads without Via/CSeq/From/To/Call-ID: %q", data)
					}
					// sipgo upper-cases the request-line method only.
					if !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)) {
						t.Fatalf("accepted a CSeq method mismatch as sipgo reads it: %q", data)
					}
				}
			case telephony.Reject:
				if v.Status < 400 || v.Status > 699 {
					t.Fatalf("reject with status %d", v.Status)
				}
				reply := telephony.Reply(data, v, "Ringdesk")
				if reply == nil {
					t.Fatal("rejected but no reply")
				}
				if _, err := sip.ParseMessage(reply); err != nil {
					// Copied values may be unparsable (the request's own
					// From, say), but the reply must stay one message.
					if bytes.Count(reply, []byte("\r\n\r\n")) != 1 {
						t.Fatalf("reply is not one message: %q", reply)
					}
				}
			}
		}
	})
}

// checkReply checks a stateless reply: one message, the status, the Via and
// CSeq the sender matches it by, a To-tag. Values copied from a broken
// request may themselves be broken, so sipgo parsing it is not required.
func checkReply(t *testing.T, reply []byte, status int) {
	t.Helper()
	s := string(reply)
	if !strings.HasPrefix(s, "SIP/2.0 "+itoa(status)+" ") {
		t.Fatalf("reply status line wrong:\n%s", s)
	}
	if !strings.HasSuffix(s, "\r\n\r\n") || strings.Count(s, "\r\n\r\n") != 1 {
		t.Fatalf("reply is not one message:\n%q", s)
	}
	for _, h := range []string{"\r\nVia: SIP", "\r\nCSeq: ", "\r\nContent-Length: 0\r\n"} {
		if !strings.Contains(s, h) {
			t.Fatalf("reply lacks %q:\n%s", h, s)
		}
	}
	if i := strings.Index(s, "\r\nTo: "); i >= 0 {
		line := s[i+2:]
		line = line[:strings.Index(line, "\r\n")]
		if !strings.Contains(strings.ToLower(line), "tag") {
			t.Fatalf("reply To has no tag: %s", line)
		}
	}
	if msg, err := sip.ParseMessage(reply); err == nil {
		if res, ok := msg.(*sip.Response); !ok || res.StatusCode != status {
			t.Fatalf("reply parses as %v", msg.String())
		}
	}
}

// TestValidateDetailRedacted: a Detail is logged at INFO and must not carry
// message content such as the numbers in the Request-URI.
func TestValidateDetailRedacted(t *testing.T) {
	msg := strings.Replace(okInvite, "INVITE sip:+442079460000@127.0.0.1 SIP/2.0", "INVITE sip:+442079460000@127.0.0.1;lr= SIP/2.0  x", 1)
	v := telephony.Validate([]byte(msg), telephony.ValidateOptions{})
	if v.Action != telephony.Reject || strings.Contains(v.Detail, "442079460000") {
		t.Fatalf("verdict %+v", v)
	}
	for _, tc := range tortureCases(t) {
		v := telephony.Validate(tc.Data, telephony.ValidateOptions{})
		if len(v.Detail) > 160 {
			t.Errorf("%s: detail of %d bytes: %s", tc.File, len(v.Detail), v.Detail)
		}
		for _, secret := range []string{"user@example.com", "jasomi", "36893488147419103232"} {
			if strings.Contains(v.Detail, secret) {
				t.Errorf("%s: detail shows message content: %s", tc.File, v.Detail)
			}
		}
	}
}
