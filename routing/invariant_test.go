package routing_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// checkConsistency reads a site's keys directly (see README.md for the key
// model) and returns every broken invariant between agents, calls and the
// indexes: an available agent is in the available set of each of its
// queues and no other agent is; every reservation is held on both sides;
// every waiting call is waiting and every waiting entry is a waiting call.
func checkConsistency(t testing.TB, rdb redis.UniversalClient, site string) []string {
	t.Helper()
	ctx := context.Background()
	p := "rd:{" + site + "}:"
	var bad []string
	errf := func(f string, a ...any) { bad = append(bad, fmt.Sprintf(f, a...)) }

	agents, err := rdb.SMembers(ctx, p+"agents").Result()
	must(t, err)
	for _, id := range agents {
		a, err := rdb.HGetAll(ctx, p+"a:"+id).Result()
		must(t, err)
		state := a["state"]
		if state == "" {
			state = "logged-out"
		}
		qs, err := rdb.HKeys(ctx, p+"a:"+id+":q").Result()
		must(t, err)
		for _, q := range qs {
			_, zerr := rdb.ZScore(ctx, p+"q:"+q+":avail", id).Result()
			if in := zerr == nil; in != (state == "available") {
				errf("agent %s (%s) in available set of %s: %v", id, state, q, in)
			}
			in, err := rdb.SIsMember(ctx, p+"q:"+q+":in", id).Result()
			must(t, err)
			if in != (state != "logged-out") {
				errf("agent %s (%s) in logged-in set of %s: %v", id, state, q, in)
			}
		}
		switch state {
		case "ringing", "on-call":
			c, err := rdb.HGetAll(ctx, p+"c:"+a["call"]).Result()
			must(t, err)
			if c["agent"] != id || c["state"] != state {
				errf("agent %s %s for call %s, but call is %s with agent %q", id, state, a["call"], c["state"], c["agent"])
			}
		case "available", "away", "logged-out":
			if a["call"] != "" {
				errf("agent %s %s still holds call %s", id, state, a["call"])
			}
		}
	}
	queues, err := rdb.SMembers(ctx, p+"queues").Result()
	must(t, err)
	for _, q := range queues {
		waiting, err := rdb.ZRange(ctx, p+"q:"+q+":wait", 0, -1).Result()
		must(t, err)
		for _, id := range waiting {
			c, err := rdb.HGetAll(ctx, p+"c:"+id).Result()
			must(t, err)
			if c["state"] != "waiting" || !strings.Contains(","+c["queues"]+",", ","+q+",") {
				errf("call %s in waiting set of %s but is %q in %q", id, q, c["state"], c["queues"])
			}
		}
		avail, err := rdb.ZRange(ctx, p+"q:"+q+":avail", 0, -1).Result()
		must(t, err)
		for _, id := range avail {
			if s, _ := rdb.HGet(ctx, p+"a:"+id, "state").Result(); s != "available" {
				errf("agent %s in available set of %s but is %q", id, q, s)
			}
		}
	}
	ringing, err := rdb.ZRange(ctx, p+"ring", 0, -1).Result()
	must(t, err)
	for _, id := range ringing {
		c, err := rdb.HGetAll(ctx, p+"c:"+id).Result()
		must(t, err)
		if c["state"] != "ringing" {
			errf("call %s has a ring timer but is %q", id, c["state"])
			continue
		}
		if s, _ := rdb.HGet(ctx, p+"a:"+c["agent"], "call").Result(); s != id {
			errf("call %s rings at %s, whose call is %q", id, c["agent"], s)
		}
	}
	return bad
}

func mustConsistent(t testing.TB, rdb redis.UniversalClient, site string) {
	t.Helper()
	if bad := checkConsistency(t, rdb, site); len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("… and %d more", len(bad)-20))
		}
		t.Fatalf("inconsistent state:\n%s", strings.Join(bad, "\n"))
	}
}
