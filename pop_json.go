package ringdesk

import (
	"strconv"
	"time"
)

// AppendJSON appends p as json.Marshal would write it. Every call's pop is
// encoded once, a few kilobytes with the customer, recent calls and cases,
// and json.Marshal's reflection was ~2.5 % of the call path's CPU. ok is
// false (nothing appended) for a time json.Marshal refuses (a year outside
// 0–9999).
func (p *Pop) AppendJSON(b []byte) (_ []byte, ok bool) {
	if !p.timesMarshal() {
		return b, false
	}
	b = append(b, `{"call_id":`...)
	b = AppendJSONString(b, p.CallID)
	b = append(b, `,"agent_id":`...)
	b = AppendJSONString(b, p.AgentID)
	b = append(b, `,"queue":`...)
	b = AppendJSONString(b, p.Queue)
	b = append(b, `,"caller_raw":`...)
	b = AppendJSONString(b, p.CallerRaw)
	b = append(b, `,"caller_e164":`...)
	b = AppendJSONString(b, p.CallerE164)
	b = append(b, `,"caller_name":`...)
	b = AppendJSONString(b, p.CallerName)
	b = append(b, `,"match":`...)
	b = AppendJSONString(b, p.Match)
	if p.Customer != nil {
		b = append(b, `,"customer":`...)
		b = p.Customer.appendJSON(b)
	}
	if len(p.Candidates) > 0 {
		b = append(b, `,"candidates":[`...)
		for i, c := range p.Candidates {
			if i > 0 {
				b = append(b, ',')
			}
			if c == nil {
				b = append(b, "null"...)
			} else {
				b = c.appendJSON(b)
			}
		}
		b = append(b, ']')
	}
	if len(p.RecentCalls) > 0 {
		b = append(b, `,"recent_calls":[`...)
		for i := range p.RecentCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = p.RecentCalls[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if len(p.OpenCases) > 0 {
		b = append(b, `,"open_cases":[`...)
		for i := range p.OpenCases {
			if i > 0 {
				b = append(b, ',')
			}
			b = p.OpenCases[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"wait_ms":`...)
	b = strconv.AppendInt(b, p.WaitMS, 10)
	b = append(b, `,"offered_at":`...)
	b = appendJSONTime(b, p.OfferedAt)
	b = append(b, `,"sent_at":`...)
	b = appendJSONTime(b, p.SentAt)
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
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, `,"name":`...)
	b = AppendJSONString(b, c.Name)
	b = append(b, `,"company":`...)
	b = AppendJSONString(b, c.Company)
	b = append(b, `,"email":`...)
	b = AppendJSONString(b, c.Email)
	b = append(b, `,"account_number":`...)
	b = AppendJSONString(b, c.AccountNumber)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, c.Status)
	b = append(b, `,"tags":`...)
	if c.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, t := range c.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"address":`...)
	b = AppendJSONString(b, c.Address)
	b = append(b, `,"notes":`...)
	b = AppendJSONString(b, c.Notes)
	b = append(b, `,"phones":`...)
	if c.Phones == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range c.Phones {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.Phones[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, c.Version, 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, c.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, c.UpdatedAt)
	if c.DeletedAt != nil {
		b = append(b, `,"deleted_at":`...)
		b = appendJSONTime(b, *c.DeletedAt)
	}
	return append(b, '}')
}

func (p *Phone) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, p.ID, 10)
	b = append(b, `,"label":`...)
	b = AppendJSONString(b, p.Label)
	b = append(b, `,"raw":`...)
	b = AppendJSONString(b, p.Raw)
	b = append(b, `,"e164":`...)
	b = AppendJSONString(b, p.E164)
	if p.Extension != "" {
		b = append(b, `,"extension":`...)
		b = AppendJSONString(b, p.Extension)
	}
	if p.Invalid {
		b = append(b, `,"invalid":true`...)
	}
	return append(b, '}')
}

func (h *HistoryItem) appendJSON(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = AppendJSONString(b, h.Kind)
	b = append(b, `,"id":`...)
	b = AppendJSONString(b, h.ID)
	b = append(b, `,"at":`...)
	b = appendJSONTime(b, h.At)
	b = append(b, `,"title":`...)
	b = AppendJSONString(b, h.Title)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, h.Status)
	b = append(b, `,"body":`...)
	b = AppendJSONString(b, h.Body)
	if h.Author != "" {
		b = append(b, `,"author":`...)
		b = AppendJSONString(b, h.Author)
	}
	return append(b, '}')
}

func (c *Case) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, `,"customer_id":`...)
	b = strconv.AppendInt(b, c.CustomerID, 10)
	if c.CallID != "" {
		b = append(b, `,"call_id":`...)
		b = AppendJSONString(b, c.CallID)
	}
	b = append(b, `,"subject":`...)
	b = AppendJSONString(b, c.Subject)
	b = append(b, `,"description":`...)
	b = AppendJSONString(b, c.Description)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, c.Status)
	b = append(b, `,"priority":`...)
	b = AppendJSONString(b, c.Priority)
	if c.OwnerID != 0 {
		b = append(b, `,"owner_id":`...)
		b = strconv.AppendInt(b, c.OwnerID, 10)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, c.Version, 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, c.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, c.UpdatedAt)
	if c.ClosedAt != nil {
		b = append(b, `,"closed_at":`...)
		b = appendJSONTime(b, *c.ClosedAt)
	}
	return append(b, '}')
}
