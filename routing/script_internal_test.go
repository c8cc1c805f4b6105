package routing

import (
	"strings"
	"testing"

	"github.com/ringdesk/ringdesk"
)

func TestLuaIdents(t *testing.T) {
	ids := luaIdents("local x = a.b .. c:d('e f') -- g h\nreturn k .. \"l\\\"m\" .. n\n")
	for _, want := range []string{"local", "x", "a", "c", "return", "k", "n"} {
		if !ids[want] {
			t.Errorf("luaIdents: %q missing from %v", want, ids)
		}
	}
	for _, not := range []string{"b", "d", "e", "f", "g", "h", "l", "m"} {
		if ids[not] {
			t.Errorf("luaIdents: %q (field, string or comment) in %v", not, ids)
		}
	}
}

func TestPreludeKeepsWhatIsUsed(t *testing.T) {
	lib := parseLua(`local A = 1
-- b uses A
local function b() return A end
local c -- declared here
local function d() return 'b' end
c = function() return b() end
local E, F = {}, {}
local function g() return F end
`)
	got := lib.prelude("return c()")
	for _, want := range []string{"local A = 1", "-- b uses A", "local function b()", "local c -- declared here", "c = function()"} {
		if !strings.Contains(got, want) {
			t.Errorf("prelude lacks %q:\n%s", want, got)
		}
	}
	for _, not := range []string{"function d", "local E, F", "function g"} {
		if strings.Contains(got, not) {
			t.Errorf("prelude has unused %q:\n%s", not, got)
		}
	}
	if got := lib.prelude("return g()"); !strings.Contains(got, "local E, F") || strings.Contains(got, "local A") {
		t.Errorf("prelude for g:\n%s", got)
	}
}

// Every script must still carry what its body and the wrapper use: a
// missing definition would only show as a nil call at run time.
func TestScriptsCarryTheirDefinitions(t *testing.T) {
	lib := parseLua(luaConstants(Config{}) + luaLib)
	defined := map[string]bool{}
	for _, c := range lib {
		for _, d := range c.defines {
			defined[d] = true
		}
	}
	for name, body := range map[string]string{"putqueue": luaPutQueue, "agent": luaAgent, "enqueue": luaEnqueue,
		"rna": luaRNA, "abandon": luaAbandon, "end": luaEnd, "tick": luaTick, "restart": luaRestart} {
		body = "local function main()\n" + body + "\nend\nlocal res = main()\nflush()\nreturn res\n"
		src := lib.prelude(body) + body
		have := map[string]bool{}
		for _, c := range parseLua(src) {
			for _, d := range c.defines {
				have[d] = true
			}
		}
		// A function assigned to a forward-declared local needs the
		// declaration too, or it would assign a global (an error in Redis).
		for _, c := range lib {
			for _, d := range c.defines {
				if strings.Contains(c.text, "\n"+d+" = function") || strings.HasPrefix(c.text, d+" = function") {
					if strings.Contains(src, d+" = function") && !strings.Contains(src, "\nlocal "+d+" ") && !strings.Contains(src, "\nlocal "+d+"\n") {
						t.Errorf("script %s assigns %s without its local declaration", name, d)
					}
				}
			}
		}
		for id := range luaIdents(src) {
			if defined[id] && !have[id] {
				t.Errorf("script %s uses %s but does not define it", name, id)
			}
		}
	}
}

// The batch script defines every library name it uses, and its code
// outside lib() (the definitions of every run, the fast paths, the batch
// loop) uses none of the names defined only inside lib(): in Redis that
// would read an undefined global and fail at run time.
func TestBatchScriptCarriesItsDefinitions(t *testing.T) {
	pre := luaConstants(Config{})
	defined := map[string]bool{}
	for _, c := range parseLua(pre + luaLib) {
		for _, d := range c.defines {
			defined[d] = true
		}
	}
	_, lazySrc, _ := strings.Cut(luaLib, lazyMark)
	lazy := map[string]bool{}
	for _, c := range parseLua(lazySrc) {
		for _, d := range c.defines {
			lazy[d] = true
		}
	}
	for _, fast := range []bool{true, false} {
		src := batchScript(pre, fast)
		have := map[string]bool{}
		for _, c := range parseLua(src) {
			for _, d := range c.defines {
				have[d] = true
			}
		}
		for id := range luaIdents(src) {
			if defined[id] && !have[id] {
				t.Errorf("batch script (fast %t) uses %s but does not define it", fast, id)
			}
		}
		before, rest, ok := strings.Cut(src, "local function lib()\n")
		_, after, ok2 := strings.Cut(rest, "return LIB\nend\n")
		if !ok || !ok2 {
			t.Fatalf("batch script (fast %t) has no lib()", fast)
		}
		for id := range luaIdents(before + after) {
			if lazy[id] {
				t.Errorf("batch script (fast %t) uses %s, defined only inside lib(), outside it", fast, id)
			}
		}
	}
}

// TestFastMoves: the fast paths move agents without asking the state
// machine, so building the batch script checks that it allows each move.
func TestFastMoves(t *testing.T) {
	if err := checkFastMoves(ringdesk.AgentTransitions()); err != nil {
		t.Fatal(err)
	}
	for _, m := range fastMoves {
		tr := ringdesk.AgentTransitions()
		delete(tr[m[0]], m[1])
		if err := checkFastMoves(tr); err == nil || !strings.Contains(err.Error(), string(m[0])+" to "+string(m[1])) {
			t.Errorf("without %s -> %s: %v", m[0], m[1], err)
		}
	}
}
