package telephony

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// flakyListener fails Accept a few times with a transient error.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, errors.New("accept4: too many open files")
	}
	return l.Listener.Accept()
}

// flakyPacketConn fails ReadFrom a few times with a transient error.
type flakyPacketConn struct {
	net.PacketConn
	fails atomic.Int32
}

func (c *flakyPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.fails.Add(-1) >= 0 {
		return 0, nil, errors.New("recvfrom: no buffer space available")
	}
	return c.PacketConn.ReadFrom(p)
}

func TestTransientErrorsDoNotDeafen(t *testing.T) {
	s, err := NewServer(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(3)
	framed := &framedListener{Listener: fl, s: s, transport: "tcp"}
	go func() {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := framed.Accept()
	if err != nil {
		t.Fatalf("Accept after transient errors: %v", err)
	}
	c.Close()
	ln.Close()
	if _, err := framed.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fp := &flakyPacketConn{PacketConn: pc}
	fp.fails.Store(3)
	steady := &steadyPacketConn{PacketConn: fp, s: s}
	if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if n, _, err := steady.ReadFrom(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("ReadFrom after transient errors: %q, %v", buf[:n], err)
	}
	pc.Close()
	if _, _, err := steady.ReadFrom(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom on a closed socket: %v", err)
	}
}
