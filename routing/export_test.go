package routing

// Crash stops the node's loops without deregistering it, as if the process
// had died: the others notice only when its heartbeat expires.
func (r *Router) Crash() { r.stop() }
