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
// on every call), and callers call again. A number not seen before costs a
// parse, and a second one of its E.164 form (BenchmarkNormalize); whether
// it is a valid number of its region (libphonenumber's regular expressions,
// three times that) is worked out only for stored phones (NormalizeChecked).
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
	out, _ := n.normalize(raw, false)
	n.cache.Add(raw, out)
	return out
}

// NormalizeChecked is Normalize, and also says whether the number is a
// valid number of its region (a stored phone that is not is flagged).
// Its answers are not remembered.
func (n *Normalizer) NormalizeChecked(raw string) (ringdesk.PhoneNumber, bool) {
	return n.normalize(raw, true)
}

func (n *Normalizer) normalize(raw string, check bool) (out ringdesk.PhoneNumber, valid bool) {
	out = ringdesk.PhoneNumber{Raw: raw}
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > maxPhoneLen || !utf8.ValidString(s) {
		return out, false
	}
	// tel: URIs and SIP user parts carry visual separators libphonenumber
	// knows, but not the scheme.
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	num, err := phonenumbers.Parse(s, n.region)
	if err != nil {
		return out, false
	}
	// A number that is only possible as a local number (no area code) has
	// no E.164 form to match on, unless it is valid (a few are: +1 310-0022
	// is seven digits). Junk such as "+440000000000" loses a zero when
	// parsed again: a number whose E.164 form is not stable would never
	// match itself. A number gets its E.164 form when it is valid, or
	// possible and stable (sound).
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) > 16 { // E.164 allows 15 digits at most
		return out, false
	}
	if check {
		// Stored phones: validity first; a valid number needs no more.
		valid = phonenumbers.IsValidNumber(num)
		if !valid && !n.sound(num, e164) {
			return out, false
		}
	} else if !n.sound(num, e164) && !phonenumbers.IsValidNumber(num) {
		// Caller IDs: the costly validity check only when it decides.
		return out, false
	}
	out.E164 = e164
	out.Extension = num.GetExtension()
	return out, valid
}

// sound reports whether num, formatted as e164, is possible for its region
// and stable (parsed again, it formats the same).
func (n *Normalizer) sound(num *phonenumbers.PhoneNumber, e164 string) bool {
	if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return false
	}
	again, err := phonenumbers.Parse(e164, n.region)
	return err == nil && phonenumbers.Format(again, phonenumbers.E164) == e164
}

// phoneFor builds a stored phone from a raw number.
func (n *Normalizer) phoneFor(label, raw string) ringdesk.Phone {
	pn, valid := n.NormalizeChecked(raw)
	return ringdesk.Phone{Label: label, Raw: strings.TrimSpace(raw), E164: pn.E164, Extension: pn.Extension, Invalid: !valid}
}

func countryCode(region string) int { return phonenumbers.GetCountryCodeForRegion(region) }
