package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk/store"
)

// runConfig prints the effective configuration (after file, environment
// and flags), one "key: value" a line with secrets masked, or with --key the
// bare value of one key, so scripts and admins see what Ringdesk will use.
func runConfig(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "config")
	key := fs.String("key", "", "print only this key's value (e.g. mysql.dsn), unmasked")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	for _, k := range cfg.keys() {
		v := keyString(k)
		if *key != "" {
			if k.name == *key {
				fmt.Fprintln(env.stdout, v)
				return nil
			}
			continue
		}
		fmt.Fprintf(env.stdout, "%s: %s\n", k.name, maskSecret(k.name, v))
	}
	if *key != "" {
		return fmt.Errorf("unknown key %q (see ringdesk config)", *key)
	}
	return nil
}

func keyString(k configKey) string {
	switch p := k.ptr.(type) {
	case *string:
		return *p
	case *int:
		return fmt.Sprint(*p)
	case *bool:
		return fmt.Sprint(*p)
	case *time.Duration:
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	}
	return fmt.Sprint(k.ptr)
}

// maskSecret hides secrets: redis.password and web.metrics_token whole, the
// DSN's password part.
func maskSecret(name, v string) string {
	switch name {
	case "redis.password", "web.metrics_token":
		if v != "" {
			return "****"
		}
	case "mysql.dsn":
		if c, err := store.ParseDSN(v); err == nil && c.Passwd != "" {
			return strings.Replace(v, ":"+c.Passwd+"@", ":****@", 1)
		}
	}
	return v
}
