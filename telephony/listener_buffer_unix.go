//go:build unix

package telephony

import (
	"net"
	"syscall"
)

// setReadBuffer asks for cfg.UDPReadBuffer and logs what the kernel gave:
// Linux caps SO_RCVBUF at net.core.rmem_max (about 208 KiB by default) and
// reports twice the granted size.
func (s *Server) setReadBuffer(c *net.UDPConn) {
	want := s.cfg.UDPReadBuffer
	if err := c.SetReadBuffer(want); err != nil {
		s.log.Warn("set udp receive buffer", "error", err, "want", want)
		return
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	got := 0
	_ = raw.Control(func(fd uintptr) {
		got, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if err != nil {
		return
	}
	if got < want {
		s.log.Warn("udp receive buffer capped by the kernel; raise net.core.rmem_max",
			"want", want, "got", got)
		return
	}
	s.log.Debug("udp receive buffer", "want", want, "got", got)
}
