package routing

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
)

// WebStore keeps the web server's shared state in Redis, so that any node
// serves any logged-in user: sessions (opaque values with an expiry) and the
// counters that rate-limit logins. It satisfies web.SessionStore without
// either package knowing the other.
//
// Keys, under the site's hash tag:
//
//	rd:{site}:web:session:<id>   string, the session, expiring with it
//	rd:{site}:web:count:<key>    integer counter, expiring a window after its first hit
type WebStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewWebStore returns the web store of a site on rdb.
func NewWebStore(rdb redis.UniversalClient, site string) *WebStore {
	return &WebStore{rdb: rdb, prefix: "rd:{" + site + "}:web:"}
}

// GetSession returns the value stored under id. Returns ENOTFOUND when
// there is none (never stored, deleted or expired), EUNAVAILABLE when Redis
// cannot be reached.
func (s *WebStore) GetSession(ctx context.Context, id string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.prefix+"session:"+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ringdesk.Errorf(ringdesk.ENOTFOUND, "No such session.")
	}
	if err != nil {
		return nil, redisError("get session", err)
	}
	return b, nil
}

// PutSession stores data under id for ttl, replacing any earlier value.
func (s *WebStore) PutSession(ctx context.Context, id string, data []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return ringdesk.Errorf(ringdesk.EINVALID, "A session needs a positive lifetime.")
	}
	if err := s.rdb.Set(ctx, s.prefix+"session:"+id, data, ttl).Err(); err != nil {
		return redisError("put session", err)
	}
	return nil
}

// DeleteSession removes the session; a missing one is not an error.
func (s *WebStore) DeleteSession(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.prefix+"session:"+id).Err(); err != nil {
		return redisError("delete session", err)
	}
	return nil
}

// countScript adds one to a counter and starts its expiry on the first hit
// only: the window is fixed from the first attempt, and INCR and PEXPIRE run
// as one step, so a crash between them cannot leave a counter that never
// expires (which would lock a user out for good).
var countScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// CountAttempt adds one to the counter key and returns its new value. The
// counter disappears window after its first hit.
func (s *WebStore) CountAttempt(ctx context.Context, key string, window time.Duration) (int64, error) {
	n, err := countScript.Run(ctx, s.rdb, []string{s.prefix + "count:" + key}, window.Milliseconds()).Int64()
	if err != nil {
		return 0, redisError("count attempt", err)
	}
	return n, nil
}

// Attempts returns the counter's value, 0 when it does not exist.
func (s *WebStore) Attempts(ctx context.Context, key string) (int64, error) {
	n, err := s.rdb.Get(ctx, s.prefix+"count:"+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, redisError("attempts", err)
	}
	return n, nil
}

// ResetAttempts deletes the counter.
func (s *WebStore) ResetAttempts(ctx context.Context, key string) error {
	if err := s.rdb.Del(ctx, s.prefix+"count:"+key).Err(); err != nil {
		return redisError("reset attempts", err)
	}
	return nil
}
