package main

import (
	"context"
	"strings"
	"testing"
)

// cli runs one command line against the test database and returns the exit
// code and what it printed.
func cli(t *testing.T, cfg Config, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	env := &cliEnv{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
		return map[string]string{"RINGDESK_MYSQL_DSN": cfg.MySQL.DSN, "RINGDESK_REDIS_ADDRS": cfg.Redis.Addrs[0], "RINGDESK_REDIS_SITE": cfg.Redis.Site}[k]
	}}
	code := run(context.Background(), env, args)
	return code, stdout.String(), stderr.String()
}

func TestUserCommands(t *testing.T) {
	cfg := testConfig(t)
	if code, _, errOut := cli(t, cfg, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	steps := []struct {
		stdin   string
		args    []string
		code    int
		outWant string // substring of stdout (or stderr when code != 0)
	}{
		{"", []string{"user", "add", "--username", "boss", "--role", "admin", "--password", "boss-password"}, 0, `created admin "boss"`},
		{"piped-password\n", []string{"user", "add", "--username", "ann", "--sip-username", "2001"}, 0, "SIP credentials: user 2001, realm ringdesk, password "},
		{"", []string{"user", "add", "--username", "ann", "--password", "whatever-1"}, 1, "taken"},
		{"", []string{"user", "add", "--username", "Bad Name", "--password", "whatever-1"}, 1, "Username"},
		{"", []string{"user", "add", "--username", "zed", "--role", "god", "--password", "whatever-1"}, 1, "Role"},
		{"short\n", []string{"user", "add", "--username", "zed"}, 1, "at least 8"},
		{"", []string{"user", "list"}, 0, "ann       agent                2001      active"},
		{"new-password-1\n", []string{"user", "passwd", "ann"}, 0, `password of "ann" changed`},
		{"", []string{"user", "passwd", "nobody", "--password", "whatever-1"}, 1, "not found"},
		{"", []string{"user", "disable", "ann"}, 0, `"ann" disabled`},
		{"", []string{"user", "list"}, 0, "disabled"},
		{"", []string{"user", "sip", "ann", "--sip-password", "sip-pass-22"}, 0, "user ann, realm ringdesk"},
		{"", []string{"user", "frobnicate"}, 2, "unknown subcommand"},
		{"", []string{"user", "passwd"}, 2, "user name comes first"},
		{"", []string{"nonsense"}, 2, "unknown command"},
	}
	for _, s := range steps {
		code, out, errOut := cli(t, cfg, s.stdin, s.args...)
		text := out
		if s.code != 0 {
			text = errOut
		}
		if code != s.code || !strings.Contains(text, s.outWant) {
			t.Errorf("ringdesk %s: exit %d, stdout %q, stderr %q; want exit %d and %q",
				strings.Join(s.args, " "), code, out, errOut, s.code, s.outWant)
		}
	}
	// The piped password was taken, then changed by passwd; disabled users cannot log in.
	db, err := openDB(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetDisabled(context.Background(), "ann", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(context.Background(), "ann", "new-password-1"); err != nil {
		t.Errorf("password set by passwd does not work: %v", err)
	}
}

// TestUserAddOnFreshDatabase: the first admin on a database without the
// schema gets told to migrate, not MySQL's "table doesn't exist".
func TestUserAddOnFreshDatabase(t *testing.T) {
	cfg := testConfig(t)
	code, _, errOut := cli(t, cfg, "", "user", "add", "--username", "admin", "--role", "admin", "--password", "admin-password")
	if code == 0 || !strings.Contains(errOut, "ringdesk migrate") {
		t.Fatalf("user add on an empty database = %d %q, want an error that says to migrate", code, errOut)
	}
	if code, _, errOut := cli(t, cfg, "", "migrate"); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, errOut := cli(t, cfg, "", "user", "add", "--username", "admin", "--role", "admin", "--password", "admin-password"); code != 0 || !strings.Contains(out, `created admin "admin"`) {
		t.Fatalf("user add after migrate = %d %q %q", code, out, errOut)
	}
}
