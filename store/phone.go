package store

import (
	"strings"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nyaruka/phonenumbers"

	"github.com/ringdesk/ringdesk"
)

// maxPhoneLen bounds what the parser is given; caller IDs come from outside.
const maxPhoneLen = 64

// Normalizer normalises phone numbers to E.164 with libphonenumber's rules
// (github.com/nyaruka/phonenumbers) in a default region.
//
// It remembers its latest answers: a call normalises the same numbers
// several times (the caller ID, then the lookup of its E.164 form; the DID
// on every call), callers call again, and each parse with its validity
// check runs libphonenumber's regular expressions (10 KB of allocation and
// ~19 µs per new number, BenchmarkNormalize).
type Normalizer struct {
	region string
	cache  *lru.Cache[string, ringdesk.PhoneNumber]
}

// normalizerCacheSize bounds the remembered answers (about 1 MB).
const normalizerCacheSize = 8192

var _ ringdesk.PhoneNormalizer = (*Normalizer)(nil)

// NewNormalizer returns a normaliser for numbers written as dialled in region
// (ISO 3166 alpha-2, e.g. "GB", "US"). Returns EINVALID for an unknown region.
func NewNormalizer(region string) (*Normalizer, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "%q is not a known phone region (use an ISO 3166 code such as GB or US)", region)
	}
	cache, err := lru.New[string, ringdesk.PhoneNumber](normalizerCacheSize)
	if err != nil {
		return nil, err
	}
	return &Normalizer{region: region, cache: cache}, nil
}

// Region returns the default region.
func (n *Normalizer) Region() string { return n.region }

// Normalize parses raw, accepting national and international forms, 00/011
// and other international prefixes of the default region, punctuation,
// letters (1-800-FLOWERS) and extensions ("x12", "ext. 12", ";ext=12").
// A number that is not even possible for its region gets no E164.
func (n *Normalizer) Normalize(raw string) ringdesk.PhoneNumber {
	if out, ok := n.cache.Get(raw); ok {
		return out
	}
	out := n.normalize(raw)
	n.cache.Add(raw, out)
	return out
}

func (n *Normalizer) normalize(raw string) ringdesk.PhoneNumber {
	out := ringdesk.PhoneNumber{Raw: raw}
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > maxPhoneLen || !utf8.ValidString(s) {
		return out
	}
	// tel: URIs and SIP user parts carry visual separators libphonenumber
	// knows, but not the scheme.
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	num, err := phonenumbers.Parse(s, n.region)
	if err != nil {
		return out
	}
	valid := phonenumbers.IsValidNumber(num)
	// A number that is only possible as a local number (no area code) has
	// no E.164 form to match on.
	if !valid && phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return out
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) > 16 { // E.164 allows 15 digits at most
		return out
	}
	if !valid {
		// Junk such as "+440000000000" loses a zero when parsed again; a
		// number whose E.164 form is not stable would never match itself.
		again, err := phonenumbers.Parse(e164, n.region)
		if err != nil || phonenumbers.Format(again, phonenumbers.E164) != e164 {
			return out
		}
	}
	out.E164 = e164
	out.Extension = num.GetExtension()
	out.Valid = valid
	return out
}

// phoneFor builds a stored phone from a raw number.
func (n *Normalizer) phoneFor(label, raw string) ringdesk.Phone {
	pn := n.Normalize(raw)
	return ringdesk.Phone{Label: label, Raw: strings.TrimSpace(raw), E164: pn.E164, Extension: pn.Extension, Invalid: !pn.Valid}
}

func countryCode(region string) int { return phonenumbers.GetCountryCodeForRegion(region) }
