package agentdesk_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
)

func TestDeskToken(t *testing.T) {
	auth, err := agentdesk.NewTokenAuth(testKey)
	if err != nil {
		t.Fatal(err)
	}
	u := &ringdesk.User{ID: 42, Username: "alice", Role: ringdesk.RoleSupervisor}
	tok, err := auth.Issue(u, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		got, err := auth.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != 42 || got.Username != "alice" || got.Role != ringdesk.RoleSupervisor {
			t.Errorf("Verify = %+v", got)
		}
	})
	t.Run("EveryByteMatters", func(t *testing.T) {
		for i := range len(tok) {
			b := []byte(tok)
			b[i] ^= 1
			if _, err := auth.Verify(string(b)); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
				t.Fatalf("token with byte %d changed: %v, want EUNAUTHORIZED", i, err)
			}
		}
	})
	t.Run("Rejected", func(t *testing.T) {
		expired, _ := auth.Issue(u, time.Now().Add(-time.Second))
		other, _ := agentdesk.NewTokenAuth([]byte(strings.Repeat("z", 32)))
		foreign, _ := other.Issue(u, time.Now().Add(time.Minute))
		for name, s := range map[string]string{
			"Empty":      "",
			"Expired":    expired,
			"OtherKey":   foreign,
			"NoSig":      tok[:strings.LastIndexByte(tok, '.')],
			"OnlyPrefix": "v1.",
			"Huge":       tok + strings.Repeat("A", 5000),
			"V2":         "v2" + tok[2:],
		} {
			if _, err := auth.Verify(s); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
				t.Errorf("%s: Verify = %v, want EUNAUTHORIZED", name, err)
			}
		}
	})
	t.Run("FromRequest", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/desk/ws?token="+tok, nil)
		if got, err := auth.AuthenticateDesk(r); err != nil || got.ID != 42 {
			t.Errorf("query token: %+v, %v", got, err)
		}
		r = httptest.NewRequest("GET", "/desk/ws", nil)
		r.Header.Set("Cookie", agentdesk.CookieName+"="+tok)
		if got, err := auth.AuthenticateDesk(r); err != nil || got.ID != 42 {
			t.Errorf("cookie token: %+v, %v", got, err)
		}
		r = httptest.NewRequest("GET", "/desk/ws", nil)
		if _, err := auth.AuthenticateDesk(r); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
			t.Errorf("no token: %v, want EUNAUTHORIZED", err)
		}
	})
	t.Run("ShortKey", func(t *testing.T) {
		if _, err := agentdesk.NewTokenAuth([]byte("short")); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("NewTokenAuth(short) = %v, want EINVALID", err)
		}
	})
	t.Run("IssueInvalid", func(t *testing.T) {
		if _, err := auth.Issue(&ringdesk.User{Username: "x", Role: ringdesk.RoleAgent}, time.Now()); ringdesk.ErrorCode(err) != ringdesk.EINVALID {
			t.Errorf("Issue without id = %v, want EINVALID", err)
		}
	})
}

// FuzzDeskTokenVerify: no input crashes Verify, and only a token signed
// with the key is accepted.
func FuzzDeskTokenVerify(f *testing.F) {
	auth, err := agentdesk.NewTokenAuth(testKey)
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := auth.Issue(&ringdesk.User{ID: 1, Username: "a", Role: ringdesk.RoleAgent}, time.Now().Add(time.Hour))
	for _, s := range []string{tok, "", "v1.", "v1..", "v1.e30.", "v1.e30.AAAA", tok[:len(tok)-1]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := auth.Verify(s)
		if err != nil {
			if ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
				t.Fatalf("error %v is not EUNAUTHORIZED", err)
			}
			return
		}
		if s != tok {
			t.Fatalf("accepted a token that was not issued: %q (%+v)", s, u)
		}
	})
}

type authFunc func(r *http.Request) (*ringdesk.User, error)

func (f authFunc) AuthenticateDesk(r *http.Request) (*ringdesk.User, error) { return f(r) }

func TestAnyAuth(t *testing.T) {
	alice := &ringdesk.User{ID: 1, Username: "alice", Role: ringdesk.RoleAgent}
	ok := authFunc(func(*http.Request) (*ringdesk.User, error) { return alice, nil })
	no := authFunc(func(*http.Request) (*ringdesk.User, error) {
		return nil, ringdesk.Errorf(ringdesk.EUNAUTHORIZED, "no")
	})
	down := authFunc(func(*http.Request) (*ringdesk.User, error) {
		return nil, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "down")
	})
	r := httptest.NewRequest("GET", "/desk/ws", nil)
	tests := []struct {
		name string
		auth agentdesk.AnyAuth
		code string
	}{
		{"FirstAccepts", agentdesk.AnyAuth{ok, no}, ""},
		{"SecondAccepts", agentdesk.AnyAuth{no, ok}, ""},
		{"StoreDownButTokenGood", agentdesk.AnyAuth{down, ok}, ""},
		{"NoneAccepts", agentdesk.AnyAuth{no, no}, ringdesk.EUNAUTHORIZED},
		{"StoreDownSaysSo", agentdesk.AnyAuth{down, no}, ringdesk.EUNAVAILABLE},
		{"Empty", agentdesk.AnyAuth{}, ringdesk.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.auth.AuthenticateDesk(r)
			if got := ringdesk.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q", got, tt.code)
			}
			if tt.code == "" && u != alice {
				t.Fatalf("user = %+v", u)
			}
		})
	}
}
