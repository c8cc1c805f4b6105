package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// registerPhones registers agents (SIP user, password) with digest
// authentication from 127.0.0.1:port, where their sipp phone then answers:
// the binding's source and Contact are that port. sipp cannot take a
// different digest password per call from an injection file, hence this.
func registerPhones(ctx context.Context, port int, server string, agents [][]string) error {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return err
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return err
	}
	for _, a := range agents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := registerOne(conn, dst, port, a[0], a[1]); err != nil {
			return fmt.Errorf("register %s: %w", a[0], err)
		}
	}
	return nil
}

func registerOne(conn *net.UDPConn, dst *net.UDPAddr, port int, user, pass string) error {
	callID, tag := randHex(8)+"@127.0.0.1", randHex(4)
	uri := "sip:" + dst.String()
	msg := func(cseq int, auth string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\n", uri)
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n", port, randHex(6))
		b.WriteString("Max-Forwards: 70\r\n")
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", user, dst, tag)
		fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", user, dst)
		fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", callID, cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@127.0.0.1:%d>\r\nExpires: 3600\r\nUser-Agent: ringdesk-bench\r\n", user, port)
		if auth != "" {
			fmt.Fprintf(&b, "Authorization: %s\r\n", auth)
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return []byte(b.String())
	}
	code, hdrs, err := exchange(conn, dst, msg(1, ""), 1)
	if err != nil {
		return err
	}
	if code != 401 {
		return fmt.Errorf("first REGISTER answered %d, want 401", code)
	}
	chal, err := digest.ParseChallenge(hdrs["www-authenticate"])
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: uri, Username: user, Password: pass, Count: 1, Cnonce: randHex(8)})
	if err != nil {
		return err
	}
	code, _, err = exchange(conn, dst, msg(2, cred.String()), 2)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("authenticated REGISTER answered %d, want 200", code)
	}
	return nil
}

// exchange sends req (resending on silence) and returns the final
// response to CSeq cseq: its status and headers (lower-case names).
func exchange(conn *net.UDPConn, dst *net.UDPAddr, req []byte, cseq int) (int, map[string]string, error) {
	buf := make([]byte, 65535)
	for try := 0; try < 4; try++ {
		if _, err := conn.WriteToUDP(req, dst); err != nil {
			return 0, nil, err
		}
		deadline := time.Now().Add(time.Second << try)
		for {
			_ = conn.SetReadDeadline(deadline)
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return 0, nil, err
			}
			code, hdrs := parseResponse(string(buf[:n]))
			if code >= 200 && strings.HasPrefix(hdrs["cseq"], strconv.Itoa(cseq)+" ") {
				return code, hdrs, nil
			}
		}
	}
	return 0, nil, errors.New("no answer")
}

func parseResponse(s string) (int, map[string]string) {
	lines := strings.Split(s, "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0, nil
	}
	code, _ := strconv.Atoi(f[1])
	hdrs := map[string]string{}
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			if _, seen := hdrs[k]; !seen {
				hdrs[k] = strings.TrimSpace(v)
			}
		}
	}
	return code, hdrs
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
