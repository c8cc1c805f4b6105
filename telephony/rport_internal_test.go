package telephony

import (
	"bytes"
	"testing"
)

func TestForceRport(t *testing.T) {
	const start = "INVITE sip:+442079460000@10.0.0.1 SIP/2.0\r\n"
	for _, tt := range []struct{ name, in, want string }{
		{"Added", start + "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\n",
			start + "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport\r\nTo: <sip:a@b>\r\n\r\n"},
		{"Present", start + "Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1\r\n\r\n", ""},
		{"PresentWithValue", start + "via: SIP/2.0/UDP 192.0.2.1;RPort=5062\r\n\r\n", ""},
		{"PresentSpaced", start + "Via: SIP/2.0/UDP 192.0.2.1 ; rport ;branch=z\r\n\r\n", ""},
		{"CompactTopOfTwo", start + "v: SIP/2.0/UDP 192.0.2.1;branch=a, SIP/2.0/UDP 192.0.2.2;rport\r\n\r\n",
			start + "v: SIP/2.0/UDP 192.0.2.1;branch=a;rport, SIP/2.0/UDP 192.0.2.2;rport\r\n\r\n"},
		{"NotAParameter", start + "Via: SIP/2.0/UDP rport.example.com;branch=z\r\n\r\n",
			start + "Via: SIP/2.0/UDP rport.example.com;branch=z;rport\r\n\r\n"},
		{"NoVia", start + "To: <sip:a@b>\r\n\r\n", ""},
		{"ViaInBody", start + "To: <sip:a@b>\r\n\r\nVia: SIP/2.0/UDP 192.0.2.1\r\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if got := forceRport([]byte(tt.in)); string(got) != want {
				t.Errorf("forceRport:\n%q\nwant\n%q", got, want)
			}
			// In a read buffer with room, as sipgo hands it over.
			buf := make([]byte, len(tt.in), len(tt.in)+64)
			copy(buf, tt.in)
			if got := forceRport(buf); string(got) != want {
				t.Errorf("forceRport in a buffer with room:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// FuzzForceRport: on anything a socket may deliver, forceRport leaves the
// message alone or inserts ";rport" once, and a message it changed has
// the parameter (it is left alone the second time). Given no spare room
// it leaves its input as it was; given room, it gives the same result.
func FuzzForceRport(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h ; RPORT = 1 , SIP/2.0/UDP x\r\n\r\n"))
	f.Add([]byte("X\nVIA: a;\xe2\x84\xaaport\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		data = data[:len(data):len(data)] // no spare room: a copy
		out := forceRport(data)
		if !bytes.Equal(data, in) {
			t.Fatalf("forceRport changed its input %q to %q", in, data)
		}
		if bytes.Equal(out, in) {
			return
		}
		inserted := false
		for k := 0; k <= len(in) && !inserted; k++ {
			inserted = len(out) == len(in)+6 && bytes.Equal(out[:k], in[:k]) &&
				string(out[k:k+6]) == ";rport" && bytes.Equal(out[k+6:], in[k:])
		}
		if !inserted {
			t.Fatalf("forceRport(%q) = %q: not the message with one \";rport\" inserted", in, out)
		}
		if again := forceRport(out); !bytes.Equal(again, out) {
			t.Fatalf("forceRport twice: %q then %q", out, again)
		}
		roomy := append(make([]byte, 0, len(in)+6), in...)
		if got := forceRport(roomy); !bytes.Equal(got, out) {
			t.Fatalf("forceRport(%q) with room = %q, without %q", in, got, out)
		}
	})
}
