package routing

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
)

var (
	//go:embed lua_lib.lua
	luaLib string
	//go:embed lua_putqueue.lua
	luaPutQueue string
	//go:embed lua_agent.lua
	luaAgent string
	//go:embed lua_enqueue.lua
	luaEnqueue string
	//go:embed lua_fast.lua
	luaFast string
	//go:embed lua_rna.lua
	luaRNA string
	//go:embed lua_abandon.lua
	luaAbandon string
	//go:embed lua_end.lua
	luaEnd string
	//go:embed lua_tick.lua
	luaTick string
	//go:embed lua_restart.lua
	luaRestart string
	//go:embed lua_batch.lua
	luaBatch string
	//go:embed lua_join.lua
	luaJoin string
)

// engineRevision counts changes to what the scripts share with Go (reply
// and event formats) that the scripts' text does not show; bump it with
// such a change.
const engineRevision = 1

// engineVersion names this build's routing engine: its scripts and
// engineRevision. Open refuses to join a site where a live node runs
// another one (see lua_join.lua).
func engineVersion() string {
	h := sha256.New()
	fmt.Fprintf(h, "revision %d\n", engineRevision)
	for _, src := range engineSources() {
		fmt.Fprintf(h, "%d\n%s", len(src), src)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// engineSources are the Lua scripts engineVersion covers: the engine's and
// the desk bus's, which share keys with them.
func engineSources() []string {
	return append([]string{luaLib, luaPutQueue, luaAgent, luaEnqueue, luaFast, luaRNA, luaAbandon, luaEnd,
		luaTick, luaRestart, luaBatch, luaJoin}, deskLuaSources()...)
}

// scripts are the engine's Lua scripts, loaded once by Open and run by SHA
// (go-redis falls back to EVAL, which reloads them, after a Redis restart).
// The operations on calls and agents run through batch (see batcher);
// the rare ones, putQueue, tick and restart, are scripts of their own.
type scripts struct {
	putQueue, batch, tick, restart, join *redis.Script
}

// batchOps are the operations of the batch script that the library runs:
// name → body. Each body becomes a function op_<name>(ARGV) built by
// lib() (answer is lua_fast.lua's alone).
var batchOps = []struct{ name, body string }{
	{"agent", luaAgent}, {"enqueue", luaEnqueue}, {"rna", luaRNA}, {"abandon", luaAbandon}, {"end", luaEnd},
}

// lazyMark divides lua_lib.lua: the batch script defines what is above it
// on every run and what is below it only inside lib(), built the first
// time a run needs it.
const lazyMark = "-- @lazy\n"

func newScripts(cfg Config) *scripts {
	pre := luaConstants(cfg)
	lib := parseLua(pre + luaLib)
	// A script of its own runs its body as a function, so that the events
	// it emitted are written once, at its end, even when it fails.
	mk := func(body string) *redis.Script {
		body = "local function main()\n" + body +
			"\nend\nlocal ok, res = pcall(main)\nflush()\nif not ok then error(res, 0) end\nreturn res\n"
		return redis.NewScript(lib.prelude(body) + body)
	}
	return &scripts{
		putQueue: mk(luaPutQueue),
		batch:    redis.NewScript(batchScript(pre, !cfg.libraryOnly)),
		tick:     mk(luaTick),
		restart:  mk(luaRestart),
		join:     mk(luaJoin),
	}
}

// batchScript assembles the batch script: the definitions above lazyMark
// that it uses, lib() holding the ones below it with the op_<name>
// functions, then lua_fast.lua and lua_batch.lua. A run that only takes
// the fast paths never creates the library's closures: a closure costs
// every run that defines it (an empty run took 17 µs of Redis time with
// the whole library defined, 11 with only the part above the mark).
func batchScript(pre string, fast bool) string {
	hotSrc, lazySrc, ok := strings.Cut(luaLib, lazyMark)
	if !ok {
		panic("routing: lua_lib.lua has no " + strings.TrimSpace(lazyMark) + " line")
	}
	if fast {
		if err := checkFastMoves(ringdesk.AgentTransitions()); err != nil {
			panic("routing: " + err.Error())
		}
	}
	// The state machine (TRANS) is the library's alone: the fast paths'
	// moves are checked here, so a run that takes only them does not
	// build its seven tables.
	trans, pre, ok := strings.Cut(pre, "\n")
	if !ok || !strings.HasPrefix(trans, "local TRANS = ") {
		panic("routing: the constants do not start with TRANS")
	}
	lazySrc = trans + "\n" + lazySrc
	var ops, exports strings.Builder
	for _, op := range batchOps {
		fmt.Fprintf(&ops, "local function op_%s(ARGV)\n%s\nend\n", op.name, op.body)
		fmt.Fprintf(&exports, "[%q] = op_%s, ", op.name, op.name)
	}
	fmt.Fprintf(&ops, "LIB = {match_agent = match_agent, OPS = {%s}}\n", exports.String())
	lazy := parseLua(lazySrc).prelude(ops.String()) + ops.String()
	// FAST: the operations tried on their fast path first (answer and
	// dprogress have no other).
	fastOps := "local FAST = {['answer'] = fast_answer, ['enqueue'] = fast_enqueue, ['end'] = fast_end, ['agent'] = fast_agent, " +
		"['dprogress'] = fast_dprogress}\n"
	if !fast {
		fastOps = "local FAST = {['answer'] = fast_answer, ['dprogress'] = fast_dprogress}\n"
	}
	// lib and the fast paths are defined inside one function, run once per
	// run: a closure finds each local of its enclosing function it captures
	// by a linear search through every captured local, but takes that
	// function's upvalues by index, so the builder does the searches once
	// for all of them (an empty run: 104k → 94k Redis instructions).
	body := "local FAST, lib = (function()\nlocal LIB\n" +
		"-- lib builds the library once per run, when an operation needs it.\n" +
		"local function lib()\nif LIB then return LIB end\n" + lazy + "return LIB\nend\n" +
		deskProgressFn + luaFast + fastOps + "return FAST, lib\nend)()\n" + luaBatch
	return parseLua(pre+hotSrc).prelude(body) + body
}

// fastMoves are the agent state changes lua_fast.lua makes without asking
// the state machine (can): they are the common case it is written for.
var fastMoves = [][2]ringdesk.AgentState{
	{ringdesk.AgentAvailable, ringdesk.AgentRinging}, // fast_enqueue
	{ringdesk.AgentRinging, ringdesk.AgentOnCall},    // fast_answer
	{ringdesk.AgentOnCall, ringdesk.AgentWrapUp},     // fast_end
	{ringdesk.AgentOnCall, ringdesk.AgentAvailable},  // fast_end
	{ringdesk.AgentWrapUp, ringdesk.AgentAvailable},  // fast_agent
	{ringdesk.AgentAway, ringdesk.AgentAvailable},    // fast_agent
}

// checkFastMoves says which move of the fast paths the state machine tr
// does not allow: they would have to ask can() again.
func checkFastMoves(tr map[ringdesk.AgentState]map[ringdesk.AgentState]bool) error {
	for _, m := range fastMoves {
		if !tr[m[0]][m[1]] {
			return fmt.Errorf("lua_fast.lua moves agents from %s to %s, which the agent state machine does not allow", m[0], m[1])
		}
	}
	return nil
}

func (s *scripts) all() []*redis.Script {
	return []*redis.Script{s.putQueue, s.batch, s.tick, s.restart, s.join}
}

// luaConstants renders the constants the scripts share, the agent state
// machine included, so that Go's ringdesk.AgentTransitions stays the one
// source of truth.
func luaConstants(cfg Config) string {
	var b strings.Builder
	// TRANS[from][to] is true for every allowed move. It comes first:
	// batchScript moves it into the library, built only when a run needs
	// it (the fast paths' moves are checked in Go).
	tr := ringdesk.AgentTransitions()
	froms := make([]string, 0, len(tr))
	for from := range tr {
		froms = append(froms, string(from))
	}
	sort.Strings(froms)
	b.WriteString("local TRANS = {")
	for _, from := range froms {
		var tos []string
		for to, ok := range tr[ringdesk.AgentState(from)] {
			if ok {
				tos = append(tos, fmt.Sprintf("[%q] = true", string(to)))
			}
		}
		sort.Strings(tos)
		fmt.Fprintf(&b, "[%q] = {%s}, ", from, strings.Join(tos, ", "))
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "local MAXEV = '%d'\nlocal MAXINBOX = '%d'\nlocal KEEPMS = '%d'\nlocal REQUIRE_DESK = %t\n",
		cfg.EventMaxLen, cfg.InboxMaxLen, cfg.KeepEnded/time.Millisecond, cfg.RequireDesk)
	return b.String()
}

// luaChunk is one top-level definition of the prelude: the lines from a
// "local ..." (or "name = function") at column 0 up to the next one.
type luaChunk struct {
	text    string
	defines []string
	uses    map[string]bool
}

type luaLibrary []luaChunk

var (
	luaDefRE   = regexp.MustCompile(`^(?:local\s+function\s+([A-Za-z_]\w*)|local\s+([A-Za-z_][\w\s,]*?)\s*(?:=|--|$)|([A-Za-z_]\w*)\s*=\s*function\b)`)
	luaIdentRE = regexp.MustCompile(`[A-Za-z_]\w*`)
)

// parseLua splits the prelude (constants and lua_lib.lua) into its
// top-level definitions. Comments directly above a definition belong to
// it.
func parseLua(src string) luaLibrary {
	var lib luaLibrary
	var cur, pending []string // lines of the current chunk; comments waiting for the next one
	var defs []string
	end := func() {
		if len(cur) > 0 || len(defs) > 0 {
			text := strings.Join(cur, "\n") + "\n"
			lib = append(lib, luaChunk{text: text, defines: defs, uses: luaIdents(text)})
		}
		cur, defs = nil, nil
	}
	for _, line := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		if m := luaDefRE.FindStringSubmatch(line); m != nil {
			end()
			cur = pending
			pending = nil
			for _, g := range m[1:] {
				for _, n := range strings.Split(g, ",") {
					if n = strings.TrimSpace(n); n != "" {
						defs = append(defs, n)
					}
				}
			}
			cur = append(cur, line)
			continue
		}
		if strings.HasPrefix(line, "--") || line == "" {
			pending = append(pending, line)
			continue
		}
		cur = append(cur, pending...)
		pending = nil
		cur = append(cur, line)
	}
	end()
	return lib
}

// luaIdents returns the identifiers a piece of Lua code mentions, outside
// comments and string literals: a superset of the names it uses.
func luaIdents(code string) map[string]bool {
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		switch ch := code[i]; {
		case ch == '-' && i+1 < len(code) && code[i+1] == '-':
			for i < len(code) && code[i] != '\n' {
				i++
			}
			b.WriteByte('\n')
		case ch == '\'' || ch == '"':
			for i++; i < len(code) && code[i] != ch; i++ {
				if code[i] == '\\' {
					i++
				}
			}
			b.WriteString(" '' ")
		default:
			b.WriteByte(ch)
		}
	}
	ids := map[string]bool{}
	code = b.String()
	for _, m := range luaIdentRE.FindAllStringIndex(code, -1) {
		if m[0] > 0 && (code[m[0]-1] == '.' || code[m[0]-1] == ':') && (m[0] < 2 || code[m[0]-2] != '.') {
			continue // a field or method name (a.b, a:b), not a variable (.. concatenates)
		}
		ids[code[m[0]:m[1]]] = true
	}
	return ids
}

// prelude returns the definitions a script body needs, directly or through
// other definitions, in their original order. Every run of a script
// creates each definition's closure or table anew, and a closure costs more
// the more locals are open above it: a script carrying only what it uses
// runs markedly cheaper than one carrying the whole library.
func (lib luaLibrary) prelude(body string) string {
	need := luaIdents(body)
	keep := make([]bool, len(lib))
	for changed := true; changed; {
		changed = false
		for i := len(lib) - 1; i >= 0; i-- {
			if keep[i] {
				continue
			}
			for _, d := range lib[i].defines {
				if need[d] {
					keep[i] = true
					changed = true
					for id := range lib[i].uses {
						need[id] = true
					}
					break
				}
			}
		}
	}
	var b strings.Builder
	for i, c := range lib {
		if keep[i] {
			b.WriteString(c.text)
		}
	}
	return b.String()
}
