package telephony

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// judge applies a verdict on one inbound message: it counts it, answers a
// rejected request through send (within the per-source reply budget) and
// logs at a bounded rate. It reports whether the message goes on to sipgo.
func (s *Server) judge(transport string, src net.Addr, data []byte, v Verdict, send func([]byte) error) bool {
	if v.Action != Drop && !s.cfg.AnswerScanners && IsScanner(headerValue(data, "user-agent")) {
		// friendly-scanner, sipvicious...: any answer, even 400, only
		// confirms that a SIP server lives here.
		v = drop("scanner user agent")
	}
	if v.Action == Accept {
		s.accepted.Add(1)
		return true
	}
	source := ""
	if src != nil {
		source = src.String()
	}
	if v.Action == Reject {
		reply := Reply(data, v, s.cfg.ServerName)
		switch {
		case reply == nil:
			v.Action = Drop
		case !s.replies.Allow(addrIP(src)):
			v.Action = Drop
			v.Detail += " (reply budget for source exhausted)"
		default:
			if err := send(reply); err != nil {
				s.log.Debug("sip stateless reply failed", "transport", transport, "source", source, "error", err)
			}
		}
	}
	if v.Action == Reject {
		s.rejected.Add(1)
		s.log.Info("sip message rejected", "transport", transport, "source", source,
			"status", v.Status, "detail", v.Detail, "size", len(data))
	} else {
		s.dropped.Add(1)
		s.log.Info("sip message dropped", "transport", transport, "source", source,
			"detail", v.Detail, "size", len(data))
	}
	s.log.Debug("sip bad message prefix", "transport", transport, "source", source, "prefix", EscapedPrefix(data, 64))
	return false
}

func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// readFilter sees every UDP datagram before sipgo parses it. It must never
// return an error: that stops sipgo's UDP read loop for good. Bad datagrams
// are answered here (to the source address: never to a Via host, which a
// spoofed message may point anywhere) and dropped by returning nil.
func (s *Server) readFilter(p sip.TransportReadProps, data []byte) (out []byte, err error) {
	if p.Transport != "UDP" {
		// TCP is framed and judged by framedConn before this sees it.
		return data, nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.dropped.Add(1)
			s.log.Error("sip read filter panic", "panic", fmt.Sprint(r), "prefix", EscapedPrefix(data, 64))
			out, err = nil, nil
		}
	}()
	if len(bytes.Trim(data, "\r\n")) == 0 {
		// RFC 5626 keep-alive: sipgo knows it.
		return data, nil
	}
	limit := s.cfg.MaxUDPMessage
	if bufLimit := int(sip.TransportBufferReadSize) - 1; limit > bufLimit {
		// A datagram that fills sipgo's read buffer was truncated.
		limit = bufLimit
	}
	v := Validate(data, ValidateOptions{MaxSize: limit, Supported: s.cfg.Supported, Parser: s.parser, SkipResponseParse: true})
	send := func(b []byte) error {
		u := s.udp.Load()
		if u == nil {
			return errors.New("no udp socket")
		}
		_, err := u.WriteTo(b, p.RemoteAddr)
		return err
	}
	if !s.judge("udp", p.RemoteAddr, data, v, send) {
		return nil, nil
	}
	return forceRport(data), nil
}

// forceRport adds an empty rport parameter to the top Via when it has none,
// so that sipgo answers to the source port of the datagram (RFC 3581; what
// Kamailio's force_rport does for NATed trunks and phones) instead of the
// port the Via claims.
//
// When data has the room (sipgo reads each datagram into a 64 KB buffer
// and parses it before reading the next), the parameter is inserted in
// place, overwriting data; otherwise the result is a copy. A copy of
// every request was 2 % of the call path's allocations.
func forceRport(data []byte) []byte {
	start, end, ok := topViaValue(data)
	if !ok {
		return data
	}
	// Every request passes here: look at the parameters in place.
	for rest := data[start:end]; len(rest) > 0; {
		p := rest
		if i := bytes.IndexByte(rest, ';'); i >= 0 {
			p, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		name, _, _ := bytes.Cut(p, []byte{'='})
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("rport")) {
			return data
		}
	}
	const rport = ";rport"
	if n := len(data); cap(data)-n >= len(rport) {
		out := data[:n+len(rport)]
		copy(out[end+len(rport):], data[end:n])
		copy(out[end:], rport)
		return out
	}
	out := make([]byte, 0, len(data)+len(rport))
	out = append(out, data[:end]...)
	out = append(out, rport...)
	return append(out, data[end:]...)
}

// topViaValue finds the first Via value in the header section of data:
// from after "Via:" to before the first comma or the end of the header
// (folded lines included), trailing whitespace excluded.
func topViaValue(data []byte) (int, int, bool) {
	i := bytes.IndexByte(data, '\n')
	for i >= 0 && i+1 < len(data) {
		lineStart := i + 1
		nl := bytes.IndexByte(data[lineStart:], '\n')
		lineEnd := len(data)
		if nl >= 0 {
			lineEnd = lineStart + nl
		}
		line := bytes.TrimRight(data[lineStart:lineEnd], "\r")
		if len(line) == 0 {
			return 0, 0, false
		}
		name, _, ok := bytes.Cut(line, []byte{':'})
		n := bytes.TrimSpace(name)
		if ok && (bytes.EqualFold(n, []byte("via")) || bytes.EqualFold(n, []byte("v"))) && line[0] != ' ' && line[0] != '\t' {
			start := lineStart + len(name) + 1
			// Extend over folded continuation lines.
			end := lineEnd
			for end+1 < len(data) && (data[end+1] == ' ' || data[end+1] == '\t') {
				next := bytes.IndexByte(data[end+1:], '\n')
				if next < 0 {
					end = len(data)
					break
				}
				end = end + 1 + next
			}
			if c := bytes.IndexByte(data[start:end], ','); c >= 0 {
				end = start + c
			}
			for end > start && (data[end-1] == ' ' || data[end-1] == '\t' || data[end-1] == '\r' || data[end-1] == '\n') {
				end--
			}
			return start, end, end > start
		}
		if nl < 0 {
			break
		}
		i = lineEnd
	}
	return 0, 0, false
}

// framedListener hands sipgo connections that deliver only whole, valid
// messages: sipgo's stream parser closes a connection on the first error
// without a reply, and its read filter sees arbitrary chunks.
type framedListener struct {
	net.Listener
	s         *Server
	transport string // "tcp" or "tls", for logs
}

// Accept returns the next connection, framed. Errors other than a closed
// listener (EMFILE, ECONNABORTED, ...) are logged and retried with a
// backoff: sipgo stops serving TCP for good on any Accept error.
func (l *framedListener) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return &framedConn{Conn: c, s: l.s, transport: l.transport, buf: make([]byte, 16<<10)}, nil
		}
		if errors.Is(err, net.ErrClosed) || l.s.isClosed() {
			return nil, err
		}
		wait = backoff(wait)
		l.s.log.Warn("sip accept failed; retrying", "transport", l.transport, "error", err, "retry_in", wait)
		time.Sleep(wait)
	}
}

// backoff doubles d from 5 ms up to 1 s.
func backoff(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Millisecond
	}
	return min(2*d, time.Second)
}

// steadyPacketConn keeps sipgo's UDP read loop alive: sipgo returns from it
// for good on any read error but a closed socket, so other errors are
// logged and retried here.
type steadyPacketConn struct {
	net.PacketConn
	s *Server
}

func (c *steadyPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var wait time.Duration
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err == nil || errors.Is(err, net.ErrClosed) || c.s.isClosed() {
			return n, addr, err
		}
		wait = backoff(wait)
		c.s.log.Warn("sip udp read failed; retrying", "error", err, "retry_in", wait)
		time.Sleep(wait)
	}
}

// framedConn frames SIP messages on a stream by Content-Length, judges each
// one, answers the bad ones itself and passes the good ones on. A framing
// error (no or bad Content-Length, a message over the limit) leaves no
// boundary to resync on: it is answered when possible and the connection
// is closed.
type framedConn struct {
	net.Conn
	s         *Server
	transport string
	seen      bool // a whole message has arrived
	buf       []byte
	in        []byte // bytes read, not yet framed
	out       []byte // judged bytes for sipgo
	err       error  // the error to return once out is drained
}

// Read implements net.Conn for sipgo's reader.
func (c *framedConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		c.frame()
		if len(c.out) > 0 {
			break
		}
		if c.err != nil {
			return 0, c.err
		}
		// Idle between messages is fine (trunks keep connections open);
		// a connection that has sent nothing whole yet (a TLS handshake
		// included) or stops mid-message gets the short wait.
		wait := c.s.cfg.TCPIdleTimeout
		if len(c.in) > 0 || !c.seen {
			wait = c.s.cfg.TCPMessageWait
		}
		if err := c.Conn.SetReadDeadline(time.Now().Add(wait)); err != nil {
			c.err = io.EOF
			continue
		}
		n, err := c.Conn.Read(c.buf)
		c.in = append(c.in, c.buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.s.log.Debug("sip connection timed out", "transport", c.transport, "source", c.RemoteAddr().String(), "pending", len(c.in))
				err = io.EOF
			}
			c.err = err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	if len(c.out) == 0 {
		c.out = nil
	}
	return n, nil
}

// frame moves whole messages from in to out (or answers them), stopping at
// an incomplete one.
func (c *framedConn) frame() {
	limit := c.s.cfg.MaxTCPMessage
	opt := ValidateOptions{MaxSize: limit, Stream: true, Supported: c.s.cfg.Supported, Parser: c.s.parser}
	for len(c.in) > 0 && c.err == nil {
		// CRLFs between messages are keep-alives (RFC 5626 3.5.1): pass them
		// alone so that sipgo answers a double CRLF with a single one.
		if k := leadingCRLF(c.in); k > 0 {
			if len(c.out) == 0 {
				c.seen = true
				c.out = append(c.out, c.in[:k]...)
				c.consume(k)
			}
			return
		}
		end := bytes.Index(c.in, []byte("\r\n\r\n"))
		if end < 0 {
			if len(c.in) > limit {
				c.fail(c.in, reject(400, "Message Too Large", "header section over limit"))
			}
			return
		}
		head := c.in[:end+4]
		cl, ok := streamContentLength(head)
		if !ok {
			v := Validate(head, opt)
			if v.Action == Accept {
				v = reject(400, "Bad Request", "bad Content-Length")
			}
			c.fail(head, v)
			return
		}
		total := end + 4 + cl
		if total > limit {
			c.fail(head, reject(400, "Message Too Large", "message over limit"))
			return
		}
		if len(c.in) < total {
			return
		}
		msg := c.in[:total]
		c.seen = true
		if c.s.judge(c.transport, c.RemoteAddr(), msg, Validate(msg, opt), c.write) {
			c.out = append(c.out, msg...)
		}
		c.consume(total)
	}
}

func (c *framedConn) consume(n int) {
	c.in = append(c.in[:0], c.in[n:]...)
}

// fail answers a message that breaks the framing and ends the connection.
func (c *framedConn) fail(msg []byte, v Verdict) {
	v.Detail += "; connection closed"
	c.s.judge(c.transport, c.RemoteAddr(), msg, v, c.write)
	c.in = nil
	c.err = io.EOF
}

func (c *framedConn) write(b []byte) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Conn.Write(b)
	_ = c.Conn.SetWriteDeadline(time.Time{})
	return err
}

func leadingCRLF(b []byte) int {
	k := 0
	for k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
		k += 2
	}
	return k
}

// streamContentLength reads the one Content-Length of a header section.
func streamContentLength(head []byte) (int, bool) {
	m := scanMessage(head)
	if m.count("content-length") != 1 {
		return 0, false
	}
	n, ok := parseUint(m.get("content-length"), 1<<31-1)
	return int(n), ok
}

// headerValue returns the first value of header name (lower case, long
// form) in the header section of raw, without scanning the whole message.
func headerValue(raw []byte, name string) string {
	rest := raw
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:] // skip the start line
	} else {
		return ""
	}
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			return ""
		}
		n, v, ok := bytes.Cut(line, []byte{':'})
		if ok && len(n) == len(name) && strings.EqualFold(string(n), name) {
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}
