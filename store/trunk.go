package store

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ringdesk/ringdesk"
)

// FindTrunks returns the enabled trunks. source_cidr holds one or more
// comma-separated addresses or CIDRs; a row that does not parse is an
// EINVALID naming the trunk, so a typo stops start-up instead of silently
// refusing a carrier.
func (db *DB) FindTrunks(ctx context.Context) ([]ringdesk.Trunk, error) {
	var rows []struct {
		Name     string `db:"name"`
		Sources  string `db:"source_cidr"`
		Username string `db:"username"`
		HA1      string `db:"ha1"`
		TrustPAI bool   `db:"trust_pai"`
	}
	err := db.db.SelectContext(ctx, &rows, `SELECT name, source_cidr, username, ha1, trust_pai
		FROM trunks WHERE enabled ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find trunks: %w", err)
	}
	trunks := make([]ringdesk.Trunk, 0, len(rows))
	for _, r := range rows {
		t := ringdesk.Trunk{Name: r.Name, Username: r.Username, HA1: r.HA1, TrustPAI: r.TrustPAI}
		for _, s := range strings.Split(r.Sources, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, ringdesk.Errorf(ringdesk.EINVALID, "Trunk %q: source %q is not an address or CIDR.", r.Name, s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			t.Sources = append(t.Sources, p.Masked())
		}
		if len(t.Sources) == 0 {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "Trunk %q has no source address.", r.Name)
		}
		trunks = append(trunks, t)
	}
	return trunks, nil
}
