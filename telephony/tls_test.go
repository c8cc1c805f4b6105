package telephony_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool
// trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ringdesk test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS(t *testing.T) {
	srv := startServer(t, nil, slog.LevelInfo)
	if err := srv.ListenTLS(context.Background(), "127.0.0.1:0", &tls.Config{}); err == nil {
		t.Fatal("ListenTLS without a certificate succeeded")
	}
	cert, pool := selfSigned(t)
	if err := srv.ListenTLS(context.Background(), "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	dial := func(t *testing.T) *tcpPeer {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: deadline}, "tcp", srv.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &tcpPeer{t: t, conn: c, r: bufio.NewReader(c)}
	}
	t.Run("options", func(t *testing.T) {
		p := dial(t)
		if _, err := p.conn.Write(options("TLS", 1)); err != nil {
			t.Fatal(err)
		}
		if r := p.recv(deadline); statusOf(r) != 200 {
			t.Fatalf("got %q", firstLine(r))
		}
	})
	t.Run("malformed answered, connection kept", func(t *testing.T) {
		p := dial(t)
		bad := bytes.Replace(options("TLS", 2), []byte("CSeq: 7002 OPTIONS"), []byte("CSeq: 7002 INVITE"), 1)
		r := p.exchange(bad, 3, true)
		if len(r) != 1 || statusOf(r[0]) != 400 {
			t.Fatalf("replies %q", r)
		}
	})
	t.Run("plain text on the TLS port", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", srv.TLSAddr().String(), deadline)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p := &tcpPeer{t: t, conn: c, r: bufio.NewReader(c)}
		if _, err := c.Write(options("TCP", 4)); err != nil {
			t.Fatal(err)
		}
		if r := p.recv(deadline); r != nil {
			t.Fatalf("plain SIP answered on the TLS port: %q", firstLine(r))
		}
	})
	// Still serving.
	p := dial(t)
	if _, err := p.conn.Write(options("TLS", 5)); err != nil {
		t.Fatal(err)
	}
	if r := p.recv(deadline); statusOf(r) != 200 {
		t.Fatalf("got %q", firstLine(r))
	}
}
