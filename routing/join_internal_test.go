package routing

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// TestOneEngineVersionPerSite: a node does not join a site while a live
// node runs another engine version; nodes of the same version do, and
// once the other version's node has left (or died), the new one does.
func TestOneEngineVersionPerSite(t *testing.T) {
	rdb, site := routingtest.MustRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(node, version string) (*Router, error) {
		r, err := NewRouter(rdb, Config{Site: site, Node: node, HeartbeatTTL: time.Second, version: version})
		if err != nil {
			t.Fatal(err)
		}
		return r, r.Open(ctx)
	}
	a, err := open("a", "v1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := open("b", "v1")
	if err != nil {
		t.Fatalf("a node of the same version: %v", err)
	}
	if _, err := open("c", "v2"); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT ||
		!strings.Contains(err.Error(), "runs routing engine v1") {
		t.Fatalf("a node of another version joined beside live ones: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.stop() // dies: its heartbeat runs out
	time.Sleep(1100 * time.Millisecond)
	c, err := open("c", "v2")
	if err != nil {
		t.Fatalf("the new version after the old nodes left: %v", err)
	}
	defer c.Close()
	if _, err := open("a", "v1"); ringdesk.ErrorCode(err) != ringdesk.ECONFLICT {
		t.Fatalf("an old node came back beside the new one: %v", err)
	}
}

// TestEngineVersionNamesTheScripts: the version is 12 hex digits, the
// same each time for a build.
func TestEngineVersionNamesTheScripts(t *testing.T) {
	v := engineVersion()
	if len(v) != 12 || strings.Trim(v, "0123456789abcdef") != "" || engineVersion() != v {
		t.Fatalf("engine version %q: want the same 12 hex digits each time", v)
	}
}

// TestEngineVersionCoversTheDeskBus: every script the desk bus runs (it
// shares keys with the engine's) is among those the version hashes, so a
// change to one makes a new engine version.
func TestEngineVersionCoversTheDeskBus(t *testing.T) {
	covered := map[string]bool{}
	for _, src := range engineSources() {
		covered[redis.NewScript(src).Hash()] = true
	}
	b := NewDeskBus(nil, "x")
	scripts := map[string]*redis.Script{"presenceSet": b.presenceSet, "publish": b.publish, "connected": b.connected,
		"setPop": b.setPop, "setProgress": b.setProgress, "clearCurrent": b.clearCurrent}
	for name, s := range scripts {
		if !covered[s.Hash()] {
			t.Errorf("desk bus script %s is not in engineSources: the engine version does not cover it", name)
		}
	}
	// A script added to the bus must be added above too.
	typ, n := reflect.TypeOf(b).Elem(), 0
	for i := range typ.NumField() {
		if typ.Field(i).Type == reflect.TypeOf((*redis.Script)(nil)) {
			n++
		}
	}
	if n != len(scripts) {
		t.Fatalf("the desk bus has %d scripts, this test checks %d", n, len(scripts))
	}
}
