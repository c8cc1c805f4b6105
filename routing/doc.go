// Package routing is Ringdesk's automatic call distributor (ACD) on Redis:
// agent states, queues and their strategies, and the atomic matching of
// waiting calls to available agents. It implements ringdesk.Router.
//
// All state lives in Redis under one hash tag per site ("rd:{site}:…"), so
// that every Lua script touches keys of one Redis Cluster slot. Every state
// change is one Lua script (loaded once, run by SHA): it checks the current
// state, changes the agent, the call and every index together, and appends
// the resulting events to the site's event stream, so many goroutines and
// many nodes can call the engine at once without ever reserving an agent or
// a call twice. Each node runs a tick (heartbeat, ring timeouts, wrap-up
// timers, overflow, dead-node recovery, tier widening) and a reader of its
// own notice stream, which carries the offers for the calls it owns.
//
// README.md in this directory describes the key model and the scripts.
package routing
