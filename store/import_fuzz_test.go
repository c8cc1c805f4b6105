package store_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
)

// FuzzImportRow feeds arbitrary CSV text through the pure part of Import:
// header mapping (with one override), row conversion and phone
// normalisation. It must never panic, refuse only with EINVALID, and
// accept only customers that hold the store's invariants.
func FuzzImportRow(f *testing.F) {
	f.Add("Name,Company,Email,Account,Phone,Mobile", "Ada,Engines,ada@example.com,ACC-1,020 7946 0000,07700 900123", "", "")
	f.Add("First Name,Last Name,Tags,Status", "Ada,Lovelace,vip;retail|x,Prospect", "", "")
	f.Add("Kunde,Tel (office)", "Ada,+44 20 7946 0000 ext. 12", "Tel (office)", "phone:work")
	f.Add("Name,Phone 2", "\"Broken \"quote,1", "", "")
	f.Add("Email", "a@example.com", "Email", "name")
	f.Add("Name,Notes", ",\"multi\nline\"", "Name", "ignore")
	f.Add("\uFEFFName,,", "x,y,z", "", "")
	f.Add("name,name,phone,phone", "a,b,tel:+1 202 555 0101,011 44 20 7946 0000", "phone", "phone:")

	norm, err := store.NewNormalizer("GB")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, rows, mapFrom, mapTo string) {
		cr := csv.NewReader(strings.NewReader(header + "\n" + rows))
		cr.FieldsPerRecord = -1
		head, err := cr.Read()
		if err != nil {
			return
		}
		var overrides map[string]string
		if mapFrom != "" {
			overrides = map[string]string{mapFrom: mapTo}
		}
		m, err := store.NewImportMapping(head, overrides)
		if err != nil {
			if code := ringdesk.ErrorCode(err); code != ringdesk.EINVALID {
				t.Fatalf("mapping error %v has code %s, want EINVALID", err, code)
			}
			return
		}
		if got := len(m.Fields()); got != len(head) {
			t.Fatalf("%d fields for %d columns", got, len(head))
		}
		for range 8 {
			rec, err := cr.Read()
			if err != nil {
				if _, ok := err.(*csv.ParseError); ok {
					continue
				}
				return
			}
			c, err := m.Customer(rec)
			if err != nil {
				if code := ringdesk.ErrorCode(err); code != ringdesk.EINVALID {
					t.Fatalf("row error %v has code %s, want EINVALID", err, code)
				}
				continue
			}
			if c.Name == "" && c.Company == "" {
				t.Fatalf("accepted a customer without name or company: %+v", c)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted customer fails Validate again: %v", err)
			}
			for _, tag := range c.Tags {
				if tag == "" || strings.ContainsAny(tag, ",;|") {
					t.Fatalf("tag %q left unsplit", tag)
				}
			}
			for _, p := range c.Phones {
				if p.Raw == "" || p.Label == "" {
					t.Fatalf("phone %+v without number or label", p)
				}
				if pn := norm.Normalize(p.Raw); pn.E164 != "" && !strings.HasPrefix(pn.E164, "+") {
					t.Fatalf("Normalize(%q).E164 = %q", p.Raw, pn.E164)
				}
			}
		}
	})
}
