package telephony_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/telephony"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs a Server on loopback (UDP and TCP) whose INVITE handler
// admits configured trunks only, as the call flow will: none are
// configured, so INVITEs get 403.
func startServer(t *testing.T, logs io.Writer, level slog.Level) *telephony.Server {
	t.Helper()
	return startServerWith(t, logs, level, nil, func(req *sip.Request, tx sip.ServerTransaction, _ *ringdesk.Trunk) {
		t.Error("INVITE admitted without trunks")
	})
}

// startServerWith runs a Server whose INVITE handler admits trunks (digest
// realm "ringdesk") and hands admitted INVITEs to admitted.
func startServerWith(t *testing.T, logs io.Writer, level slog.Level, trunks []ringdesk.Trunk,
	admitted func(*sip.Request, sip.ServerTransaction, *ringdesk.Trunk)) *telephony.Server {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	srv, err := telephony.NewServer(logger, telephony.Config{RepliesPerSecond: 1000, RepliesBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	matcher, err := telephony.NewTrunkMatcher(trunks)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := telephony.NewDigestAuth("ringdesk", nil)
	if err != nil {
		t.Fatal(err)
	}
	adm := telephony.NewAdmission(matcher, 6000, 1000, srv.Logger(), nil, telephony.WithDigestAuth(auth))
	srv.SIP().OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		trunk, ok := adm.Admit(req, tx)
		if !ok {
			return
		}
		admitted(req, tx, trunk)
	})
	if err := srv.Listen(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

const deadline = 5 * time.Second

// statusOf returns the status code of a response, 0 if it is none.
func statusOf(b []byte) int {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func cseqOf(b []byte) string {
	for _, line := range strings.Split(string(b), "\r\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "CSeq") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func options(transport string, n int) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:ringdesk@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/%s 127.0.0.1:9;branch=z9hG4bK-probe-%d\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p%d\r\n"+
		"To: <sip:ringdesk@127.0.0.1>\r\n"+
		"Call-ID: probe-%d@test\r\n"+
		"CSeq: %d OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", transport, n, n, n, 7000+n))
}

// udpPeer is a UDP socket talking to the server.
type udpPeer struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newUDPPeer(t *testing.T, srv *telephony.Server) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, conn: c, to: srv.UDPAddr().(*net.UDPAddr)}
}

func (p *udpPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next datagram, nil at the deadline.
func (p *udpPeer) recv(wait time.Duration) []byte {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// exchange sends msg, then an OPTIONS probe, and collects the replies to
// msg: a probe answered means the server is alive and msg was processed.
// sipgo runs handlers concurrently, so msg's reply may follow the probe's:
// when wantFinal, collect() waits for it (up to the deadline).
func (p *udpPeer) exchange(msg []byte, n int, wantFinal ...bool) [][]byte {
	p.t.Helper()
	p.send(msg)
	p.send(options("UDP", n))
	return collect(p.t, p.recv, n, len(wantFinal) > 0 && wantFinal[0])
}

// collect reads replies until the probe n is answered and, if wantFinal, a
// final reply to the message has come; then for a short grace period, to
// catch a late second final. It fails the test when the probe is never
// answered.
func collect(t *testing.T, recv func(time.Duration) []byte, n int, wantFinal bool) (replies [][]byte) {
	t.Helper()
	probe := fmt.Sprintf("%d OPTIONS", 7000+n)
	gotProbe, gotFinal := false, false
	end := time.Now().Add(deadline)
	for time.Now().Before(end) && !(gotProbe && (gotFinal || !wantFinal)) {
		b := recv(time.Until(end))
		if b == nil {
			break
		}
		if cseqOf(b) == probe {
			if statusOf(b) != 200 {
				t.Fatalf("probe got %q", firstLine(b))
			}
			gotProbe = true
			continue
		}
		replies = append(replies, b)
		if statusOf(b) >= 200 {
			gotFinal = true
		}
	}
	if !gotProbe {
		t.Fatal("no answer to the OPTIONS probe: listener deaf")
	}
	for {
		b := recv(300 * time.Millisecond)
		if b == nil {
			return replies
		}
		replies = append(replies, b)
	}
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(l)
}

// tcpPeer is a TCP connection to the server.
type tcpPeer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func newTCPPeer(t *testing.T, srv *telephony.Server) *tcpPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.TCPAddr().String(), deadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{t: t, conn: c, r: bufio.NewReader(c)}
}

// recv reads one message framed by Content-Length; nil on EOF or deadline.
func (p *tcpPeer) recv(wait time.Duration) []byte {
	_ = p.conn.SetReadDeadline(time.Now().Add(wait))
	var head bytes.Buffer
	cl := 0
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return nil
		}
		if head.Len() == 0 && line == "\r\n" {
			continue
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, cl)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return nil
	}
	return append(head.Bytes(), body...)
}

func (p *tcpPeer) exchange(msg []byte, n int, wantFinal ...bool) [][]byte {
	p.t.Helper()
	if _, err := p.conn.Write(msg); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(options("TCP", n)); err != nil {
		p.t.Fatal(err)
	}
	return collect(p.t, p.recv, n, len(wantFinal) > 0 && wantFinal[0])
}

// tortureReplies is the first final reply the server gives to each RFC 4475
// message over the transport index.tsv names (0: none). Lenient entries are
// all rejected (the strict choice). Accepted requests reach the handlers:
// OPTIONS 200, INVITE 403 (no trunk is configured for 127.0.0.1), REGISTER
// and MESSAGE 405 (no handler yet), unknown methods 501.
var tortureReplies = map[string]int{
	"wsinv.dat": 400, "intmeth.dat": 501, "esc01.dat": 403, "escnull.dat": 405, "esc02.dat": 501,
	"lwsdisp.dat": 200, "longreq.dat": 403, "dblreq.dat": 405, "semiuri.dat": 200, "transports.dat": 200,
	"mpart01.dat": 405, "unreason.dat": 0, "noreason.dat": 0,
	"badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400, "scalarlg.dat": 0,
	"quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400, "lwsstart.dat": 400, "trws.dat": 400,
	"escruri.dat": 400, "baddate.dat": 400, "regbadct.dat": 400, "badaspec.dat": 400, "baddn.dat": 400,
	"badvers.dat": 505, "mismatch01.dat": 400, "mismatch02.dat": 400, "bigcode.dat": 0,
	"badbranch.dat": 200, "insuf.dat": 400, "unkscm.dat": 416, "novelsc.dat": 416, "unksm2.dat": 405,
	"bext01.dat": 420, "invut.dat": 415, "regaut01.dat": 405, "multi01.dat": 400, "mcl01.dat": 400,
	"bcast.dat": 0, "zeromf.dat": 200, "cparam01.dat": 405, "cparam02.dat": 405, "regescrt.dat": 405,
	"sdp01.dat": 406, "inv2543.dat": 400, "test.dat": 0,
}

func TestTortureOverNetwork(t *testing.T) {
	var logs syncBuffer
	cases := tortureCases(t)
	for i, tc := range cases {
		t.Run(tc.File, func(t *testing.T) {
			// A server per message: several messages share a transaction
			// key (branch z9hG4bKkdjuw, same host and method), and a
			// server takes the second for a retransmission of the first.
			srv := startServer(t, &logs, slog.LevelInfo)
			want, ok := tortureReplies[tc.File]
			if !ok {
				t.Fatalf("no expectation for %s", tc.File)
			}
			if !meets(tc.Expect, want) {
				t.Fatalf("expectation %d does not meet index.tsv expect %q", want, tc.Expect)
			}
			var replies [][]byte
			switch tc.Transport {
			case "udp":
				// A fresh socket per message: retransmissions of earlier
				// finals (sipgo repeats a 4xx to an INVITE until ACKed)
				// must not be taken for this message's reply.
				replies = newUDPPeer(t, srv).exchange(tc.Data, i, want != 0)
			case "tcp":
				replies = newTCPPeer(t, srv).exchange(tc.Data, i, want != 0)
			default:
				t.Fatalf("transport %q", tc.Transport)
			}
			got := 0
			for _, r := range replies {
				code := statusOf(r)
				if code == 0 {
					t.Fatalf("got a request back: %q", firstLine(r))
				}
				if code >= 200 {
					if got == code {
						continue // a retransmission
					}
					if got != 0 {
						t.Fatalf("second final reply %d after %d", code, got)
					}
					got = code
				}
				if tc.File == "dblreq.dat" && strings.HasSuffix(cseqOf(r), "INVITE") {
					t.Fatalf("answered the trailing INVITE bytes of dblreq: %q", firstLine(r))
				}
			}
			if got != want {
				t.Fatalf("reply = %d, want %d (index.tsv: %s)", got, want, tc.Expect)
			}
		})
	}
	t.Logf("%d bytes of INFO logs for %d messages", logs.Len(), len(cases))

	// Then all of them, back to back, at one server: it must still answer
	// on both transports.
	srv := startServer(t, &logs, slog.LevelInfo)
	udp := newUDPPeer(t, srv)
	for _, tc := range cases {
		if tc.Transport == "udp" {
			udp.send(tc.Data)
			continue
		}
		p := newTCPPeer(t, srv)
		if _, err := p.conn.Write(tc.Data); err != nil {
			t.Fatal(err)
		}
	}
	if r := newUDPPeer(t, srv).exchange([]byte("\r\n\r\n"), 999); len(r) != 0 {
		t.Fatalf("keep-alive answered: %q", firstLine(r[0]))
	}
	if r := newTCPPeer(t, srv).exchange(options("TCP", 998), 997, true); len(r) != 1 || statusOf(r[0]) != 200 {
		t.Fatalf("tcp options after torture: %d replies", len(r))
	}
	t.Logf("stats after all messages at one server: %+v", srv.Stats())
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

// junk returns n datagrams of rubbish: random bytes, truncated and mangled
// SIP, a TLS hello, HTTP, oversize messages.
func junk(n int) [][]byte {
	rng := rand.New(rand.NewSource(1))
	base := options("UDP", 1)
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		var b []byte
		switch i % 6 {
		case 0:
			b = make([]byte, 1+rng.Intn(1400))
			rng.Read(b)
		case 1:
			b = append([]byte(nil), base[:rng.Intn(len(base))]...)
		case 2:
			b = append([]byte(nil), base...)
			for k := 0; k < 5; k++ {
				b[rng.Intn(len(b))] = byte(rng.Intn(256))
			}
		case 3:
			b = []byte("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
		case 4:
			b = []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		case 5:
			if i%60 == 5 {
				// Over sipgo's 32 KiB read buffer: cut by the kernel.
				b = append([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKj\r\nCSeq: 1 OPTIONS\r\nX: "), bytes.Repeat([]byte("A"), 33000)...)
			} else {
				// Answerable but invalid: a 400 each (within the budget).
				b = bytes.Replace(base, []byte("CSeq: 7001 OPTIONS"), []byte(fmt.Sprintf("CSeq: %d INVITE", i)), 1)
			}
		}
		out = append(out, b)
	}
	return out
}

// answersOptions reports whether the listener still answers an OPTIONS
// from peer. The kernel may have dropped datagrams while the socket buffer
// was full, so the probe is repeated.
func answersOptions(peer *udpPeer) bool {
	for range 20 {
		peer.send(options("UDP", 5))
		end := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(end) {
			r := peer.recv(time.Until(end))
			if r == nil {
				break
			}
			if cseqOf(r) == "7005 OPTIONS" && statusOf(r) == 200 {
				return true
			}
		}
	}
	return false
}

func TestJunkFlood(t *testing.T) {
	var logs syncBuffer
	srv := startServer(t, &logs, slog.LevelInfo)
	peer := newUDPPeer(t, srv)
	const n = 2000
	for i, b := range junk(n) {
		peer.send(b)
		if i%200 == 0 {
			// Keep within the socket buffer: the point is the log, not
			// kernel drops.
			time.Sleep(time.Millisecond)
		}
	}
	if !answersOptions(peer) {
		t.Fatal("listener deaf after the junk flood")
	}
	st := srv.Stats()
	size := logs.Len()
	t.Logf("%d junk datagrams: stats %+v; %d bytes of logs (%d lines)", n, st, size, strings.Count(logs.String(), "\n"))
	if size > 16<<10 {
		t.Fatalf("%d bytes of logs for %d junk datagrams, want a bounded few KiB:\n%s", size, n, logs.String()[:4096])
	}
	if strings.Contains(logs.String(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
		t.Fatal("a payload was logged")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		// sipgo logs an ERROR for what it cannot handle: the listener
		// should have judged it first.
		t.Errorf("junk reached sipgo:\n%s", logs.String())
	}
	if st.Rejected+st.Dropped < n/4 {
		// The kernel may drop some when the socket buffer is capped small.
		t.Fatalf("stats %+v: most junk should have been judged", st)
	}
}

func TestTCPFraming(t *testing.T) {
	srv := startServer(t, nil, slog.LevelInfo)
	t.Run("split and pipelined", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		two := append(options("TCP", 1), options("TCP", 2)...)
		for i := 0; i < len(two); i += 7 {
			if _, err := p.conn.Write(two[i:min(i+7, len(two))]); err != nil {
				t.Fatal(err)
			}
		}
		// sipgo handles requests concurrently: replies may come in any order.
		seen := map[string]bool{}
		for range 2 {
			r := p.recv(deadline)
			if statusOf(r) != 200 {
				t.Fatalf("got %q", firstLine(r))
			}
			seen[cseqOf(r)] = true
		}
		if !seen["7001 OPTIONS"] || !seen["7002 OPTIONS"] {
			t.Fatalf("answered %v", seen)
		}
	})
	t.Run("bad message then good on the same connection", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		bad := bytes.Replace(options("TCP", 3), []byte("SIP/2.0\r\n"), []byte("SIP/2.0  \r\n"), 1)
		r := p.exchange(bad, 4, true)
		if len(r) != 1 || statusOf(r[0]) != 400 {
			t.Fatalf("replies %q", r)
		}
	})
	t.Run("negative content-length closes", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		bad := bytes.Replace(options("TCP", 5), []byte("Content-Length: 0"), []byte("Content-Length: -5"), 1)
		if _, err := p.conn.Write(bad); err != nil {
			t.Fatal(err)
		}
		if r := p.recv(deadline); statusOf(r) != 400 {
			t.Fatalf("got %q", firstLine(r))
		}
		if r := p.recv(deadline); r != nil {
			t.Fatalf("connection still open, got %q", firstLine(r))
		}
	})
	t.Run("oversize closes", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		big := bytes.Replace(options("TCP", 6), []byte("Content-Length: 0\r\n"),
			append(append([]byte("X-Pad: "), bytes.Repeat([]byte("p"), telephony.DefaultMaxTCPMessage)...), "\r\nContent-Length: 0\r\n"...), 1)
		go p.conn.Write(big)
		if r := p.recv(deadline); statusOf(r) != 400 {
			t.Fatalf("got %q", firstLine(r))
		}
	})
	t.Run("keep-alive pong", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		if _, err := p.conn.Write([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(deadline))
		b := make([]byte, 2)
		if _, err := io.ReadFull(p.conn, b); err != nil || string(b) != "\r\n" {
			t.Fatalf("pong %q, %v", b, err)
		}
	})
}

func TestOptionsAndUnhandled(t *testing.T) {
	srv := startServer(t, nil, slog.LevelInfo)
	p := newUDPPeer(t, srv)
	p.send(options("UDP", 1))
	r := p.recv(deadline)
	if statusOf(r) != 200 {
		t.Fatalf("options: %q", firstLine(r))
	}
	for _, h := range []string{"Allow: INVITE, OPTIONS\r\n", "Accept: application/sdp\r\n"} {
		if !bytes.Contains(r, []byte(h)) {
			t.Fatalf("options reply lacks %q:\n%s", h, r)
		}
	}
	for _, tc := range []struct {
		method string
		want   int
	}{{"SUBSCRIBE", 405}, {"FOOBAR", 501}, {"CANCEL", 481}} {
		m := bytes.ReplaceAll(options("UDP", 2), []byte("OPTIONS"), []byte(tc.method))
		p.send(m)
		if r := p.recv(deadline); statusOf(r) != tc.want {
			t.Fatalf("%s: %q, want %d", tc.method, firstLine(r), tc.want)
		}
	}
}

func TestSizeLimits(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	srv, err := telephony.NewServer(logger, telephony.Config{MaxUDPMessage: 1000, MaxTCPMessage: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(context.Background(), "127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pad := func(b []byte, n int) []byte {
		return bytes.Replace(b, []byte("Content-Length: 0\r\n"),
			append(append([]byte("X-Pad: "), bytes.Repeat([]byte("p"), n)...), "\r\nContent-Length: 0\r\n"...), 1)
	}
	t.Run("udp under the limit", func(t *testing.T) {
		p := newUDPPeer(t, srv)
		p.send(pad(options("UDP", 1), 500))
		if r := p.recv(deadline); statusOf(r) != 200 {
			t.Fatalf("got %q", firstLine(r))
		}
	})
	t.Run("udp over the limit", func(t *testing.T) {
		p := newUDPPeer(t, srv)
		p.send(pad(options("UDP", 2), 1000))
		r := p.recv(deadline)
		if statusOf(r) != 400 || !bytes.Contains(r, []byte("400 Message Too Large")) {
			t.Fatalf("got %q", firstLine(r))
		}
	})
	t.Run("udp datagram filling sipgo's 32 KiB buffer", func(t *testing.T) {
		big, err := telephony.NewServer(logger, telephony.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := big.Listen(context.Background(), "127.0.0.1:0", ""); err != nil {
			t.Fatal(err)
		}
		defer big.Close()
		p := newUDPPeer(t, big)
		p.send(pad(options("UDP", 3), 40000)) // truncated by the read: must not be parsed as whole
		if r := p.recv(deadline); statusOf(r) != 400 {
			t.Fatalf("got %q", firstLine(r))
		}
	})
	t.Run("tcp over the limit", func(t *testing.T) {
		p := newTCPPeer(t, srv)
		go p.conn.Write(pad(options("TCP", 4), 3000))
		if r := p.recv(deadline); statusOf(r) != 400 {
			t.Fatalf("got %q", firstLine(r))
		}
		if r := p.recv(deadline); r != nil {
			t.Fatalf("connection kept after a message over the limit: %q", firstLine(r))
		}
	})
}

func TestListenClose(t *testing.T) {
	srv, err := telephony.NewServer(nil, telephony.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(context.Background(), "", ""); err == nil {
		t.Fatal("Listen with no address succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Listen(ctx, "127.0.0.1:0", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	if srv.UDPAddr() == nil || srv.TCPAddr() == nil || srv.TLSAddr() != nil {
		t.Fatalf("addresses udp=%v tcp=%v tls=%v", srv.UDPAddr(), srv.TCPAddr(), srv.TLSAddr())
	}
	if err := srv.Listen(ctx, "127.0.0.1:0", ""); err == nil {
		t.Fatal("second Listen succeeded")
	}
	// IPv6 over TCP answers too.
	p := newTCPPeer(t, srv)
	if _, err := p.conn.Write(options("TCP", 1)); err != nil {
		t.Fatal(err)
	}
	if r := p.recv(deadline); statusOf(r) != 200 {
		t.Fatalf("got %q", firstLine(r))
	}
	cancel() // closes the server
	end := time.Now().Add(deadline)
	for {
		err := srv.Listen(context.Background(), "127.0.0.1:0", "")
		if err != nil && strings.Contains(err.Error(), "closed") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("server not closed after its context ended: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestScannersDropped(t *testing.T) {
	srv := startServer(t, nil, slog.LevelInfo)
	p := newUDPPeer(t, srv)
	scan := bytes.Replace(options("UDP", 1), []byte("Max-Forwards: 70\r\n"), []byte("Max-Forwards: 70\r\nUser-Agent: friendly-scanner\r\n"), 1)
	if r := p.exchange(scan, 2); len(r) != 0 {
		t.Fatalf("scanner answered: %q", firstLine(r[0]))
	}
	tp := newTCPPeer(t, srv)
	if r := tp.exchange(bytes.ReplaceAll(scan, []byte("UDP"), []byte("TCP")), 3); len(r) != 0 {
		t.Fatalf("scanner answered over tcp: %q", firstLine(r[0]))
	}
	bad := bytes.Replace(scan, []byte("CSeq: 7001 OPTIONS"), []byte("CSeq: 7001 INVITE"), 1)
	if r := p.exchange(bad, 4); len(r) != 0 {
		t.Fatalf("malformed scanner request answered: %q", firstLine(r[0]))
	}
	if st := srv.Stats(); st.Dropped != 3 {
		t.Fatalf("stats %+v, want 3 dropped", st)
	}
}

func TestErrorStatus(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ringdesk.Errorf(ringdesk.ENOTFOUND, "no such DID"), 404},
		{ringdesk.Errorf(ringdesk.EINVALID, "bad"), 400},
		{ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "who"), 401},
		{ringdesk.Errorf(ringdesk.EFORBIDDEN, "no"), 403},
		{ringdesk.Errorf(ringdesk.ECONFLICT, "busy"), 486},
		{fmt.Errorf("enqueue: %w", ringdesk.Errorf(ringdesk.EUNAVAILABLE, "queue full")), 503},
		{io.ErrUnexpectedEOF, 500},
	} {
		if got, _ := telephony.ErrorStatus(tt.err); got != tt.want {
			t.Errorf("ErrorStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestUnmatchedResponse(t *testing.T) {
	got := make(chan int, 1)
	srv, err := telephony.NewServer(nil, telephony.Config{OnUnmatchedResponse: func(r *sip.Response) { got <- r.StatusCode }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(context.Background(), "127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p := newUDPPeer(t, srv)
	p.send([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-gone\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: gone\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	select {
	case code := <-got:
		if code != 200 {
			t.Fatalf("got %d", code)
		}
	case <-time.After(deadline):
		t.Fatal("unmatched response not handed over")
	}
}

// TestUnparsableResponse: a response sipgo cannot parse is left to sipgo
// (SkipResponseParse), which drops it. The listener keeps answering, and
// the log stays bounded and never carries the payload.
func TestUnparsableResponse(t *testing.T) {
	var logs syncBuffer
	srv := startServer(t, &logs, slog.LevelInfo)
	peer := newUDPPeer(t, srv)
	payload := strings.Repeat("A", 400)
	const n = 500
	for i := range n {
		peer.send([]byte("SIP/2.0 200 OK\r\nVia: garbage " + payload + "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n" +
			"Call-ID: broken-" + strconv.Itoa(i) + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if !answersOptions(peer) {
		t.Fatal("listener deaf after unparsable responses")
	}
	if size := logs.Len(); size > 8<<10 {
		t.Fatalf("%d bytes of logs for %d broken responses, want a bounded few KiB", size, n)
	}
	if strings.Contains(logs.String(), payload[:200]) {
		t.Fatalf("a payload was logged:\n%s", logs.String())
	}
	t.Logf("%d broken responses: %d lines of logs", n, strings.Count(logs.String(), "\n"))
}
