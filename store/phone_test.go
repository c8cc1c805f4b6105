package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/ringdesk/ringdesk/store"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, region, raw string
		e164, ext         string
		valid             bool
	}{
		// Great Britain
		{"GB national", "GB", "020 7946 0958", "+442079460958", "", true},
		// Ofcom keeps 07700 900xxx for drama: possible, not valid; still matched.
		{"GB drama mobile punctuated", "GB", "(07700) 900-123", "+447700900123", "", false},
		{"GB mobile", "GB", "07911 123456", "+447911123456", "", true},
		{"GB international +", "GB", "+44 20 7946 0958", "+442079460958", "", true},
		{"GB 00 prefix", "GB", "0044 20 7946 0958", "+442079460958", "", true},
		{"GB +44 (0) habit", "GB", "+44 (0)20 7946 0958", "+442079460958", "", true},
		{"GB extension x", "GB", "020 7946 0958 x123", "+442079460958", "123", true},
		{"GB extension ext.", "GB", "020 7946 0958 ext. 45", "+442079460958", "45", true},
		{"GB foreign number with 00", "GB", "0033 1 42 68 53 00", "+33142685300", "", true},
		{"GB tel URI", "GB", "tel:+442079460958", "+442079460958", "", true},
		// United States
		{"US national", "US", "(212) 555-0123", "+12125550123", "", true},
		{"US no area code", "US", "555-2671", "", "", false},
		{"US valid", "US", "650 253 0000", "+16502530000", "", true},
		{"US with 1", "US", "1 650 253 0000", "+16502530000", "", true},
		{"US 011 prefix", "US", "011 44 20 7946 0958", "+442079460958", "", true},
		{"US dots", "US", "650.253.0000", "+16502530000", "", true},
		{"US vanity letters", "US", "1-800-FLOWERS", "+18003569377", "", true},
		{"US extension", "US", "650-253-0000 ext 7", "+16502530000", "7", true},
		// Valid, though not of a possible length for +1 (from the fuzzer).
		{"seven-digit +1 valid", "GB", "001E1000AA", "+13100022", "", true},
		// Germany
		{"DE national", "DE", "030 123456", "+4930123456", "", true},
		{"DE mobile", "DE", "0151 23456789", "+4915123456789", "", true},
		{"DE 00 international", "DE", "0049 30 123456", "+4930123456", "", true},
		// France
		{"FR national", "FR", "01 42 68 53 00", "+33142685300", "", true},
		{"FR mobile", "FR", "06 12 34 56 78", "+33612345678", "", true},
		// India
		{"IN mobile", "IN", "098765 43210", "+919876543210", "", true},
		{"IN with +91", "IN", "+91 98765 43210", "+919876543210", "", true},
		// Brazil
		{"BR mobile", "BR", "(11) 96123-4567", "+5511961234567", "", true},
		// Australia
		{"AU national", "AU", "(02) 9374 4000", "+61293744000", "", true},
		{"AU mobile", "AU", "0412 345 678", "+61412345678", "", true},
		// Invalid and odd inputs: kept raw, no E.164.
		{"empty", "GB", "", "", "", false},
		{"blank", "GB", "   ", "", "", false},
		{"anonymous", "GB", "anonymous", "", "", false},
		{"letters only", "GB", "unknown caller", "", "", false},
		{"too short", "GB", "12", "", "", false},
		{"too long", "GB", strings.Repeat("9", 80), "", "", false},
		{"plus only", "GB", "+", "", "", false},
		{"bad country code", "GB", "+999 1234 5678", "", "", false},
		{"invalid utf8", "GB", "0207\xff946", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := store.NewNormalizer(tt.region)
			if err != nil {
				t.Fatal(err)
			}
			got := n.Normalize(tt.raw)
			if got.Raw != tt.raw {
				t.Errorf("Raw = %q, want the input kept", got.Raw)
			}
			if got.E164 != tt.e164 || got.Extension != tt.ext {
				t.Errorf("Normalize(%q in %s) = {E164:%q Ext:%q}, want {E164:%q Ext:%q}",
					tt.raw, tt.region, got.E164, got.Extension, tt.e164, tt.ext)
			}
			checked, valid := n.NormalizeChecked(tt.raw)
			if checked != got || valid != tt.valid {
				t.Errorf("NormalizeChecked(%q in %s) = %+v, %v; want %+v, %v", tt.raw, tt.region, checked, valid, got, tt.valid)
			}
		})
	}
}

func TestNewNormalizerRejectsUnknownRegion(t *testing.T) {
	for _, r := range []string{"", "XX", "England", "001"} {
		if _, err := store.NewNormalizer(r); err == nil {
			t.Errorf("NewNormalizer(%q) succeeded, want an error", r)
		}
	}
	if n, err := store.NewNormalizer(" gb "); err != nil || n.Region() != "GB" {
		t.Errorf("NewNormalizer(\" gb \") = %v, %v; want region GB", n, err)
	}
}

// FuzzNormalize checks that any input, as a carrier or a CSV might send it,
// neither panics nor yields a malformed E.164, and that normalising an
// E.164 result again gives the same number.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"020 7946 0958", "+44 (0)20 7946 0958 x12", "0044", "tel:+1-800-FLOWERS",
		"anonymous", "", "+", "011 44 20", "\x00", "0207\xff946", "1;ext=123", "+49 (0) 30/123456"} {
		f.Add(s)
	}
	n, err := store.NewNormalizer("GB")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := n.Normalize(raw)
		if got.Raw != raw {
			t.Fatalf("Raw changed: %q → %q", raw, got.Raw)
		}
		// Checking validity changes nothing else, and both give what the
		// plain rule gives: validity checked first.
		checked, valid := n.NormalizeChecked(raw)
		if checked != got {
			t.Fatalf("NormalizeChecked(%q) = %+v, valid %v; Normalize gave %+v", raw, checked, valid, got)
		}
		if e164, v := validFirst(raw, "GB"); e164 != got.E164 || v != valid {
			t.Fatalf("Normalize(%q) = %q, valid %v; validity first gives %q, %v", raw, got.E164, valid, e164, v)
		}
		if got.E164 == "" {
			return
		}
		if len(got.E164) < 3 || len(got.E164) > 16 || got.E164[0] != '+' {
			t.Fatalf("Normalize(%q).E164 = %q: not E.164", raw, got.E164)
		}
		for _, r := range got.E164[1:] {
			if r < '0' || r > '9' {
				t.Fatalf("Normalize(%q).E164 = %q: not digits", raw, got.E164)
			}
		}
		if again := n.Normalize(got.E164); again.E164 != got.E164 {
			t.Fatalf("Normalize(%q) = %q, but normalising that gives %q", raw, got.E164, again.E164)
		}
	})
}

// validFirst is the normaliser's rule written plainly, validity checked
// first: a number gets its E.164 form when that has at most 15 digits and
// the number is valid, or possible and its E.164 form stable (parsed again,
// it formats the same). Only a number with an E.164 form counts as valid,
// as before validity became optional.
func validFirst(raw, region string) (string, bool) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 64 || !utf8.ValidString(s) {
		return "", false
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", false
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if len(e164) > 16 {
		return "", false
	}
	valid := phonenumbers.IsValidNumber(num)
	if valid {
		return e164, true
	}
	if phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	again, err := phonenumbers.Parse(e164, region)
	if err != nil || phonenumbers.Format(again, phonenumbers.E164) != e164 {
		return "", false
	}
	return e164, false
}

// A remembered answer is the answer: the same for every caller, from many
// goroutines at once, and still right once the cache has turned over.
func TestNormalizeCached(t *testing.T) {
	n, err := store.NewNormalizer("GB")
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(raw string) string {
		m, err := store.NewNormalizer("GB")
		if err != nil {
			t.Fatal(err)
		}
		p := m.Normalize(raw)
		return fmt.Sprintf("%+v", p)
	}
	inputs := []string{"020 7946 0958", "+442079460958", "020 7946 0958 x123", "anonymous", "", "07700 900123"}
	want := map[string]string{}
	for _, raw := range inputs {
		want[raw] = fresh(raw)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 3000 {
				raw := inputs[(g+i)%len(inputs)]
				if i%3 == 0 { // numbers seen once push the others out
					raw = fmt.Sprintf("020 7946 %04d", (g*3000+i)%10000)
					if got := fmt.Sprintf("%+v", n.Normalize(raw)); !strings.Contains(got, "E164:+44207946") {
						t.Errorf("Normalize(%q) = %s", raw, got)
					}
					continue
				}
				if got := fmt.Sprintf("%+v", n.Normalize(raw)); got != want[raw] {
					t.Errorf("Normalize(%q) = %s, want %s", raw, got, want[raw])
				}
			}
		})
	}
	wg.Wait()
}
