package telephony

import (
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// nextHop picks where the agent leg's INVITE is sent and over which
// transport (RFC 3263 picks them from the Contact; a registrar knows
// better where the phone really is):
//   - the transport is the Contact's transport parameter, else the
//     REGISTER's, else UDP;
//   - over UDP, the address the REGISTER came from: a phone behind NAT
//     is reachable only through the mapping its REGISTER opened (RFC
//     3581 received/rport), whatever its Contact says;
//   - over TCP or TLS, the phone's own connection while this node still
//     has it (a phone behind NAT cannot accept one), else a new
//     connection to the Contact, where the phone listens.
func (in *Inbound) nextHop(b ringdesk.Binding, contact sip.Uri) (dest, transport string) {
	transport = strings.ToLower(b.Transport)
	if t, ok := contact.UriParams.Get("transport"); ok && t != "" {
		transport = strings.ToLower(t)
	}
	if contact.Scheme == "sips" && transport != "tls" {
		transport = "tls"
	}
	if transport == "" {
		transport = "udp"
	}
	port := contact.Port
	if port == 0 {
		port = int(sip.DefaultPort(transport))
	}
	atContact := net.JoinHostPort(strings.Trim(contact.Host, "[]"), strconv.Itoa(port))
	if b.Source == "" || !strings.EqualFold(b.Transport, transport) {
		return atContact, transport
	}
	if !sip.IsReliable(transport) {
		return b.Source, transport
	}
	if in.srv != nil {
		if conn, err := in.srv.UA().TransportLayer().GetConnection(transport, b.Source); err == nil && conn != nil {
			conn.TryClose() // GetConnection took a reference
			return b.Source, transport
		}
	}
	return atContact, transport
}

// agentUA is the dialog user agent of one agent leg: our Contact on the
// leg's transport, so the phone's requests come back the same way. Its
// CANCEL, ACK and in-dialog requests go to the address the phone's
// latest response came from, not to its Contact (sipgo's RewriteContact,
// like Kamailio's fix_nated_contact on replies): behind NAT the Contact
// names a private address, and the phone is reached only where it sends
// from. Requests from the phone are answered at their source port when
// their Via asks for rport (RFC 3581; sipgo does that).
func (in *Inbound) agentUA(lg *legs, transport string) *sipgo.DialogUA {
	return &sipgo.DialogUA{Client: lg.cli, ContactHDR: in.contactFor(lg, transport), RewriteContact: true}
}

// contactFor is our Contact for a transport: the UDP one, or the listen
// port of TCP or TLS with its transport parameter.
func (in *Inbound) contactFor(lg *legs, transport string) sip.ContactHeader {
	var addr net.Addr
	switch strings.ToLower(transport) {
	case "tcp":
		addr = in.srv.TCPAddr()
	case "tls":
		addr = in.srv.TLSAddr()
	}
	a, ok := addr.(*net.TCPAddr)
	if !ok || a == nil {
		return lg.contact
	}
	uri := sip.Uri{Scheme: "sip", User: "ringdesk", Host: lg.host, Port: a.Port, UriParams: sip.NewParams()}
	uri.UriParams.Add("transport", strings.ToLower(transport))
	return sip.ContactHeader{Address: uri}
}
