package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ringdesk.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func TestExampleConfigIsValidAndComplete(t *testing.T) {
	c, err := LoadConfig("../../configs/ringdesk.example.yaml", noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c, DefaultConfig(); !equalConfig(got, want) {
		t.Errorf("example config differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
	body, err := os.ReadFile("../../configs/ringdesk.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range c.keys() {
		leaf := k.name[strings.LastIndex(k.name, ".")+1:]
		if !strings.Contains(string(body), "\n  "+leaf+":") && !strings.Contains(string(body), "\n"+leaf+":") {
			t.Errorf("key %s is not documented in the example config", k.name)
		}
	}
}

func equalConfig(a, b Config) bool { return reflect.DeepEqual(a, b) }

func TestConfigPrecedence(t *testing.T) {
	path := writeFile(t, "http:\n  listen: \":9000\"\nlog:\n  level: debug\nredis:\n  addrs: [\"10.0.0.1:6379\"]\n")
	env := map[string]string{"RINGDESK_LOG_LEVEL": "warn", "RINGDESK_REDIS_ADDRS": "127.0.0.1:7000, 127.0.0.1:7001"}
	c, err := LoadConfig(path, func(k string) string { return env[k] }, map[string]string{"log.level": "error"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != ":9000" {
		t.Errorf("file value lost: http.listen = %q", c.HTTP.Listen)
	}
	if c.Log.Level != "error" {
		t.Errorf("flag should beat env and file: log.level = %q", c.Log.Level)
	}
	if got := strings.Join(c.Redis.Addrs, "|"); got != "127.0.0.1:7000|127.0.0.1:7001" {
		t.Errorf("env should beat file: redis.addrs = %q", got)
	}
	if c.ShutdownTimeout != 30*time.Second {
		t.Errorf("default lost: shutdown_timeout = %s", c.ShutdownTimeout)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, file string
		env        map[string]string
		key        string // the key the error must name
		reason     string // a word the reason must contain
	}{
		{"bad http address", "", map[string]string{"RINGDESK_HTTP_LISTEN": "8080"}, "http.listen", "host:port"},
		{"bad port", "http:\n  listen: \":99999\"\n", nil, "http.listen", "port"},
		{"hostname listen", "sip:\n  listen_udp: \"example.com:5060\"\n", nil, "sip.listen_udp", "IP address"},
		{"empty realm", "", map[string]string{"RINGDESK_SIP_REALM": " "}, "sip.realm", "realm"},
		{"dsn without database", "", map[string]string{"RINGDESK_MYSQL_DSN": "u:p@tcp(127.0.0.1:3306)/"}, "mysql.dsn", "database"},
		{"unparsable dsn", "", map[string]string{"RINGDESK_MYSQL_DSN": "u:p@tcp(127.0.0.1:3306"}, "mysql.dsn", "DSN"},
		{"not a number", "", map[string]string{"RINGDESK_MYSQL_MAX_OPEN_CONNS": "lots"}, "mysql.max_open_conns", "whole number"},
		{"zero conns", "mysql:\n  max_open_conns: 0\n", nil, "mysql.max_open_conns", "between"},
		{"not a bool", "", map[string]string{"RINGDESK_MYSQL_MIGRATE_ON_START": "maybe"}, "mysql.migrate_on_start", "true or false"},
		{"no redis", "", map[string]string{"RINGDESK_REDIS_ADDRS": " , "}, "redis.addrs", "at least one"},
		{"redis no port", "redis:\n  addrs: [\"localhost\"]\n", nil, "redis.addrs", "host:port"},
		{"socket in a cluster", "redis:\n  addrs: [\"/run/redis.sock\", \"b:2\"]\n", nil, "redis.addrs", "Unix socket is one server"},
		{"redis db range", "redis:\n  db: 16\n", nil, "redis.db", "between"},
		{"cluster db", "redis:\n  addrs: [\"a:1\", \"b:2\"]\n  db: 3\n", nil, "redis.db", "Cluster"},
		{"bad site", "redis:\n  site: \"my site\"\n", nil, "redis.site", "letters"},
		{"bad region", "", map[string]string{"RINGDESK_PHONE_DEFAULT_REGION": "UK"}, "phone.default_region", "ISO 3166"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level", "debug"},
		{"bad format", "log:\n  format: xml\n", nil, "log.format", "json"},
		{"bad duration", "", map[string]string{"RINGDESK_SHUTDOWN_TIMEOUT": "soon"}, "shutdown_timeout", "duration"},
		{"short duration", "shutdown_timeout: 10ms\n", nil, "shutdown_timeout", "between"},
		{"bad node", "node: \"a b\"\n", nil, "node", "letters"},
		{"short metrics token", "web:\n  metrics_token: short\n", nil, "web.metrics_token", "16 characters"},
		{"gc percent too low", "runtime:\n  gc_percent: 10\n", nil, "runtime.gc_percent", "between"},
		{"transaction linger too short", "sip:\n  transaction_linger: 500ms\n", nil, "sip.transaction_linger", "between 1s and 32s"},
		{"transaction linger too long", "", map[string]string{"RINGDESK_SIP_TRANSACTION_LINGER": "1m"}, "sip.transaction_linger", "between 1s and 32s"},
		{"batch gap negative", "calls:\n  batch_gap: -1ms\n", nil, "calls.batch_gap", "between 0s and 1s"},
		{"batch gap too long", "", map[string]string{"RINGDESK_CALLS_BATCH_GAP": "2s"}, "calls.batch_gap", "between 0s and 1s"},
		{"transaction linger not a duration", "", map[string]string{"RINGDESK_SIP_TRANSACTION_LINGER": "5"}, "sip.transaction_linger", ""},
		{"gc percent not a number", "", map[string]string{"RINGDESK_RUNTIME_GC_PERCENT": "lots"}, "runtime.gc_percent", "whole number"},
		{"negative max procs", "runtime:\n  max_procs: -1\n", nil, "runtime.max_procs", "between 0"},
		{"max procs too many", "", map[string]string{"RINGDESK_RUNTIME_MAX_PROCS": "5000"}, "runtime.max_procs", "between 0"},
		{"spool cap too small", "calls:\n  spool_max_bytes: 100\n", nil, "calls.spool_max_bytes", "minimum"},
		{"tls without cert", "sip:\n  listen_tls: \":5061\"\n", nil, "sip.listen_tls", "tls_cert"},
		{"tls cert missing", "sip:\n  listen_tls: \":5061\"\n  tls_cert: /nonexistent.pem\n  tls_key: /nonexistent.key\n", nil, "sip.tls_cert", "cannot load"},
		{"bad origin", "", map[string]string{"RINGDESK_DESK_ALLOWED_ORIGINS": "crm.example.com"}, "desk.allowed_origins", "origin"},
		{"short heartbeat", "routing:\n  heartbeat_ttl: 100ms\n", nil, "routing.heartbeat_ttl", "between"},
		{"bad orphan policy", "routing:\n  orphan_policy: keep\n", nil, "routing.orphan_policy", "end or requeue"},
		{"unknown key", "htpp:\n  listen: \":1\"\n", nil, "htpp", "unknown key"},
		{"unknown nested key", "redis:\n  adrs: [\"a:1\"]\n", nil, "redis.adrs", "line 2"},
		{"wrong type in file", "mysql:\n  max_open_conns: many\n", nil, "mysql.max_open_conns", "whole number"},
		{"list for a value", "log:\n  level: [a, b]\n", nil, "log.level", "single value"},
		{"not yaml", "http: [\n", nil, "config file", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := LoadConfig(path, func(k string) string { return tt.env[k] }, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q should name %q and say %q", err, tt.key, tt.reason)
			}
			var ce *ConfigError
			if tt.name != "not yaml" && !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), noEnv, nil); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: err = %v, want it named", err)
	}
	if _, err := LoadConfig(writeFile(t, ""), noEnv, nil); err != nil {
		t.Errorf("empty file: %v, want the defaults", err)
	}
}

func TestConfigCommand(t *testing.T) {
	path := writeFile(t, "redis:\n  password: hunter2hunter2\nmysql:\n  dsn: \"u:s3cret@tcp(db:3306)/rd\"\nweb:\n  metrics_token: metrics-t0ken-0123456789\n")
	var out, errOut strings.Builder
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		return map[string]string{"RINGDESK_CONFIG": path, "RINGDESK_LOG_LEVEL": "debug"}[k]
	}}
	if code := run(context.Background(), env, []string{"config"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"mysql.dsn: u:****@tcp(db:3306)/rd\n", "redis.password: ****\n", "web.metrics_token: ****\n",
		"log.level: debug\n", "http.listen: :8080\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "s3cret") || strings.Contains(out.String(), "hunter2") || strings.Contains(out.String(), "t0ken") {
		t.Errorf("config output shows a secret:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), env, []string{"config", "--key", "mysql.dsn"}); code != 0 || out.String() != "u:s3cret@tcp(db:3306)/rd\n" {
		t.Errorf("--key mysql.dsn: exit %d, %q", code, out.String())
	}
	if code := run(context.Background(), env, []string{"config", "--key", "nope"}); code != 1 {
		t.Errorf("--key nope: exit %d, want 1", code)
	}
}

func TestConfigRedisUnixSocket(t *testing.T) {
	env := map[string]string{"RINGDESK_REDIS_ADDRS": "/run/ringdesk/redis.sock"}
	c, err := LoadConfig("", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Redis.Addrs) != 1 || c.Redis.Addrs[0] != "/run/ringdesk/redis.sock" {
		t.Errorf("redis.addrs = %q", c.Redis.Addrs)
	}
}
