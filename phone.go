package ringdesk

// Phone is one phone number of a customer. Raw is what was entered or
// received; E164 is its normalised form, empty when Raw could not be parsed
// (the number is then kept and flagged Invalid, never dropped).
type Phone struct {
	ID        int64  `json:"id" db:"id"`
	Label     string `json:"label" db:"label"`
	Raw       string `json:"raw" db:"raw"`
	E164      string `json:"e164" db:"e164"`
	Extension string `json:"extension,omitempty" db:"extension"`
	Invalid   bool   `json:"invalid,omitempty" db:"invalid"`
}

// PhoneNumber is the result of normalising a raw number.
type PhoneNumber struct {
	Raw       string // as given
	E164      string // "+442079460000"; empty when not parseable
	Extension string // digits after an extension marker, if any
}

// PhoneNormalizer turns numbers as people and carriers write them into E.164.
type PhoneNormalizer interface {
	// Normalize parses raw in the configured default region. It never fails:
	// a number that cannot be parsed comes back with an empty E164.
	Normalize(raw string) PhoneNumber
}
