//go:build !unix

package telephony

import "net"

// setReadBuffer asks for cfg.UDPReadBuffer; the granted size is not
// observable here.
func (s *Server) setReadBuffer(c *net.UDPConn) {
	if err := c.SetReadBuffer(s.cfg.UDPReadBuffer); err != nil {
		s.log.Warn("set udp receive buffer", "error", err, "want", s.cfg.UDPReadBuffer)
	}
}
