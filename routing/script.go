package routing

import (
	_ "embed"
	"fmt"
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
	//go:embed lua_answer.lua
	luaAnswer string
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
)

// scripts are the engine's Lua scripts, loaded once by Open and run by SHA
// (go-redis falls back to EVAL, which reloads them, after a Redis restart).
type scripts struct {
	putQueue, agent, enqueue, answer, rna, abandon, end, tick, restart *redis.Script
}

func newScripts(cfg Config) *scripts {
	pre := luaConstants(cfg)
	// The body runs as a function so that the events it emitted are written
	// once, at its end (fail writes them too).
	mk := func(body string) *redis.Script {
		return redis.NewScript(pre + luaLib + "local function main()\n" + body +
			"\nend\nlocal res = main()\nflush()\nreturn res\n")
	}
	return &scripts{
		putQueue: mk(luaPutQueue),
		agent:    mk(luaAgent),
		enqueue:  mk(luaEnqueue),
		answer:   mk(luaAnswer),
		rna:      mk(luaRNA),
		abandon:  mk(luaAbandon),
		end:      mk(luaEnd),
		tick:     mk(luaTick),
		restart:  mk(luaRestart),
	}
}

func (s *scripts) all() []*redis.Script {
	return []*redis.Script{s.putQueue, s.agent, s.enqueue, s.answer, s.rna, s.abandon, s.end, s.tick, s.restart}
}

// luaConstants renders the constants the scripts share, the agent state
// machine included, so that Go's ringdesk.AgentTransitions stays the one
// source of truth.
func luaConstants(cfg Config) string {
	var b strings.Builder
	b.WriteString("local TRANS = {\n")
	tr := ringdesk.AgentTransitions()
	froms := make([]string, 0, len(tr))
	for from := range tr {
		froms = append(froms, string(from))
	}
	sort.Strings(froms)
	for _, from := range froms {
		tos := make([]string, 0)
		for to, ok := range tr[ringdesk.AgentState(from)] {
			if ok {
				tos = append(tos, fmt.Sprintf("[%q] = true", to))
			}
		}
		sort.Strings(tos)
		fmt.Fprintf(&b, "  [%q] = {%s},\n", from, strings.Join(tos, ", "))
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "local MAXEV = '%d'\nlocal MAXINBOX = '%d'\nlocal KEEPMS = '%d'\nlocal REQUIRE_DESK = %t\n",
		cfg.EventMaxLen, cfg.InboxMaxLen, cfg.KeepEnded/time.Millisecond, cfg.RequireDesk)
	return b.String()
}
