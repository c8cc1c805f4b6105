package routing

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// TestFastPathsMatchLibrary runs one scenario twice, with enqueue and end
// on their fast paths (lua_fast.lua) and through the library only, and
// requires the same replies, the same keys and values, and the same events
// in the same order: the fast paths are a second copy of the library's
// behaviour for the common case, and must not drift from it.
func TestFastPathsMatchLibrary(t *testing.T) {
	for _, requireDesk := range []bool{false, true} {
		t.Run(fmt.Sprintf("requireDesk=%t", requireDesk), func(t *testing.T) {
			fast, fastLog := runFastScenario(t, false, requireDesk)
			lib, libLog := runFastScenario(t, true, requireDesk)
			if d := diffLines(libLog, fastLog); d != "" {
				t.Errorf("replies differ (library → fast):\n%s", d)
			}
			if d := diffLines(lib, fast); d != "" {
				t.Errorf("state differs (library → fast):\n%s", d)
			}
		})
	}
}

// runFastScenario drives calls through queues of every strategy the fast
// paths take (and some they hand to the library), and returns the site's
// keys and events, normalised so that two runs compare, and the replies.
func runFastScenario(t *testing.T, libraryOnly, requireDesk bool) (state, replies []string) {
	rdb, site := routingtest.MustRedis(t)
	r, err := NewRouter(rdb, Config{Site: site, Node: "n1", RequireDesk: requireDesk, libraryOnly: libraryOnly})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hour := time.Hour
	queues := []*ringdesk.Queue{
		{Name: "idle", Strategy: ringdesk.StrategyLongestIdle, RingTimeout: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a1"}, {AgentID: "a2"}, {AgentID: "a5"}}},
		{Name: "fewest", Strategy: ringdesk.StrategyFewestCalls, RingTimeout: hour, WrapUp: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a3"}, {AgentID: "a1"}}},
		{Name: "skills", Strategy: ringdesk.StrategySkills, RingTimeout: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a4", Tier: 2}, {AgentID: "a5", Tier: 1}}},
		{Name: "widen", Strategy: ringdesk.StrategySkills, RingTimeout: hour, TierWiden: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a4", Tier: 1}}},
		{Name: "rr", Strategy: ringdesk.StrategyRoundRobin, RingTimeout: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a6"}, {AgentID: "a7"}}},
		{Name: "small", Strategy: ringdesk.StrategyLongestIdle, RingTimeout: hour, MaxLen: 1,
			Members: []ringdesk.QueueMember{{AgentID: "a8"}}},
		{Name: "solo", Strategy: ringdesk.StrategyLongestIdle, RingTimeout: hour, WrapUp: hour,
			Members: []ringdesk.QueueMember{{AgentID: "a9"}}},
	}
	for _, q := range queues {
		if err := r.PutQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if requireDesk { // every agent but a2 has a desk
		for _, a := range []string{"a1", "a3", "a4", "a5", "a6", "a7", "a8", "a9"} {
			rdb.ZAdd(ctx, "rd:{"+site+"}:desk:presence:"+a, redis.Z{Score: 1e13, Member: "n1"})
		}
	}
	var log []string
	// Each operation in a millisecond of its own: longest-idle order comes
	// from idle times in ms (ties go by agent id), so two runs agree only
	// if no two agents ever free up in the same millisecond.
	note := func(what string, v any, err error) {
		log = append(log, fmt.Sprintf("%s: %+v %v", what, v, err))
		time.Sleep(2 * time.Millisecond)
	}
	enq := func(id string, prio int, qs ...string) string {
		p, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: qs, Priority: prio, CallerE164: "+15550100"})
		note("enqueue "+id, p, err)
		if p == nil {
			return ""
		}
		return p.AgentID
	}
	answerEnd := func(id, agent string) {
		note("answer "+id, nil, r.Answer(ctx, id, agent))
		note("end "+id, nil, r.End(ctx, id))
	}
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"} {
		note("login "+a, nil, r.Login(ctx, a, true))
	}
	// Offered at once, answered, ended: the agent is available again.
	for i, q := range []string{"idle", "idle", "skills", "fewest", "rr", "widen", "small"} {
		id := fmt.Sprintf("c%d", i)
		if agent := enq(id, i%3, q); agent != "" {
			answerEnd(id, agent)
		}
	}
	// Several queues; a call that waits; an agent freed by an end takes it.
	x := enq("x1", 0, "idle", "skills")
	y := enq("y1", 0, "idle")
	z := enq("z1", 0, "idle")
	enq("w1", 5, "idle") // waits: nobody is left
	answerEnd("x1", x)   // the freed agent takes w1 (via match_agent)
	answerEnd("y1", y)
	answerEnd("z1", z)
	c, err := r.FindCall(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	note("find w1", []any{c.Status, c.Queue, c.AgentID, c.Offers}, nil)
	if c.AgentID != "" {
		answerEnd("w1", c.AgentID)
	}
	// Conflicts and errors go through the same checks.
	enq("c0", 0, "idle")   // exists
	enq("nq", 0, "nosuch") // unknown queue
	note("end unknown", nil, r.End(ctx, "nosuch"))
	enq("r1", 0, "idle")
	note("end ringing", nil, r.End(ctx, "r1"))
	note("abandon r1", nil, r.Abandon(ctx, "r1"))
	// Wrap-up: the fewest-calls queue has one; the agent ends it.
	f := enq("f1", 0, "fewest")
	answerEnd("f1", f)
	note("endwrap "+f, nil, r.EndWrapUp(ctx, f))
	// Ending wrap-up and going ready, with and without a call waiting.
	answerEnd("s1", enq("s1", 0, "solo")) // a9 to wrap-up
	enq("s2", 0, "solo")                  // waits for a9
	note("endwrap a9", nil, r.EndWrapUp(ctx, "a9"))
	answerEnd("s2", "a9")
	note("ready a9 (wrap-up)", nil, r.SetReady(ctx, "a9"))
	note("endwrap a9 again", nil, r.EndWrapUp(ctx, "a9"))
	note("away a9", nil, r.SetAway(ctx, "a9", "break"))
	enq("s3", 0, "solo")
	note("ready a9 (away)", nil, r.SetReady(ctx, "a9"))
	answerEnd("s3", "a9")
	note("away a9 in wrap-up", nil, r.SetAway(ctx, "a9", "lunch"))
	note("ready a9 (away, nothing waiting)", nil, r.SetReady(ctx, "a9"))
	note("ready a9 (available)", nil, r.SetReady(ctx, "a9"))
	// Every agent's desk holds a call; the agents freed from here on (by
	// fast_end, fast_agent or the library) forget theirs, the others keep it.
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"} {
		rdb.HSet(ctx, "rd:{"+site+"}:desk:current:"+a, "call", "old")
	}
	answerEnd("k1", enq("k1", 0, "idle"))
	answerEnd("k2", enq("k2", 0, "solo")) // a9 to wrap-up: keeps it
	enq("k3", 0, "rr")
	note("endwrap a9 (forgets)", nil, r.EndWrapUp(ctx, "a9"))
	return dumpSite(t, rdb, site), log
}

var (
	digitsRE = regexp.MustCompile(`\d{10,}`)
	streamRE = regexp.MustCompile(`\d+-\d+`)
	timedRE  = regexp.MustCompile(`"(wait_ms|talk_ms)","\d+"`)
)

// dumpSite lists every key of a site with its content, one line per field,
// member or event, with times (and what depends on them) replaced.
func dumpSite(t *testing.T, rdb redis.UniversalClient, site string) []string {
	ctx := context.Background()
	prefix := "rd:{" + site + "}:"
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string {
		s = timedRE.ReplaceAllString(s, `"$1","D"`)
		return digitsRE.ReplaceAllString(s, "T")
	}
	var out []string
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		if strings.HasPrefix(name, "nodes") {
			continue
		}
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				if f == "aht" || f == "since" || f == "idle" {
					v = "D"
				}
				out = append(out, norm(fmt.Sprintf("%s %s=%s", name, f, v)))
			}
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				out = append(out, norm(fmt.Sprintf("%s %v %.0f", name, z.Member, z.Score)))
			}
		case "set":
			for _, m := range rdb.SMembers(ctx, k).Val() {
				out = append(out, fmt.Sprintf("%s %s", name, m))
			}
		case "stream":
			for i, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				out = append(out, norm(streamRE.ReplaceAllString(fmt.Sprintf("%s #%03d %v", name, i, m.Values["e"]), "ID")))
			}
		default:
			out = append(out, name+" "+typ)
		}
	}
	slices.Sort(out)
	return out
}

// diffLines lists the lines only in a (-) and only in b (+).
func diffLines(a, b []string) string {
	count := map[string]int{}
	for _, l := range a {
		count[l]++
	}
	for _, l := range b {
		count[l]--
	}
	var d []string
	for l, n := range count {
		switch {
		case n > 0:
			d = append(d, "- "+l)
		case n < 0:
			d = append(d, "+ "+l)
		}
	}
	slices.Sort(d)
	return strings.Join(d, "\n")
}

// The common case never builds the library: that is the fast paths' whole
// point, and a condition that sent them to the library every time would
// still pass TestFastPathsMatchLibrary. The batch script is run with a
// line that counts lib() builds (the only difference).
func TestFastPathsSkipTheLibrary(t *testing.T) {
	rdb, site := routingtest.MustRedis(t)
	r, err := NewRouter(rdb, Config{Site: site, Node: "n1", RequireDesk: true})
	if err != nil {
		t.Fatal(err)
	}
	const build = "local function lib()\nif LIB then return LIB end\n"
	src := batchScript(luaConstants(r.cfg), true)
	if !strings.Contains(src, build) {
		t.Fatal("batch script has no lib() to count")
	}
	r.s.batch = redis.NewScript(strings.Replace(src, build, build+"redis.call('INCR', P .. 'libbuilt')\n", 1))
	ctx := context.Background()
	built := func() int {
		n, _ := rdb.Get(ctx, "rd:{"+site+"}:libbuilt").Int()
		return n
	}
	if err := r.PutQueue(ctx, &ringdesk.Queue{Name: "q", RingTimeout: time.Hour, WrapUp: time.Hour,
		Members: []ringdesk.QueueMember{{AgentID: "a1"}}}); err != nil {
		t.Fatal(err)
	}
	rdb.ZAdd(ctx, "rd:{"+site+"}:desk:presence:a1", redis.Z{Score: 1e13, Member: "n1"})
	if err := r.Login(ctx, "a1", true); err != nil { // op_agent: builds it
		t.Fatal(err)
	}
	if built() != 1 {
		t.Fatalf("login built the library %d times, want 1", built())
	}
	for i := range 3 {
		id := fmt.Sprintf("c%d", i)
		p, err := r.Enqueue(ctx, &ringdesk.WaitingCall{ID: id, Queues: []string{"q"}})
		if err != nil || p.AgentID != "a1" {
			t.Fatalf("enqueue %s: %+v %v", id, p, err)
		}
		for _, err := range []error{r.Answer(ctx, id, "a1"), r.End(ctx, id), r.EndWrapUp(ctx, "a1")} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if built() != 1 {
		t.Errorf("enqueue, answer, end and end of wrap-up built the library %d times", built()-1)
	}
}
