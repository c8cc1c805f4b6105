package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store"
)

const userUsage = `Subcommands:
  ringdesk user add --username NAME [--role agent|supervisor|admin] [--display-name TEXT]
                    [--password P] [--sip-username EXT] [--sip-password P]
  ringdesk user list
  ringdesk user passwd NAME [--password P]
  ringdesk user sip NAME [--sip-username EXT] [--sip-password P]
  ringdesk user disable NAME
  ringdesk user enable NAME
  ringdesk user token NAME [--ttl 12h]

"token" prints a signed desk token for an agent or supervisor: the agent
desk's WebSocket (/desk/ws?token=…) accepts it until it expires: for the
terminal desk and scripts. Browsers log in at /login and the desk socket
takes their session cookie instead.

A login password not given by flag is read from the terminal (asked twice,
not echoed) or, when input is not a terminal, as one line of stdin. A SIP
password not given is generated and printed once; only its digest is kept.
`

func runUser(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.stderr, "user: manage users\n\n"+userUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	var name string
	switch sub {
	case "add", "list":
	case "passwd", "sip", "disable", "enable", "token":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(env.stderr, "user %s: the user name comes first: ringdesk user %s NAME [flags]\n", sub, sub)
			return errUsage
		}
		name, args = args[0], args[1:]
	default:
		fmt.Fprintf(env.stderr, "user: unknown subcommand %q\n\n%s", sub, userUsage)
		return errUsage
	}
	fs := newFlagSet(env, "user")
	fs.Usage = func() { fmt.Fprintf(env.stderr, "user %s\n\n%s\nFlags:\n", sub, userUsage); fs.PrintDefaults() }
	username := fs.String("username", "", "login name (add)")
	role := fs.String("role", ringdesk.RoleAgent, "agent, supervisor or admin (add)")
	display := fs.String("display-name", "", "name shown to colleagues (add)")
	password := fs.String("password", "", "login password (asked for when empty)")
	sipUser := fs.String("sip-username", "", "SIP user name of the agent's phone, e.g. an extension (add, sip)")
	sipPass := fs.String("sip-password", "", "SIP password (generated when empty)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long a desk token is valid (token)")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "user %s: unexpected argument %q\n", sub, fs.Arg(0))
		return errUsage
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	// On a fresh database (the first admin), say what to do rather than
	// MySQL's "table doesn't exist".
	if v, err := db.SchemaVersion(ctx); err == nil && v == 0 {
		return ringdesk.Errorf(ringdesk.EINVALID, "The database has no schema yet: run `ringdesk migrate` (or start `ringdesk serve` once) first.")
	}

	switch sub {
	case "add":
		u := &ringdesk.User{Username: *username, Role: *role, DisplayName: *display, SIPUsername: *sipUser, SIPRealm: cfg.SIP.Realm}
		if err := u.Validate(); err != nil { // before asking for a password
			return err
		}
		pw, err := readPassword(env, *password, "Password for "+u.Username)
		if err != nil {
			return err
		}
		sp, generated := *sipPass, false
		if u.SIPUsername != "" && sp == "" {
			sp, generated = generatePassword(), true
		}
		if err := db.CreateUser(ctx, u, pw, sp); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "created %s %q (id %d)\n", u.Role, u.Username, u.ID)
		if generated {
			fmt.Fprintf(env.stdout, "SIP credentials: user %s, realm %s, password %s (shown once)\n", u.SIPUsername, u.SIPRealm, sp)
		}
		return nil
	case "list":
		return listUsers(ctx, env.stdout, db)
	case "token":
		return printDeskToken(ctx, env, cfg, db, name, *ttl)
	case "passwd":
		if _, err := db.FindUserByUsername(ctx, name); err != nil {
			return err
		}
		pw, err := readPassword(env, *password, "New password for "+name)
		if err != nil {
			return err
		}
		if err := db.SetPassword(ctx, name, pw); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "password of %q changed\n", name)
		return nil
	case "sip":
		sp, generated := *sipPass, false
		if sp == "" {
			sp, generated = generatePassword(), true
		}
		su := *sipUser
		if su == "" {
			su = name
		}
		if err := db.SetSIPPassword(ctx, name, su, cfg.SIP.Realm, sp); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "SIP credentials of %q set: user %s, realm %s", name, su, cfg.SIP.Realm)
		if generated {
			fmt.Fprintf(env.stdout, ", password %s (shown once)", sp)
		}
		fmt.Fprintln(env.stdout)
		return nil
	default: // disable, enable
		if err := db.SetDisabled(ctx, name, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%q %sd\n", name, sub)
		return nil
	}
}

func printDeskToken(ctx context.Context, env *cliEnv, cfg Config, db *store.DB, name string, ttl time.Duration) error {
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return ringdesk.Errorf(ringdesk.EINVALID, "--ttl must be between 1s and 720h.")
	}
	u, err := db.FindUserByUsername(ctx, name)
	if err != nil {
		return err
	}
	if u.Disabled {
		return ringdesk.Errorf(ringdesk.EFORBIDDEN, "User %q is disabled.", name)
	}
	if u.Role != ringdesk.RoleAgent && u.Role != ringdesk.RoleSupervisor {
		return ringdesk.Errorf(ringdesk.EINVALID, "Only agents and supervisors have a desk; %q is %s.", name, u.Role)
	}
	rdb, err := routing.OpenRedis(ctx, routing.RedisOptions{Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB})
	if err != nil {
		return err
	}
	defer rdb.Close()
	auth, err := deskAuth(ctx, rdb, cfg.Redis.Site)
	if err != nil {
		return err
	}
	tok, err := auth.Issue(u, time.Now().Add(ttl))
	if err != nil {
		return err
	}
	port := cfg.HTTP.Listen[strings.LastIndex(cfg.HTTP.Listen, ":")+1:]
	fmt.Fprintln(env.stdout, tok)
	fmt.Fprintf(env.stderr, "desk socket for %s (valid %s): ws://localhost:%s/desk/ws?token=<the token above>\n", name, ttl, port)
	return nil
}

func listUsers(ctx context.Context, w io.Writer, db *store.DB) error {
	users, err := db.FindUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tROLE\tDISPLAY NAME\tSIP USER\tSTATUS")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, u.DisplayName, u.SIPUsername, status)
	}
	return tw.Flush()
}

// readPassword returns given if set, else asks on a terminal (twice) or
// reads one line from non-terminal stdin.
func readPassword(env *cliEnv, given, prompt string) (string, error) {
	if given != "" {
		return given, nil
	}
	if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(env.stderr, prompt+": ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(env.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", ringdesk.Errorf(ringdesk.EINVALID, "The passwords differ.")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", ringdesk.Errorf(ringdesk.EINVALID, "No password: give --password, or one line on stdin.")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func generatePassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}
