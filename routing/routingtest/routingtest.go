// Package routingtest gives tests a real Redis and a private key space on it.
//
// Tests read the server address from RINGDESK_TEST_REDIS_ADDR, which
// scripts/test.sh (and so CI) sets after starting a private redis-server.
// Without it a test is skipped under -short and fails otherwise.
package routingtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// AddrEnv names the environment variable holding the test Redis address.
const AddrEnv = "RINGDESK_TEST_REDIS_ADDR"

// MustRedis returns a client for the test Redis and a site name unique to
// this test, so that tests and packages may run in parallel on one server.
// Every key of the site ("rd:{site}:*") is deleted in tb.Cleanup.
func MustRedis(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	addr := os.Getenv(AddrEnv)
	if addr == "" {
		if testing.Short() {
			tb.Skip(AddrEnv + " is not set; skipping Redis test in -short mode")
		}
		tb.Fatal(AddrEnv + " is not set: run the tests with scripts/test.sh, which starts a private redis-server")
	}
	rdb := NewClient(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("cannot reach test redis at %s: %v", addr, err)
	}
	site := UniqueSite(tb)
	tb.Cleanup(func() {
		DeleteSite(tb, rdb, site)
		_ = rdb.Close()
	})
	return rdb, site
}

// UniqueSite returns a site name derived from the test name plus a random
// suffix. A benchmark's is short, as a real site's ("default"): every key
// carries the site, and Redis pays for key length in every command and in
// the AOF.
func UniqueSite(tb testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if _, ok := tb.(*testing.B); ok {
		return "b" + hex.EncodeToString(b)
	}
	name := strings.NewReplacer("/", "_", " ", "_", "{", "", "}", "", ":", "_", ",", "_").Replace(tb.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(b)
}

// DeleteSite deletes every key of a site.
func DeleteSite(tb testing.TB, rdb redis.UniversalClient, site string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, "rd:{"+site+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			_ = rdb.Del(ctx, keys...).Err()
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
	if err := iter.Err(); err != nil {
		tb.Logf("cleanup of site %s: %v", site, err)
	}
}

// NewClient returns a client for addr sized for tests that run many
// goroutines, as a second node's client for instance.
func NewClient(addr string) *redis.Client {
	// RESP2, as routing.OpenRedis (not imported: routing's internal tests use
	// this package).
	return redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64, Protocol: 2})
}

// Addr returns the test Redis address (empty when unset).
func Addr() string { return os.Getenv(AddrEnv) }
