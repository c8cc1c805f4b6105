package store_test

import (
	"context"
	"testing"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/store/storetest"
)

func TestUsers(t *testing.T) {
	db := storetest.MustOpenDB(t, "GB")
	ctx := context.Background()
	u := &ringdesk.User{Username: "alice", DisplayName: "Alice", Role: ringdesk.RoleAgent, SIPUsername: "1001", SIPRealm: "ringdesk"}
	if err := db.CreateUser(ctx, u, "correct horse", "sip-secret-1"); err != nil {
		t.Fatal(err)
	}
	if got, want := u.SIPHA1, store.SIPHA1("1001", "ringdesk", "sip-secret-1"); got != want {
		t.Errorf("HA1 = %s, want %s", got, want)
	}
	bad := []struct {
		name      string
		u         ringdesk.User
		pass, sip string
		code      string
	}{
		{"taken username", ringdesk.User{Username: "alice", Role: ringdesk.RoleAgent}, "long enough", "", ringdesk.ECONFLICT},
		{"taken SIP name", ringdesk.User{Username: "bob", Role: ringdesk.RoleAgent, SIPUsername: "1001", SIPRealm: "r"}, "long enough", "long enough", ringdesk.ECONFLICT},
		{"short password", ringdesk.User{Username: "carol", Role: ringdesk.RoleAgent}, "short", "", ringdesk.EINVALID},
		{"short SIP password", ringdesk.User{Username: "carol", Role: ringdesk.RoleAgent, SIPUsername: "1003", SIPRealm: "r"}, "long enough", "short", ringdesk.EINVALID},
		{"bad role", ringdesk.User{Username: "carol", Role: "root"}, "long enough", "", ringdesk.EINVALID},
		{"bad username", ringdesk.User{Username: "Carol Smith", Role: ringdesk.RoleAgent}, "long enough", "", ringdesk.EINVALID},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if err := db.CreateUser(ctx, &tt.u, tt.pass, tt.sip); ringdesk.ErrorCode(err) != tt.code {
				t.Errorf("err = %v, want %s", err, tt.code)
			}
		})
	}

	if _, err := db.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Errorf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong horse"}, {"nobody", "correct horse"}, {"alice", ""}} {
		if _, err := db.Authenticate(ctx, c[0], c[1]); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
			t.Errorf("Authenticate(%q, %q) = %v, want EUNAUTHORIZED", c[0], c[1], err)
		}
	}
	if err := db.SetPassword(ctx, "alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "alice", "correct horse"); err == nil {
		t.Error("old password still works")
	}
	if err := db.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, "alice", "battery staple"); ringdesk.ErrorCode(err) != ringdesk.EUNAUTHORIZED {
		t.Errorf("disabled user logged in: %v", err)
	}
	if err := db.SetSIPPassword(ctx, "alice", "", "ringdesk", "new-sip-secret"); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindUserBySIPUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.SIPHA1 != store.SIPHA1("alice", "ringdesk", "new-sip-secret") || !got.Disabled {
		t.Errorf("after SIP change: %+v", got)
	}
	for _, err := range []error{
		db.SetPassword(ctx, "nobody", "long enough"),
		db.SetDisabled(ctx, "nobody", true),
		db.SetSIPPassword(ctx, "nobody", "", "r", "long enough"),
	} {
		if ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			t.Errorf("unknown user: %v, want ENOTFOUND", err)
		}
	}
	users, err := db.FindUsers(ctx)
	if err != nil || len(users) != 1 || users[0].Username != "alice" {
		t.Errorf("FindUsers = %v, %v", users, err)
	}
}
