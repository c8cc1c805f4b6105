package routing

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
)

// Registrations keeps SIP phone bindings in Redis: one hash per AOR
// (contact → binding JSON), expiring with its longest-lived binding, so any
// node can find any phone. Expired entries are skipped on read and pruned.
type Registrations struct {
	rdb  redis.UniversalClient
	site string
	now  func() time.Time
}

var _ ringdesk.Registrations = (*Registrations)(nil)

// NewRegistrations returns the bindings store of a site.
func NewRegistrations(rdb redis.UniversalClient, site string) *Registrations {
	return &Registrations{rdb: rdb, site: site, now: time.Now}
}

func (r *Registrations) key(aor string) string { return "rd:{" + r.site + "}:reg:" + aor }

// putBinding stores the binding and extends the hash's TTL to cover it;
// one script so the TTL never shrinks under a concurrent refresh.
var putBinding = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`)

// PutBinding adds or refreshes a binding.
func (r *Registrations) PutBinding(ctx context.Context, b ringdesk.Binding) error {
	ttl := b.Expires.Sub(r.now())
	if ttl <= 0 {
		return r.RemoveBinding(ctx, b.AOR, b.Contact)
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("put binding: %w", err)
	}
	if err := putBinding.Run(ctx, r.rdb, []string{r.key(b.AOR)}, b.Contact, data, ttl.Milliseconds()+1000).Err(); err != nil {
		return redisError("put binding", err)
	}
	return nil
}

// RemoveBinding removes one contact of an AOR.
func (r *Registrations) RemoveBinding(ctx context.Context, aor, contact string) error {
	if err := r.rdb.HDel(ctx, r.key(aor), contact).Err(); err != nil {
		return redisError("remove binding", err)
	}
	return nil
}

// RemoveBindings removes every contact of an AOR.
func (r *Registrations) RemoveBindings(ctx context.Context, aor string) error {
	if err := r.rdb.Del(ctx, r.key(aor)).Err(); err != nil {
		return redisError("remove bindings", err)
	}
	return nil
}

// Bindings returns the unexpired bindings of an AOR, latest expiry first.
func (r *Registrations) Bindings(ctx context.Context, aor string) ([]ringdesk.Binding, error) {
	all, err := r.rdb.HGetAll(ctx, r.key(aor)).Result()
	if err != nil {
		return nil, redisError("bindings", err)
	}
	now := r.now()
	out := make([]ringdesk.Binding, 0, len(all))
	var stale []string
	for contact, data := range all {
		var b ringdesk.Binding
		if err := json.Unmarshal([]byte(data), &b); err != nil || !b.Expires.After(now) {
			stale = append(stale, contact)
			continue
		}
		out = append(out, b)
	}
	if len(stale) > 0 {
		// Best effort: a failed prune is retried on the next read.
		r.rdb.HDel(ctx, r.key(aor), stale...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.After(out[j].Expires) })
	return out, nil
}

// SharedSecret returns a random 32-byte secret named name, shared by every
// node of the site and created on first use (SET NX, so concurrent first
// uses agree). It signs things any node must check: SIP digest nonces,
// desk tokens.
func SharedSecret(ctx context.Context, rdb redis.UniversalClient, site, name string) ([]byte, error) {
	key := "rd:{" + site + "}:secret:" + name
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("shared secret: %w", err)
	}
	if err := rdb.SetNX(ctx, key, b, 0).Err(); err != nil {
		return nil, redisError("shared secret", err)
	}
	got, err := rdb.Get(ctx, key).Bytes()
	if err != nil {
		return nil, redisError("shared secret", err)
	}
	return got, nil
}

// redisError marks connection failures as EUNAVAILABLE.
func redisError(op string, err error) error {
	return fmt.Errorf("%s: %w", op, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "Redis: %v", err))
}
