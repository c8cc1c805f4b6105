package ringdesk

import "time"

// AppendJSON appends p as json.Marshal would write it. Every call's pop is
// encoded once, a few kilobytes with the customer, recent calls and cases,
// and json.Marshal's reflection was ~2.5 % of the call path's CPU. ok is
// false (nothing appended) for a time json.Marshal refuses (a year outside
// 0–9999).
func (p *Pop) AppendJSON(b []byte) (_ []byte, ok bool) {
	if !p.timesMarshal() {
		return b, false
	}
	b = appendStringField(b, `{"call_id":`, p.CallID)
	b = appendStringField(b, `,"agent_id":`, p.AgentID)
	b = appendStringField(b, `,"queue":`, p.Queue)
	b = appendStringField(b, `,"caller_raw":`, p.CallerRaw)
	b = appendStringField(b, `,"caller_e164":`, p.CallerE164)
	b = appendStringField(b, `,"caller_name":`, p.CallerName)
	b = appendStringField(b, `,"match":`, p.Match)
	if p.Customer != nil {
		b = append(b, `,"customer":`...)
		b = p.Customer.appendJSON(b)
	}
	if len(p.Candidates) > 0 {
		b = appendArray(b, `,"candidates":`, p.Candidates, func(c **Customer, b []byte) []byte {
			if *c == nil {
				return append(b, "null"...)
			}
			return (*c).appendJSON(b)
		})
	}
	if len(p.RecentCalls) > 0 {
		b = appendArray(b, `,"recent_calls":`, p.RecentCalls, (*HistoryItem).appendJSON)
	}
	if len(p.OpenCases) > 0 {
		b = appendArray(b, `,"open_cases":`, p.OpenCases, (*Case).appendJSON)
	}
	b = appendIntField(b, `,"wait_ms":`, p.WaitMS)
	b = appendTimeField(b, `,"offered_at":`, p.OfferedAt)
	b = appendTimeField(b, `,"sent_at":`, p.SentAt)
	return append(b, '}'), true
}

// timesMarshal reports whether every time in p has a year json.Marshal
// takes.
func (p *Pop) timesMarshal() bool {
	ok := func(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }
	customer := func(c *Customer) bool {
		return c == nil || (ok(c.CreatedAt) && ok(c.UpdatedAt) && (c.DeletedAt == nil || ok(*c.DeletedAt)))
	}
	if !ok(p.OfferedAt) || !ok(p.SentAt) || !customer(p.Customer) {
		return false
	}
	for _, c := range p.Candidates {
		if !customer(c) {
			return false
		}
	}
	for i := range p.RecentCalls {
		if !ok(p.RecentCalls[i].At) {
			return false
		}
	}
	for i := range p.OpenCases {
		c := &p.OpenCases[i]
		if !ok(c.CreatedAt) || !ok(c.UpdatedAt) || (c.ClosedAt != nil && !ok(*c.ClosedAt)) {
			return false
		}
	}
	return true
}

// appendJSON appends c as json.Marshal writes it; its times are checked.
func (c *Customer) appendJSON(b []byte) []byte {
	b = appendIntField(b, `{"id":`, c.ID)
	b = appendStringField(b, `,"name":`, c.Name)
	b = appendStringField(b, `,"company":`, c.Company)
	b = appendStringField(b, `,"email":`, c.Email)
	b = appendStringField(b, `,"account_number":`, c.AccountNumber)
	b = appendStringField(b, `,"status":`, c.Status)
	b = appendArray(b, `,"tags":`, c.Tags, func(t *string, b []byte) []byte { return AppendJSONString(b, *t) })
	b = appendStringField(b, `,"address":`, c.Address)
	b = appendStringField(b, `,"notes":`, c.Notes)
	b = appendArray(b, `,"phones":`, c.Phones, (*Phone).appendJSON)
	b = appendIntField(b, `,"version":`, c.Version)
	b = appendTimeField(b, `,"created_at":`, c.CreatedAt)
	b = appendTimeField(b, `,"updated_at":`, c.UpdatedAt)
	if c.DeletedAt != nil {
		b = appendTimeField(b, `,"deleted_at":`, *c.DeletedAt)
	}
	return append(b, '}')
}

func (p *Phone) appendJSON(b []byte) []byte {
	b = appendIntField(b, `{"id":`, p.ID)
	b = appendStringField(b, `,"label":`, p.Label)
	b = appendStringField(b, `,"raw":`, p.Raw)
	b = appendStringField(b, `,"e164":`, p.E164)
	if p.Extension != "" {
		b = appendStringField(b, `,"extension":`, p.Extension)
	}
	if p.Invalid {
		b = append(b, `,"invalid":true`...)
	}
	return append(b, '}')
}

func (h *HistoryItem) appendJSON(b []byte) []byte {
	b = appendStringField(b, `{"kind":`, h.Kind)
	b = appendStringField(b, `,"id":`, h.ID)
	b = appendTimeField(b, `,"at":`, h.At)
	b = appendStringField(b, `,"title":`, h.Title)
	b = appendStringField(b, `,"status":`, h.Status)
	b = appendStringField(b, `,"body":`, h.Body)
	if h.Author != "" {
		b = appendStringField(b, `,"author":`, h.Author)
	}
	return append(b, '}')
}

func (c *Case) appendJSON(b []byte) []byte {
	b = appendIntField(b, `{"id":`, c.ID)
	b = appendIntField(b, `,"customer_id":`, c.CustomerID)
	if c.CallID != "" {
		b = appendStringField(b, `,"call_id":`, c.CallID)
	}
	b = appendStringField(b, `,"subject":`, c.Subject)
	b = appendStringField(b, `,"description":`, c.Description)
	b = appendStringField(b, `,"status":`, c.Status)
	b = appendStringField(b, `,"priority":`, c.Priority)
	if c.OwnerID != 0 {
		b = appendIntField(b, `,"owner_id":`, c.OwnerID)
	}
	b = appendIntField(b, `,"version":`, c.Version)
	b = appendTimeField(b, `,"created_at":`, c.CreatedAt)
	b = appendTimeField(b, `,"updated_at":`, c.UpdatedAt)
	if c.ClosedAt != nil {
		b = appendTimeField(b, `,"closed_at":`, *c.ClosedAt)
	}
	return append(b, '}')
}

// appendArray appends name and s as a JSON array, each element written by
// each; a nil s is null, as json.Marshal writes it.
func appendArray[T any](b []byte, name string, s []T, each func(*T, []byte) []byte) []byte {
	b = append(b, name...)
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = each(&s[i], b)
	}
	return append(b, ']')
}
