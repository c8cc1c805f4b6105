package telephony

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// Sources of a caller ID.
const (
	CallerIDFromPAI  = "pai"  // P-Asserted-Identity (RFC 3325), trusted trunks only
	CallerIDFromRPID = "rpid" // Remote-Party-ID (draft-ietf-sip-privacy-04), party=calling
	CallerIDFromFrom = "from" // the From header
)

// Bounds on what is kept of a caller ID; both come from outside.
const (
	maxCallerName   = 64 // runes
	maxCallerNumber = 64 // bytes
)

// CallerID is the calling party as the caller's network presents it.
type CallerID struct {
	// Number is the raw number: the user part of a sip:/sips: URI (escapes
	// decoded once, password and user parameters removed) or the number of
	// a tel: URI (parameters removed), visual separators kept. Empty when
	// anonymous or absent. Normalising to E.164 is a PhoneNormalizer's job.
	Number string
	// Name is the display name: unquoted, unescaped, control characters
	// removed, at most 64 characters. Empty when anonymous.
	Name string
	// Source is where the identity was taken from: "pai", "rpid" or "from".
	Source string
	// Anonymous is true when the caller asked not to be identified: Privacy
	// id/user/header, Remote-Party-ID privacy=full/uri, or a From of
	// anonymous/unknown/restricted/private/unavailable or @anonymous.invalid.
	Anonymous bool
}

// CallerIDHeaders are the raw values of the headers caller ID is taken
// from; one element per header line, a line may hold several values.
type CallerIDHeaders struct {
	PAI     []string // P-Asserted-Identity
	RPID    []string // Remote-Party-ID
	From    string
	Privacy []string
}

// CallerIDHeadersOf collects the caller-ID headers of req.
func CallerIDHeadersOf(req *sip.Request) CallerIDHeaders {
	var h CallerIDHeaders
	for _, x := range req.GetHeaders("P-Asserted-Identity") {
		h.PAI = append(h.PAI, x.Value())
	}
	for _, x := range req.GetHeaders("Remote-Party-ID") {
		h.RPID = append(h.RPID, x.Value())
	}
	for _, x := range req.GetHeaders("Privacy") {
		h.Privacy = append(h.Privacy, x.Value())
	}
	if f := req.From(); f != nil {
		h.From = f.Value()
	}
	return h
}

// ExtractCallerID picks the caller's identity: P-Asserted-Identity when the
// trunk is trusted (a tel: value preferred, else the first sip:/sips: value
// with a user part), else the Remote-Party-ID with party=calling (or no
// party), else From. A source without a display name borrows From's.
// Anonymity from any header wins: it clears Number and Name.
func ExtractCallerID(h CallerIDHeaders, trusted bool) CallerID {
	from, fromOK := parseNameAddr(h.From)
	id := CallerID{Source: CallerIDFromFrom}
	picked, hideName := false, false

	if trusted {
		var name string
		var tel, sipID *nameAddr
		for _, line := range h.PAI {
			for _, v := range splitHeaderValues(line) {
				na, ok := parseNameAddr(v)
				if !ok {
					continue
				}
				if name == "" {
					name = na.display
				}
				switch na.scheme {
				case "tel":
					if tel == nil && na.user != "" {
						tel = &na
					}
				case "sip", "sips":
					if sipID == nil && na.user != "" {
						sipID = &na
					}
				}
			}
		}
		if best := firstOf(tel, sipID); best != nil {
			id = CallerID{Number: best.user, Name: name, Source: CallerIDFromPAI}
			if isAnonymousIdentity(best) {
				id.Anonymous = true
			}
			picked = true
		}
	}

	if !picked {
	rpid:
		for _, line := range h.RPID {
			for _, v := range splitHeaderValues(line) {
				na, ok := parseNameAddr(v)
				if !ok {
					continue
				}
				if party := strings.ToLower(na.params["party"]); party != "" && party != "calling" {
					continue
				}
				id = CallerID{Number: na.user, Name: na.display, Source: CallerIDFromRPID}
				switch strings.ToLower(na.params["privacy"]) {
				case "full", "uri":
					id.Anonymous = true
				case "name":
					hideName = true
				}
				if isAnonymousIdentity(&na) {
					id.Anonymous = true
				}
				picked = true
				break rpid
			}
		}
	}

	if !picked && fromOK {
		id = CallerID{Number: from.user, Name: from.display, Source: CallerIDFromFrom}
	}
	if id.Name == "" && fromOK {
		id.Name = from.display
	}
	if hideName {
		id.Name = ""
	}
	if fromOK && isAnonymousIdentity(&from) {
		id.Anonymous = true
	}
	if privacyRequested(h.Privacy) {
		id.Anonymous = true
	}
	if id.Anonymous {
		id.Number, id.Name = "", ""
	}
	id.Name = cleanName(id.Name)
	id.Number = cleanNumber(id.Number)
	return id
}

func firstOf(a ...*nameAddr) *nameAddr {
	for _, x := range a {
		if x != nil {
			return x
		}
	}
	return nil
}

// Caller is a caller ID with its number normalised.
type Caller struct {
	CallerID
	Phone ringdesk.PhoneNumber // zero when anonymous or absent
}

// IdentifyCaller extracts the caller ID of an INVITE from trunk (nil: an
// untrusted source) and normalises its number with norm.
func IdentifyCaller(req *sip.Request, trunk *ringdesk.Trunk, norm ringdesk.PhoneNormalizer) Caller {
	c := Caller{CallerID: ExtractCallerID(CallerIDHeadersOf(req), trunk != nil && trunk.TrustPAI)}
	if c.Number != "" && norm != nil {
		c.Phone = norm.Normalize(c.Number)
	}
	return c
}

// MaskNumber hides all but the last 3 digits of a number (and a leading
// '+'), for logs at INFO: "+447700900123" → "+*********123".
func MaskNumber(n string) string {
	r := []rune(n)
	keep := 3
	for i := len(r) - 1; i >= 0; i-- {
		switch {
		case unicode.IsDigit(r[i]) && keep > 0:
			keep--
		case i == 0 && r[i] == '+':
		case unicode.IsLetter(r[i]) || unicode.IsDigit(r[i]):
			r[i] = '*'
		}
	}
	return string(r)
}

var anonymousUsers = map[string]bool{
	"anonymous": true, "unknown": true, "restricted": true, "private": true,
	"unavailable": true, "withheld": true,
}

func isAnonymousIdentity(na *nameAddr) bool {
	return anonymousUsers[strings.ToLower(na.user)] || strings.EqualFold(na.host, "anonymous.invalid")
}

// privacyRequested reports a Privacy header (RFC 3323/3325) asking to hide
// the identity: id, user or header.
func privacyRequested(values []string) bool {
	for _, v := range values {
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '\t' }) {
			switch strings.ToLower(tok) {
			case "id", "user", "header":
				return true
			}
		}
	}
	return false
}

// nameAddr is a parsed From / P-Asserted-Identity / Remote-Party-ID value.
type nameAddr struct {
	display string
	scheme  string // lower case
	user    string // number-ish user part, see CallerID.Number
	host    string
	params  map[string]string // header parameters, names lower case, values unquoted
}

// parseNameAddr parses name-addr / addr-spec followed by header parameters,
// tolerantly: it never fails on odd input, it returns ok=false when no URI
// can be found.
func parseNameAddr(v string) (nameAddr, bool) {
	var na nameAddr
	v = strings.TrimSpace(v)
	var uri, params string
	if strings.HasPrefix(v, "\"") {
		display, rest := unquote(v)
		na.display = display
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "<") {
			return na, false
		}
		v = rest
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if na.display == "" {
			na.display = strings.TrimSpace(v[:i])
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return na, false
		}
		uri, params = v[i+1:i+j], v[i+j+1:]
	} else {
		// addr-spec: its own parameters cannot be told from header ones,
		// so everything after the first ';' is taken as header parameters
		// (RFC 3261 20.10) — except in the user part, cut at the '@'.
		at := strings.IndexByte(v, '@')
		semi := strings.IndexByte(v, ';')
		if semi >= 0 && (at < 0 || semi > at) {
			uri, params = v[:semi], v[semi:]
		} else if at >= 0 {
			if s := strings.IndexByte(v[at:], ';'); s >= 0 {
				uri, params = v[:at+s], v[at+s:]
			} else {
				uri = v
			}
		} else {
			uri = v
		}
	}
	na.params = parseParams(params)
	scheme, rest, ok := strings.Cut(strings.TrimSpace(uri), ":")
	if !ok || !isScheme(scheme) {
		return na, false
	}
	na.scheme = strings.ToLower(scheme)
	switch na.scheme {
	case "sip", "sips":
		if at := strings.IndexByte(rest, '@'); at >= 0 {
			user := rest[:at]
			na.host = hostOf(rest[at+1:])
			user, _, _ = strings.Cut(user, ";") // user parameters (RFC 4694: ;npdi;rn=)
			user, _, _ = strings.Cut(user, ":") // password
			na.user = unescape(user)
		} else {
			na.host = hostOf(rest)
		}
	case "tel":
		number, _, _ := strings.Cut(rest, ";")
		na.user = unescape(number)
	}
	return na, true
}

func hostOf(s string) string {
	if i := strings.IndexAny(s, ";?>"); i >= 0 {
		s = s[:i]
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			return s[:i+1]
		}
		return s
	}
	h, _, _ := strings.Cut(s, ":")
	return strings.TrimSpace(h)
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// unquote reads a quoted-string at the start of s, resolving quoted-pairs;
// it returns the content and what follows the closing quote. An
// unterminated string takes everything up to a '<' as its content.
func unquote(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	if i := strings.IndexByte(s, '<'); i > 0 {
		return strings.Trim(s[1:i], " \t\""), s[i:]
	}
	return b.String(), ""
}

// parseParams parses ";name=value;flag" header parameters.
func parseParams(s string) map[string]string {
	out := map[string]string{}
	for _, p := range splitOutsideQuotes(s, ';') {
		name, value, _ := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, "\"") {
			value, _ = unquote(value)
		}
		if _, dup := out[name]; !dup {
			out[name] = value
		}
	}
	return out
}

// splitHeaderValues splits a header line into its comma-separated values,
// ignoring commas inside quotes and angle brackets.
func splitHeaderValues(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start <= len(s) {
		out = append(out, s[start:])
	}
	return out
}

// cleanName keeps a display name printable: valid UTF-8, no control or
// bidirectional-override characters, whitespace collapsed, 64 runes.
func cleanName(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			continue
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if n >= maxCallerName {
			break
		}
		if space {
			if n+1 >= maxCallerName {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanNumber drops control characters and bounds the length.
func cleanNumber(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxCallerNumber {
		s = s[:maxCallerNumber]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

// DialledNumber is the number the caller dialled (the DID that selects the
// queue): the user part of the Request-URI, or the number of a tel: URI,
// else the To header's; raw like CallerID.Number, "" when there is none.
func DialledNumber(req *sip.Request) string {
	var n string
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips":
		user, _, _ := strings.Cut(req.Recipient.User, ";")
		n = unescape(user)
	case "tel":
		number, _, _ := strings.Cut(req.Recipient.Raw(), ";")
		n = unescape(number)
	}
	if n == "" {
		if to := req.To(); to != nil {
			if na, ok := parseNameAddr(to.Value()); ok {
				n = na.user
			}
		}
	}
	return cleanNumber(n)
}
