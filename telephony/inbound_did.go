package telephony

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ringdesk/ringdesk"
)

// DIDRoute is the queue a dialled number rings.
type DIDRoute struct {
	Queue   string
	QueueID int64
}

// DIDTable caches the DID → queue map so that the INVITE path never waits
// on MySQL for it. Load it with Refresh (at start) and keep it fresh with
// Run.
type DIDTable struct {
	load func(ctx context.Context) (map[string]DIDRoute, error)
	norm ringdesk.PhoneNormalizer
	log  *slog.Logger

	mu     sync.RWMutex
	routes map[string]DIDRoute
}

// NewDIDTable returns a table filled by load, whose keys are dialled
// numbers as stored (E.164 when they parse).
func NewDIDTable(load func(ctx context.Context) (map[string]DIDRoute, error), norm ringdesk.PhoneNormalizer, logger *slog.Logger) *DIDTable {
	return &DIDTable{load: load, norm: norm, log: logger, routes: map[string]DIDRoute{}}
}

// Refresh reloads the table; on error the old one stays.
func (t *DIDTable) Refresh(ctx context.Context) error {
	m, err := t.load(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.routes = m
	t.mu.Unlock()
	return nil
}

// Run refreshes the table every interval until ctx ends.
func (t *DIDTable) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := t.Refresh(rctx); err != nil {
				t.log.Warn("refresh dids", "error", err)
			}
			cancel()
		}
	}
}

// Resolve returns the queue of a dialled number, trying it as given and
// normalised to E.164.
func (t *DIDTable) Resolve(number string) (DIDRoute, bool) {
	if number == "" {
		return DIDRoute{}, false
	}
	t.mu.RLock()
	r, ok := t.routes[number]
	t.mu.RUnlock()
	if ok {
		return r, true
	}
	if t.norm == nil {
		return DIDRoute{}, false
	}
	e164 := t.norm.Normalize(number).E164
	if e164 == "" {
		return DIDRoute{}, false
	}
	t.mu.RLock()
	r, ok = t.routes[e164]
	t.mu.RUnlock()
	return r, ok
}
