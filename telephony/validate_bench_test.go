package telephony_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk/telephony"
)

const benchInvite = "INVITE sip:+442079460000@192.0.2.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-524287-1---abcdef;rport\r\n" +
	"Max-Forwards: 69\r\n" +
	"From: \"Alice Smith\" <sip:+447700900123@carrier.example;user=phone>;tag=as1234\r\n" +
	"To: <sip:+442079460000@192.0.2.1>\r\n" +
	"Call-ID: 3848276298220188511@203.0.113.5\r\n" +
	"CSeq: 102 INVITE\r\n" +
	"Contact: <sip:+447700900123@203.0.113.5:5060>\r\n" +
	"P-Asserted-Identity: <sip:+447700900123@carrier.example;user=phone>\r\n" +
	"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n" +
	"Supported: replaces, timer\r\n" +
	"User-Agent: carrier-sbc\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 145\r\n\r\n" +
	"v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
	"m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"

// BenchmarkValidate is the listener's added cost per message; compare it
// with BenchmarkSipgoParse, which sipgo pays anyway.
func BenchmarkValidate(b *testing.B) {
	msg := []byte(benchInvite)
	if v := telephony.Validate(msg, telephony.ValidateOptions{MaxSize: 65507}); v.Action != telephony.Accept {
		b.Fatalf("bench message not accepted: %+v", v)
	}
	b.ReportAllocs()
	for b.Loop() {
		telephony.Validate(msg, telephony.ValidateOptions{MaxSize: 65507})
	}
}

func BenchmarkSipgoParse(b *testing.B) {
	msg := []byte(benchInvite)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sip.ParseMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}
