package telephony

import (
	"bytes"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Size limits. A UDP payload cannot exceed 65,507 bytes; sipgo reads UDP
// into a buffer of sip.TransportBufferReadSize (32 KiB), so a datagram that
// fills it was cut by the kernel and is treated as too large.
const (
	DefaultMaxUDPMessage = 65507
	DefaultMaxTCPMessage = 64 << 10
)

// Action is what the listener does with one inbound message.
type Action uint8

// Actions.
const (
	// Accept hands the message to sipgo as it is.
	Accept Action = iota
	// Reject answers it statelessly with Verdict.Status.
	Reject
	// Drop discards it without a word: it is a response, an ACK, or too
	// broken to be answered (no Via or no CSeq to build a reply from).
	Drop
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	default:
		return "drop"
	}
}

// Verdict is the outcome of Validate.
type Verdict struct {
	Action Action
	Status int      // SIP status of the reply (also set on Drop: what it would have been)
	Reason string   // reason phrase of the reply
	Detail string   // why, for the log; never contains the message itself
	Header []string // extra header lines for the reply, "Name: value"
}

// ValidateOptions configures Validate.
type ValidateOptions struct {
	// MaxSize is the largest message accepted, in bytes (0: no limit).
	MaxSize int
	// Stream is true when raw was framed from a stream (TCP): its body is
	// exactly Content-Length bytes long by construction.
	Stream bool
	// Supported lists the option tags a Require header may name.
	Supported []string
	// Parser is the sipgo parser to check the message with (nil: sipgo's
	// default parser).
	Parser *sip.Parser
	// SkipResponseParse leaves parsing a response that passed the other
	// checks to sipgo, which drops one it cannot parse (logging through
	// the listener's rate-limited logger, payload cut short). A response
	// is never answered, so a full parse here changed nothing but the log
	// line, and it parsed every response twice: ~2 % of ringdesk's CPU and
	// ~4 % of its allocations at 500 calls/s. For UDP only: on a stream a
	// message sipgo cannot parse may cost the connection.
	SkipResponseParse bool
}

// reject is the verdict for a request that must be refused.
func reject(status int, reason, detail string, hdr ...string) Verdict {
	return Verdict{Action: Reject, Status: status, Reason: reason, Detail: detail, Header: hdr}
}

func drop(detail string) Verdict { return Verdict{Action: Drop, Detail: detail} }

// Validate decides, from the raw bytes of one message, whether a correct SIP
// element processes it, rejects it (and with which status) or drops it. It
// is a pure function: RFC 3261 syntax and the semantic checks of RFC 4475
// sections 3.1.2 and 3.3 that an element makes before processing a request
// (framing, version, scalar ranges, required and single-valued headers, CSeq
// method, Request-URI scheme, Require, Max-Forwards, INVITE body type and
// Accept). Method-specific processing (405/501, authentication, routing) is
// the handlers'. Responses are accepted when sane, dropped otherwise; a
// request that cannot be answered (no Via or CSeq) and any broken ACK are
// dropped.
func Validate(raw []byte, opt ValidateOptions) Verdict {
	v := validate(raw, opt)
	if v.Action == Reject {
		m := scanMessage(raw)
		if !m.answerable() {
			v.Action = Drop
		}
	}
	return v
}

func validate(raw []byte, opt ValidateOptions) Verdict {
	if opt.MaxSize > 0 && len(raw) > opt.MaxSize {
		return reject(400, "Message Too Large", "message of "+strconv.Itoa(len(raw))+" bytes over limit")
	}
	m := scanMessage(raw)
	if strings.HasPrefix(m.start, "SIP/") {
		return validateResponse(raw, &m, opt)
	}
	return validateRequest(raw, &m, opt)
}

func validateResponse(raw []byte, m *rawMessage, opt ValidateOptions) Verdict {
	parts := strings.SplitN(m.start, " ", 3)
	if len(parts) < 2 || len(parts[1]) != 3 || !isDigits(parts[1]) {
		return drop("response with malformed status code")
	}
	if code, _ := strconv.Atoi(parts[1]); code < 100 || code > 699 {
		return drop("response with status code out of range")
	}
	if cseq := m.get("cseq"); cseq != "" {
		if _, _, ok := parseCSeq(cseq); !ok {
			return drop("response with malformed CSeq")
		}
	}
	if opt.SkipResponseParse {
		return Verdict{Action: Accept}
	}
	if _, err := parse(raw, opt); err != nil {
		return drop("unparsable response: " + redact(err.Error()))
	}
	return Verdict{Action: Accept}
}

// noHopMethods are not relayed to another leg, so Max-Forwards 0 is no
// loop for them: OPTIONS and REGISTER are answered here, ACK and CANCEL are
// hop by hop, and a BYE must always end the caller's session.
var noHopMethods = map[string]bool{"OPTIONS": true, "REGISTER": true, "ACK": true, "CANCEL": true, "BYE": true}

func validateRequest(raw []byte, m *rawMessage, opt ValidateOptions) Verdict {
	// Request-Line = Method SP Request-URI SP SIP-Version CRLF, one SP each.
	parts := strings.Split(m.start, " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return reject(400, "Bad Request", "malformed request line")
	}
	method, ruri, version := parts[0], parts[1], parts[2]
	if !isToken(method) {
		return reject(400, "Bad Request", "method is not a token")
	}
	if !strings.EqualFold(version, "SIP/2.0") {
		if isSIPVersion(version) {
			return reject(505, "Version Not Supported", "SIP version "+quoteShort(version))
		}
		return reject(400, "Bad Request", "malformed SIP version")
	}
	if !m.complete {
		return reject(400, "Bad Request", "no empty line after the headers")
	}
	if m.badLine {
		return reject(400, "Bad Request", "malformed header line")
	}

	// Request-URI: a scheme we serve, no embedded headers.
	scheme, rest, ok := strings.Cut(ruri, ":")
	if !ok || !isScheme(scheme) || rest == "" || strings.ContainsAny(ruri, "<>\"") {
		return reject(400, "Bad Request", "malformed Request-URI")
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		// '?' may appear in the user part; after the host it starts headers.
		hostpart := rest[strings.LastIndexByte(rest, '@')+1:]
		if strings.Contains(hostpart, "?") {
			return reject(400, "Bad Request", "headers in Request-URI")
		}
	case "tel":
	default:
		return reject(416, "Unsupported URI Scheme", "Request-URI scheme "+quoteShort(scheme))
	}

	for _, name := range [...]string{"via", "from", "to", "call-id", "cseq"} {
		if m.count(name) == 0 {
			return reject(400, "Bad Request", "missing "+canonicalName(name)+" header")
		}
	}
	for _, name := range [...]string{"from", "to", "call-id", "cseq", "max-forwards", "content-length", "content-type"} {
		if m.count(name) > 1 {
			return reject(400, "Bad Request", "more than one "+canonicalName(name)+" header")
		}
	}
	_, cseqMethod, ok := parseCSeq(m.get("cseq"))
	if !ok {
		return reject(400, "Bad Request", "malformed CSeq")
	}
	if cseqMethod != method {
		return reject(400, "Bad Request", "CSeq method does not match the request method")
	}
	maxForwards := -1
	if v, ok := m.lookup("max-forwards"); ok {
		n, ok := parseUint(v, 255)
		if !ok {
			return reject(400, "Bad Request", "malformed Max-Forwards")
		}
		maxForwards = int(n)
	}
	contentLength := -1
	if v, ok := m.lookup("content-length"); ok {
		n, ok := parseUint(v, 1<<31-1)
		if !ok {
			return reject(400, "Bad Request", "malformed Content-Length")
		}
		if opt.MaxSize > 0 && n > uint64(opt.MaxSize) {
			return reject(400, "Message Too Large", "Content-Length over limit")
		}
		if int(n) > len(m.body) {
			return reject(400, "Bad Request", "Content-Length larger than the body")
		}
		contentLength = int(n)
	} else if opt.Stream {
		return reject(400, "Bad Request", "missing Content-Length on a stream")
	}
	if v, ok := m.lookup("expires"); ok {
		if _, ok := parseUint(v, 1<<32-1); !ok {
			return reject(400, "Bad Request", "malformed Expires")
		}
	}
	if v, ok := m.lookup("date"); ok && !validDate(v) {
		return reject(400, "Bad Request", "malformed Date")
	}
	for _, h := range m.headers {
		switch h.name {
		case "from", "to", "contact", "route", "record-route", "reply-to":
			// An addr-spec with ',', ';' or '?' must be inside <> (RFC 3261
			// 20.10); without them '?' can only be an error.
			if !strings.Contains(h.value, "<") && strings.Contains(h.value, "?") {
				return reject(400, "Bad Request", canonicalName(h.name)+" URI with '?' not enclosed in <>")
			}
		}
	}

	msg, err := parse(raw, opt)
	if err != nil {
		return reject(400, "Bad Request", "unparsable: "+redact(err.Error()))
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return reject(400, "Bad Request", "not a request")
	}
	if req.Via() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil {
		// Belt and braces: the raw checks found them, sipgo must too, or
		// it would fail to make a transaction and answer nothing.
		return reject(400, "Bad Request", "required header unreadable")
	}
	if !matchable(req) {
		// sipgo matches RFC 2543 transactions by From tag; without one it
		// answers 400 itself and logs an ERROR per request.
		return reject(400, "Bad Request", "no RFC 3261 branch and no From tag")
	}

	if method != "ACK" && method != "CANCEL" {
		var unsupported []string
		for _, h := range m.headers {
			if h.name != "require" {
				continue
			}
			for _, tag := range strings.Split(h.value, ",") {
				tag = strings.TrimSpace(tag)
				if tag != "" && !containsFold(opt.Supported, tag) {
					unsupported = append(unsupported, tag)
				}
			}
		}
		if len(unsupported) > 0 {
			return reject(420, "Bad Extension", "unsupported extension required",
				"Unsupported: "+strings.Join(unsupported, ", "))
		}
	}
	if maxForwards == 0 && !noHopMethods[method] {
		// A B2BUA relays the request to another leg: loop protection.
		return reject(483, "Too Many Hops", "Max-Forwards is 0")
	}
	if method == "INVITE" {
		bodyLen := len(m.body)
		if contentLength >= 0 {
			bodyLen = contentLength
		}
		if bodyLen > 0 {
			ct, ok := m.lookup("content-type")
			if !ok {
				return reject(400, "Bad Request", "body without Content-Type")
			}
			if !acceptableBody(ct) {
				return reject(415, "Unsupported Media Type", "INVITE body type "+quoteShort(mediaType(ct)),
					"Accept: application/sdp")
			}
		}
		if acc, ok := m.lookup("accept"); ok && strings.TrimSpace(acc) != "" && !acceptsSDP(m) {
			return reject(406, "Not Acceptable", "Accept does not include application/sdp",
				`Warning: 399 ringdesk "only application/sdp is supported"`)
		}
	}
	return Verdict{Action: Accept}
}

// redact replaces what sipgo quotes from the message in its error texts
// ('start line', "value") with …: a Detail is logged at INFO, and message
// content (numbers dialled and calling) is not.
func redact(s string) string {
	var b strings.Builder
	quote := byte(0)
	for i := 0; i < len(s) && b.Len() < 120; i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			b.WriteString("…")
			b.WriteByte(c)
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	if quote != 0 {
		b.WriteString("…")
	}
	return b.String()
}

// quoteShort quotes a token from the message for a Detail, cut at 24 bytes.
func quoteShort(s string) string {
	if len(s) > 24 {
		return strconv.Quote(s[:24]) + "…"
	}
	return strconv.Quote(s)
}

func parse(raw []byte, opt ValidateOptions) (sip.Message, error) {
	if opt.Parser != nil {
		return opt.Parser.ParseSIP(raw)
	}
	return sip.ParseMessage(raw)
}

// matchable reports whether sipgo can key a server transaction for req: an
// RFC 3261 branch, or else a From tag.
func matchable(req *sip.Request) bool {
	if via := req.Via(); via != nil {
		if b, ok := via.Params.Get("branch"); ok && len(b) > len(sip.RFC3261BranchMagicCookie) &&
			strings.HasPrefix(b, sip.RFC3261BranchMagicCookie) {
			return true
		}
	}
	if from := req.From(); from != nil {
		if _, ok := from.Params.Get("tag"); ok {
			return true
		}
	}
	return false
}

func acceptableBody(ct string) bool {
	switch mediaType(ct) {
	case "application/sdp", "multipart/mixed", "multipart/alternative", "multipart/related":
		return true
	}
	return false
}

func acceptsSDP(m *rawMessage) bool {
	for _, h := range m.headers {
		if h.name != "accept" {
			continue
		}
		for _, r := range strings.Split(h.value, ",") {
			switch mediaType(r) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

func mediaType(v string) string {
	t, _, _ := strings.Cut(v, ";")
	t = strings.ToLower(strings.TrimSpace(t))
	if typ, sub, ok := strings.Cut(t, "/"); ok {
		t = strings.TrimSpace(typ) + "/" + strings.TrimSpace(sub)
	}
	return t
}

func validDate(v string) bool {
	v = strings.TrimSpace(v)
	if !strings.HasSuffix(v, " GMT") {
		return false
	}
	_, err := time.Parse(time.RFC1123, v)
	return err == nil
}

// parseCSeq splits "number method"; the number must fit in 31 bits.
func parseCSeq(v string) (uint32, string, bool) {
	f := strings.Fields(v)
	if len(f) != 2 || !isToken(f[1]) {
		return 0, "", false
	}
	n, ok := parseUint(f[0], 1<<31-1)
	return uint32(n), f[1], ok
}

// parseUint parses a decimal scalar up to max, refusing signs and overflow.
func parseUint(v string, max uint64) (uint64, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 20 || !isDigits(v) {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isSIPVersion(v string) bool {
	if len(v) < 4 || !strings.EqualFold(v[:4], "SIP/") {
		return false
	}
	maj, mnr, ok := strings.Cut(v[4:], ".")
	return ok && isDigits(maj) && isDigits(mnr)
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if strings.IndexByte("-.!%*_+`'~", c) < 0 {
			return false
		}
	}
	return true
}

// isScheme reports whether s is an RFC 3986 scheme.
func isScheme(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' {
			continue
		}
		return false
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// rawMessage is a tolerant scan of a message: enough to judge it and to
// build a reply even when sipgo cannot parse it.
type rawMessage struct {
	start    string
	headers  []rawHeader
	body     []byte
	complete bool // the empty line ending the headers was found
	badLine  bool // a header line without a colon or with a bad name
}

type rawHeader struct {
	name  string // lower-case long form
	value string // unfolded, trimmed
}

var compactNames = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
	"l": "content-length", "c": "content-type", "e": "content-encoding",
	"k": "supported", "s": "subject", "o": "event", "r": "refer-to",
	"b": "referred-by", "u": "allow-events", "x": "session-expires",
	"a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
	"y": "identity", "n": "identity-info",
}

var longNames = map[string]string{
	"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq",
	"max-forwards": "Max-Forwards", "content-length": "Content-Length",
	"content-type": "Content-Type",
}

func canonicalName(lower string) string {
	if n, ok := longNames[lower]; ok {
		return n
	}
	return lower
}

// scanMessage splits raw into start line, headers and body. Lines may end in
// CRLF or a bare LF (flagged as a bad line, but still read so that a reply
// can be built); folded lines are joined. It copies raw into one string
// and slices it, so that a scan costs a few allocations.
func scanMessage(raw []byte) rawMessage {
	m := rawMessage{headers: make([]rawHeader, 0, 16)}
	all := string(raw)
	rest := all
	first := true
	for len(rest) > 0 {
		i := strings.IndexByte(rest, '\n')
		var line string
		if i < 0 {
			line, rest = rest, ""
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		if i >= 0 && !strings.HasSuffix(line, "\r") {
			// A bare LF: RFC 3261 7 wants CRLF, and sipgo splits on CR,
			// so it would read this line and the next as one.
			m.badLine = true
		}
		line = strings.TrimSuffix(line, "\r")
		if strings.IndexByte(line, '\r') >= 0 {
			m.badLine = true
		}
		if first {
			m.start = line
			first = false
			continue
		}
		if len(line) == 0 {
			if i >= 0 {
				m.complete = true
				m.body = raw[len(raw)-len(rest):]
			}
			return m
		}
		if line[0] == ' ' || line[0] == '\t' {
			if n := len(m.headers); n > 0 {
				m.headers[n-1].value = strings.TrimSpace(m.headers[n-1].value + " " + strings.TrimSpace(line))
			} else {
				m.badLine = true
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimRight(name, " \t")
		if !ok || !isToken(name) {
			m.badLine = true
			continue
		}
		m.headers = append(m.headers, rawHeader{name: headerKey(name), value: strings.TrimSpace(value)})
	}
	return m
}

// knownHeaders are the lower-case names headerKey returns without
// allocating.
var knownHeaders = [...]string{
	"via", "from", "to", "call-id", "cseq", "max-forwards", "content-length",
	"content-type", "contact", "route", "record-route", "require",
	"proxy-require", "supported", "accept", "expires", "date", "user-agent",
	"allow", "reply-to", "authorization", "p-asserted-identity",
	"remote-party-id", "privacy", "session-expires", "min-se", "server",
}

// headerKey is the lower-case long form of a header name.
func headerKey(name string) string {
	if len(name) == 1 {
		if long, ok := compactNames[string(name[0]|0x20)]; ok {
			return long
		}
	}
	for _, k := range knownHeaders {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return k
		}
	}
	return strings.ToLower(name)
}

func (m *rawMessage) lookup(name string) (string, bool) {
	for _, h := range m.headers {
		if h.name == name {
			return h.value, true
		}
	}
	return "", false
}

func (m *rawMessage) get(name string) string {
	v, _ := m.lookup(name)
	return v
}

func (m *rawMessage) count(name string) int {
	n := 0
	for _, h := range m.headers {
		if h.name == name {
			n++
		}
	}
	return n
}

// requestMethod is the method of the start line, "" when it is no request.
func (m *rawMessage) requestMethod() string {
	i := strings.IndexAny(m.start, " \t")
	if i <= 0 || !isToken(m.start[:i]) || strings.HasPrefix(m.start, "SIP/") {
		return ""
	}
	return m.start[:i]
}

// answerable reports whether a reply can be built and matched by the
// sender: it is a request other than ACK with a Via and a CSeq.
func (m *rawMessage) answerable() bool {
	method := m.requestMethod()
	if method == "" || method == "ACK" {
		return false
	}
	via, ok := m.lookup("via")
	if !ok || !strings.HasPrefix(strings.ToUpper(via), "SIP") {
		return false
	}
	cseq, ok := m.lookup("cseq")
	return ok && strings.TrimSpace(cseq) != ""
}

// Reply builds the stateless response for a rejected message: its Via
// headers, From, To (with a To-tag derived from the request, so that a
// retransmission gets the same one), Call-ID and CSeq copied as received,
// and v's extra headers. It returns nil when raw cannot be answered.
func Reply(raw []byte, v Verdict, serverName string) []byte {
	m := scanMessage(raw)
	if !m.answerable() || v.Status < 300 || v.Status > 699 {
		return nil
	}
	var b bytes.Buffer
	b.Grow(512)
	b.WriteString("SIP/2.0 ")
	b.WriteString(strconv.Itoa(v.Status))
	b.WriteByte(' ')
	b.WriteString(sanitizeLine(v.Reason))
	b.WriteString("\r\n")
	write := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(sanitizeLine(value))
		b.WriteString("\r\n")
	}
	for _, h := range m.headers {
		if h.name == "via" {
			write("Via", h.value)
		}
	}
	if f, ok := m.lookup("from"); ok {
		write("From", f)
	}
	if t, ok := m.lookup("to"); ok {
		if !hasTag(t) {
			t += ";tag=" + statelessTag(&m)
		}
		write("To", t)
	}
	if c, ok := m.lookup("call-id"); ok {
		write("Call-ID", c)
	}
	write("CSeq", m.get("cseq"))
	for _, h := range v.Header {
		name, value, _ := strings.Cut(h, ":")
		write(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if serverName != "" {
		write("Server", serverName)
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

// sanitizeLine keeps a copied value on one line.
func sanitizeLine(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	return s
}

// hasTag reports whether a From/To value has a tag header parameter.
func hasTag(v string) bool {
	params := v
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		params = v[i+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		params = v[i:]
	} else {
		return false
	}
	for _, p := range strings.Split(params, ";") {
		name, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "tag") {
			return true
		}
	}
	return false
}

// statelessTag derives a To-tag from the request's transaction identity.
func statelessTag(m *rawMessage) string {
	h := fnv.New64a()
	for _, name := range [...]string{"via", "call-id", "from", "cseq"} {
		h.Write([]byte(m.get(name)))
		h.Write([]byte{0})
	}
	return "rd" + strconv.FormatUint(h.Sum64(), 36)
}
