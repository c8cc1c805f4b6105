// Package ringdesk holds the domain types of the Ringdesk call-center CRM and
// the small interfaces its parts use to reach each other.
//
// It imports the standard library only. Each subpackage is an adapter for one
// technology (store: MySQL, routing: Redis, telephony: SIP, agentdesk:
// WebSocket, web: HTTP) and speaks these types; cmd/ringdesk wires them.
package ringdesk
