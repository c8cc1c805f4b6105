package routing

import (
	"context"
	"syscall"
	"testing"

	"github.com/ringdesk/ringdesk/routing/routingtest"
)

// TestDialRedisHidesTheDescriptor: go-redis peeks at every pooled
// connection whose descriptor it can reach, with a system call before each
// command; OpenRedis's connections do not offer it one.
func TestDialRedisHidesTheDescriptor(t *testing.T) {
	c, err := dialRedis(context.Background(), "tcp", routingtest.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(syscall.Conn); ok {
		t.Fatal("the connection is a syscall.Conn: go-redis would check it before every command")
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("PING answered %q, %v", buf[:n], err)
	}
}
