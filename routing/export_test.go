package routing

// Crash stops the node's loops without deregistering it, as if the process
// had died: the others notice only when its heartbeat expires.
func (r *Router) Crash() { r.stop() }

// CurrentKey is the key of the agent's current call on the desk bus.
func (b *DeskBus) CurrentKey(agentID string) string { return b.currentKey(agentID) }
