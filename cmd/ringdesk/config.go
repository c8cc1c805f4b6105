package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/telephony"
)

// minSpoolBytes is the smallest call-log spool cap accepted: a cap that
// holds no records would turn every MySQL hiccup into lost writes.
const minSpoolBytes = 64 << 10

// Config is every setting of Ringdesk. Values come from the defaults, then
// the YAML file, then RINGDESK_* environment variables, then flags; the
// result is validated once, and a bad value stops start-up naming its key.
// configs/ringdesk.example.yaml documents every key.
type Config struct {
	// Node names this process among the nodes sharing one Redis; empty
	// means the host name.
	Node string `yaml:"node"`
	HTTP struct {
		Listen string `yaml:"listen"`
	} `yaml:"http"`
	SIP struct {
		ListenUDP string `yaml:"listen_udp"`
		ListenTCP string `yaml:"listen_tcp"`
		ListenTLS string `yaml:"listen_tls"`
		TLSCert   string `yaml:"tls_cert"`
		TLSKey    string `yaml:"tls_key"`
		Realm     string `yaml:"realm"`
		// AdvertiseHost goes in the Via and Contact of the calls Ringdesk
		// places to agents' phones; empty means the UDP listen address.
		AdvertiseHost string `yaml:"advertise_host"`
		// TransactionLinger is how long a completed transaction is kept
		// to absorb retransmissions (telephony.SetTransactionLinger).
		TransactionLinger time.Duration `yaml:"transaction_linger"`
	} `yaml:"sip"`
	Calls struct {
		SpoolDir      string        `yaml:"spool_dir"`
		SpoolMaxBytes int           `yaml:"spool_max_bytes"`
		BatchGap      time.Duration `yaml:"batch_gap"`
	} `yaml:"calls"`
	Web struct {
		SecureCookies  bool          `yaml:"secure_cookies"`
		SessionIdle    time.Duration `yaml:"session_idle"`
		SessionMax     time.Duration `yaml:"session_max"`
		LoginLimitUser int           `yaml:"login_limit_user"`
		LoginLimitAddr int           `yaml:"login_limit_addr"`
		LoginWindow    time.Duration `yaml:"login_window"`
		MetricsToken   string        `yaml:"metrics_token"`
	} `yaml:"web"`
	Desk struct {
		AllowedOrigins []string `yaml:"allowed_origins"`
		Dispositions   []string `yaml:"dispositions"`
		AwayReasons    []string `yaml:"away_reasons"`
	} `yaml:"desk"`
	Routing struct {
		HeartbeatTTL time.Duration `yaml:"heartbeat_ttl"`
		OrphanPolicy string        `yaml:"orphan_policy"`
		RequireDesk  bool          `yaml:"require_desk"`
	} `yaml:"routing"`
	MySQL struct {
		DSN            string `yaml:"dsn"`
		MaxOpenConns   int    `yaml:"max_open_conns"`
		MigrateOnStart bool   `yaml:"migrate_on_start"`
	} `yaml:"mysql"`
	Redis struct {
		Addrs      []string `yaml:"addrs"`
		MasterName string   `yaml:"master_name"`
		Username   string   `yaml:"username"`
		Password   string   `yaml:"password"`
		DB         int      `yaml:"db"`
		Site       string   `yaml:"site"`
	} `yaml:"redis"`
	Phone struct {
		DefaultRegion string `yaml:"default_region"`
	} `yaml:"phone"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Runtime struct {
		// GCPercent is Go's GOGC for serve (the GOGC environment
		// variable, when set, wins). See DefaultGCPercent.
		GCPercent int `yaml:"gc_percent"`
		// MaxProcs is Go's GOMAXPROCS for serve; 0 keeps Go's default
		// (every CPU). The GOMAXPROCS environment variable, when set,
		// wins. See the example configuration.
		MaxProcs int `yaml:"max_procs"`
	} `yaml:"runtime"`
	Debug struct {
		// PprofListen serves net/http/pprof on its own address (for
		// profiling under load, e.g. scripts/bench.sh); empty is off.
		PprofListen string `yaml:"pprof_listen"`
	} `yaml:"debug"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultConfig returns the settings used when nothing else is said.
func DefaultConfig() Config {
	var c Config
	c.HTTP.Listen = ":8080"
	c.SIP.ListenUDP = ":5060"
	c.SIP.ListenTCP = ":5060"
	c.SIP.Realm = "ringdesk"
	c.Calls.SpoolDir = "var/spool"
	c.Calls.SpoolMaxBytes = telephony.DefaultSpoolLimit
	c.Calls.BatchGap = telephony.DefaultBatchGap
	c.Web.SessionIdle = time.Hour
	c.Web.SessionMax = 12 * time.Hour
	c.Web.LoginLimitUser = 5
	c.Web.LoginLimitAddr = 50
	c.Web.LoginWindow = 15 * time.Minute
	c.Desk.Dispositions = []string{"resolved", "follow-up", "callback", "sale", "no-sale", "wrong-number", "other"}
	c.Desk.AwayReasons = []string{"break", "lunch", "meeting", "training", "admin"}
	c.Routing.HeartbeatTTL = 5 * time.Second
	c.Routing.OrphanPolicy = "end"
	c.Routing.RequireDesk = true
	c.MySQL.DSN = "ringdesk:ringdesk@tcp(127.0.0.1:3306)/ringdesk"
	c.MySQL.MaxOpenConns = 32
	c.MySQL.MigrateOnStart = true
	c.Redis.Addrs = []string{"127.0.0.1:6379"}
	c.Redis.Site = "default"
	c.Phone.DefaultRegion = "GB"
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Runtime.GCPercent = DefaultGCPercent
	c.SIP.TransactionLinger = telephony.DefaultTransactionLinger
	c.ShutdownTimeout = 30 * time.Second
	return c
}

// DefaultGCPercent is serve's GOGC. Go's 100 collects each time the heap
// doubles; the call path keeps every SIP transaction for its timers (32 s
// when these figures were taken; sip.transaction_linger, 5 s by default,
// since), so under load the live heap is large (~330 MB at 500 calls/s) and
// each collection's mark phase takes a share of the CPU for up to half a
// second: the windows of the slowest pops line up with them (gctrace).
// Fewer collections cost memory. scripts/bench.sh at 500 calls/s on a
// 2-core machine, INVITE→pop p99 / CPU per call / RSS:
// 10 s steps: GOGC 100 93–188 ms, 1.72 ms, 240 MiB; 400 49–77 ms, 1.66 ms, 390 MiB.
// 60 s steps (steady state): GOGC 100 238–252 ms, 1.77–1.84 ms, 750 MiB;
// 200 207 ms, 1.71 ms, 970 MiB; 400 142 ms, 1.65 ms, 1.7 GiB.
// 200 takes part of the gain for a third more memory; a box with memory to
// spare may go higher, a small one lower (runtime.gc_percent). With the
// 5 s linger, 60 s steps: 200 p99 68–103 ms, 292–305 MiB; 400 66–73 ms,
// 452–454 MiB (CPU 1.60–1.70 ms either way): no clear gain left for half
// as much memory again.
const DefaultGCPercent = 200

// configKey is one setting as named in the file (dotted), the environment
// (RINGDESK_ + upper case with underscores) and flags (--dotted.name).
type configKey struct {
	name string
	ptr  any // *string, *int, *bool, *time.Duration, *[]string
	help string
}

func (c *Config) keys() []configKey {
	return []configKey{
		{"node", &c.Node, "name of this node among those sharing one Redis; empty means the host name"},
		{"http.listen", &c.HTTP.Listen, "HTTP listen address (web pages, API, /healthz, /metrics)"},
		{"sip.listen_udp", &c.SIP.ListenUDP, "SIP UDP listen address; empty disables UDP"},
		{"sip.listen_tcp", &c.SIP.ListenTCP, "SIP TCP listen address; empty disables TCP"},
		{"sip.listen_tls", &c.SIP.ListenTLS, "SIP TLS listen address; needs sip.tls_cert and sip.tls_key"},
		{"sip.tls_cert", &c.SIP.TLSCert, "PEM certificate (chain) for SIP over TLS"},
		{"sip.tls_key", &c.SIP.TLSKey, "PEM private key for SIP over TLS"},
		{"sip.realm", &c.SIP.Realm, "SIP digest realm for phone registrations"},
		{"sip.advertise_host", &c.SIP.AdvertiseHost, "address phones reach Ringdesk at (Via/Contact of calls to agents); empty: the UDP listen address"},
		{"sip.transaction_linger", &c.SIP.TransactionLinger, "how long a completed SIP transaction is kept to absorb retransmissions (1s-32s; the RFCs' UDP value is 32s)"},
		{"calls.spool_dir", &c.Calls.SpoolDir, "directory where call-log writes wait while MySQL is down (replayed in order)"},
		{"calls.spool_max_bytes", &c.Calls.SpoolMaxBytes, "size cap of the call-log spool; past it writes are logged at ERROR and counted, not spooled"},
		{"calls.batch_gap", &c.Calls.BatchGap, "least time between two call-log writes to MySQL while calls keep coming (0-1s); writes meanwhile go together"},
		{"web.secure_cookies", &c.Web.SecureCookies, "mark cookies Secure on plain-HTTP requests too (set behind a TLS-terminating proxy)"},
		{"web.session_idle", &c.Web.SessionIdle, "a login unused this long ends"},
		{"web.session_max", &c.Web.SessionMax, "any login ends this long after it began"},
		{"web.login_limit_user", &c.Web.LoginLimitUser, "login attempts per user name per web.login_window (a success starts again)"},
		{"web.login_limit_addr", &c.Web.LoginLimitAddr, "failed logins per source address per web.login_window"},
		{"web.login_window", &c.Web.LoginWindow, "the window of the login limits"},
		{"web.metrics_token", &c.Web.MetricsToken, "bearer token /metrics requires (at least 16 characters); empty: /metrics is open to whoever reaches the web port"},
		{"desk.allowed_origins", &c.Desk.AllowedOrigins, "extra origins (scheme://host:port) allowed to open the desk socket; same-origin is always allowed"},
		{"desk.dispositions", &c.Desk.Dispositions, "the dispositions an agent picks from in wrap-up, comma-separated in env"},
		{"desk.away_reasons", &c.Desk.AwayReasons, "the reasons an agent picks from when going away (1–32 of a-z 0-9 - _)"},
		{"routing.heartbeat_ttl", &c.Routing.HeartbeatTTL, "a node silent this long is dead and its calls are recovered by the others"},
		{"routing.orphan_policy", &c.Routing.OrphanPolicy, "what survivors do with a dead node's calls: end (logged node-lost) or requeue"},
		{"routing.require_desk", &c.Routing.RequireDesk, "offer calls only to agents whose desk is connected (others go away: no-desk)"},
		{"mysql.dsn", &c.MySQL.DSN, "MySQL/MariaDB DSN, user:password@tcp(host:port)/database"},
		{"mysql.max_open_conns", &c.MySQL.MaxOpenConns, "largest number of open MySQL connections"},
		{"mysql.migrate_on_start", &c.MySQL.MigrateOnStart, "apply pending migrations when serve starts"},
		{"redis.addrs", &c.Redis.Addrs, "Redis address(es), comma-separated: one server (host:port or a Unix socket path), cluster nodes, or sentinels"},
		{"redis.master_name", &c.Redis.MasterName, "Sentinel master name; set to use Sentinel"},
		{"redis.username", &c.Redis.Username, "Redis ACL user name"},
		{"redis.password", &c.Redis.Password, "Redis password"},
		{"redis.db", &c.Redis.DB, "Redis database number (single server and Sentinel only)"},
		{"redis.site", &c.Redis.Site, "site name: the hash tag shared by this site's Redis keys"},
		{"phone.default_region", &c.Phone.DefaultRegion, "ISO 3166 region for numbers written without a country code"},
		{"log.level", &c.Log.Level, "debug, info, warn or error"},
		{"log.format", &c.Log.Format, "text or json"},
		{"runtime.gc_percent", &c.Runtime.GCPercent, "Go's GOGC for serve: the heap grows by this % of the live heap between collections (GOGC, when set, wins)"},
		{"runtime.max_procs", &c.Runtime.MaxProcs, "Go's GOMAXPROCS for serve: CPUs running Go code at once; 0: every CPU (GOMAXPROCS, when set, wins)"},
		{"debug.pprof_listen", &c.Debug.PprofListen, "address serving Go's pprof profiles (/debug/pprof/); empty: off. Keep it on loopback"},
		{"shutdown_timeout", &c.ShutdownTimeout, "how long serve waits for calls and requests to drain on SIGTERM"},
	}
}

func envName(key string) string {
	return "RINGDESK_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))
}

// setKey parses s into the key's value.
func setKey(k configKey, s string) error {
	switch p := k.ptr.(type) {
	case *string:
		*p = s
	case *int:
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*p = v
	case *bool:
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 2m", s)
		}
		*p = v
	case *[]string:
		var vs []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				vs = append(vs, v)
			}
		}
		*p = vs
	default:
		panic(fmt.Sprintf("config key %s has unsupported type %T", k.name, k.ptr))
	}
	return nil
}

// ConfigError names the key at fault.
type ConfigError struct {
	Key    string
	Source string // file, env or flag
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("config: %s (from %s): %s", e.Key, e.Source, e.Reason)
	}
	return fmt.Sprintf("config: %s: %s", e.Key, e.Reason)
}

// LoadConfig builds the configuration: defaults, then file (when path is
// not empty), then environment (getenv), then the flags already parsed into
// set (flag name → value).
func LoadConfig(path string, getenv func(string) string, flags map[string]string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return c, err
		}
	}
	for _, k := range c.keys() {
		if v := getenv(envName(k.name)); v != "" {
			if err := setKey(k, v); err != nil {
				return c, &ConfigError{Key: k.name, Source: envName(k.name), Reason: err.Error()}
			}
		}
		if v, ok := flags[k.name]; ok {
			if err := setKey(k, v); err != nil {
				return c, &ConfigError{Key: k.name, Source: "--" + k.name, Reason: err.Error()}
			}
		}
	}
	return c, c.Validate()
}

// loadFile sets the keys found in a YAML file. It walks the document itself,
// rather than unmarshalling into the struct, so that every error names the
// key and line, and an unknown key is an error rather than ignored.
func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file sets nothing
		return nil
	}
	keys := map[string]configKey{}
	sections := map[string]bool{}
	for _, k := range c.keys() {
		keys[k.name] = k
		if i := strings.IndexByte(k.name, '.'); i > 0 {
			sections[k.name[:i]] = true
		}
	}
	src := func(n *yaml.Node) string { return fmt.Sprintf("%s line %d", path, n.Line) }
	var walk func(prefix string, m *yaml.Node) error
	walk = func(prefix string, m *yaml.Node) error {
		if m.Kind != yaml.MappingNode {
			return &ConfigError{Key: strings.TrimSuffix(prefix, "."), Source: src(m), Reason: "expected a mapping of keys"}
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			name := prefix + kn.Value
			if sections[name] && prefix == "" {
				if err := walk(name+".", vn); err != nil {
					return err
				}
				continue
			}
			k, ok := keys[name]
			if !ok {
				return &ConfigError{Key: name, Source: src(kn), Reason: "unknown key (see configs/ringdesk.example.yaml)"}
			}
			var val string
			switch {
			case vn.Kind == yaml.ScalarNode:
				val = vn.Value
			case vn.Kind == yaml.SequenceNode && isStrings(k.ptr):
				var items []string
				for _, it := range vn.Content {
					if it.Kind != yaml.ScalarNode {
						return &ConfigError{Key: name, Source: src(it), Reason: "list items must be plain values"}
					}
					items = append(items, it.Value)
				}
				val = strings.Join(items, ",")
			default:
				return &ConfigError{Key: name, Source: src(vn), Reason: "expected a single value"}
			}
			if err := setKey(k, val); err != nil {
				return &ConfigError{Key: name, Source: src(vn), Reason: err.Error()}
			}
		}
		return nil
	}
	return walk("", doc.Content[0])
}

func isStrings(p any) bool { _, ok := p.(*[]string); return ok }

// Validate checks every key and returns the first bad one.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Key: key, Reason: fmt.Sprintf(format, args...)}
	}
	checkAddr := func(key, addr string, optional bool) error {
		if addr == "" {
			if optional {
				return nil
			}
			return bad(key, "an address is required, such as :8080 or 127.0.0.1:8080")
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return bad(key, "%q is not host:port (%v)", addr, err)
		}
		if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			return bad(key, "%q: the host must be an IP address, localhost, or empty for all", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return bad(key, "%q: the port must be 0–65535", addr)
		}
		return nil
	}
	if err := checkAddr("http.listen", c.HTTP.Listen, false); err != nil {
		return err
	}
	if err := checkAddr("sip.listen_udp", c.SIP.ListenUDP, true); err != nil {
		return err
	}
	if err := checkAddr("sip.listen_tcp", c.SIP.ListenTCP, true); err != nil {
		return err
	}
	if err := checkAddr("sip.listen_tls", c.SIP.ListenTLS, true); err != nil {
		return err
	}
	if err := checkAddr("debug.pprof_listen", c.Debug.PprofListen, true); err != nil {
		return err
	}
	if t := c.Web.MetricsToken; t != "" && (len(t) < 16 || strings.ContainsAny(t, " \t\r\n")) {
		return bad("web.metrics_token", "a token must be at least 16 characters, without spaces")
	}
	if d := c.SIP.TransactionLinger; d < time.Second || d > 32*time.Second {
		return bad("sip.transaction_linger", "%v is not between 1s and 32s", d)
	}
	if c.Runtime.GCPercent < 25 || c.Runtime.GCPercent > 10000 {
		return bad("runtime.gc_percent", "%d is not between 25 and 10000", c.Runtime.GCPercent)
	}
	if c.Runtime.MaxProcs < 0 || c.Runtime.MaxProcs > 1024 {
		return bad("runtime.max_procs", "%d is not between 0 (every CPU) and 1024", c.Runtime.MaxProcs)
	}
	if c.SIP.ListenTLS != "" && (c.SIP.TLSCert == "" || c.SIP.TLSKey == "") {
		return bad("sip.listen_tls", "SIP over TLS needs sip.tls_cert and sip.tls_key")
	}
	if c.SIP.ListenTLS != "" {
		if _, err := tls.LoadX509KeyPair(c.SIP.TLSCert, c.SIP.TLSKey); err != nil {
			return bad("sip.tls_cert", "cannot load the certificate and key: %v", err)
		}
	}
	if c.SIP.AdvertiseHost != "" && net.ParseIP(c.SIP.AdvertiseHost) == nil {
		return bad("sip.advertise_host", "%q is not an IP address", c.SIP.AdvertiseHost)
	}
	if strings.TrimSpace(c.Calls.SpoolDir) == "" {
		return bad("calls.spool_dir", "a directory is required")
	}
	if c.Calls.SpoolMaxBytes < minSpoolBytes {
		return bad("calls.spool_max_bytes", "%d is below the minimum of %d bytes (a few hundred call records)", c.Calls.SpoolMaxBytes, minSpoolBytes)
	}
	if c.Calls.BatchGap < 0 || c.Calls.BatchGap > time.Second {
		return bad("calls.batch_gap", "%v is not between 0s and 1s", c.Calls.BatchGap)
	}
	if c.Node != "" && !ringdeskSite(c.Node) {
		return bad("node", "%q must be 1–32 letters, digits, '-' or '_'", c.Node)
	}
	for _, o := range c.Desk.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			return bad("desk.allowed_origins", "%q is not an origin such as https://crm.example.com", o)
		}
	}
	if c.Web.SessionIdle < time.Minute || c.Web.SessionIdle > 7*24*time.Hour {
		return bad("web.session_idle", "%s is not between 1m and 168h", c.Web.SessionIdle)
	}
	if c.Web.SessionMax < c.Web.SessionIdle || c.Web.SessionMax > 30*24*time.Hour {
		return bad("web.session_max", "%s is not between web.session_idle (%s) and 720h", c.Web.SessionMax, c.Web.SessionIdle)
	}
	if c.Web.LoginLimitUser < 1 || c.Web.LoginLimitUser > 1000 {
		return bad("web.login_limit_user", "%d is not between 1 and 1000", c.Web.LoginLimitUser)
	}
	if c.Web.LoginLimitAddr < 1 || c.Web.LoginLimitAddr > 100000 {
		return bad("web.login_limit_addr", "%d is not between 1 and 100000", c.Web.LoginLimitAddr)
	}
	if c.Web.LoginWindow < time.Second || c.Web.LoginWindow > 24*time.Hour {
		return bad("web.login_window", "%s is not between 1s and 24h", c.Web.LoginWindow)
	}
	if len(c.Desk.Dispositions) == 0 {
		return bad("desk.dispositions", "at least one disposition is required")
	}
	seen := map[string]bool{}
	for _, d := range c.Desk.Dispositions {
		if len(d) > 64 || strings.ContainsAny(d, "<>\"\r\n\t") {
			return bad("desk.dispositions", "%q must be 1–64 characters without <, >, quotes or control characters", d)
		}
		if seen[d] {
			return bad("desk.dispositions", "%q is listed twice", d)
		}
		seen[d] = true
	}
	if len(c.Desk.AwayReasons) == 0 {
		return bad("desk.away_reasons", "at least one reason is required")
	}
	for _, r := range c.Desk.AwayReasons {
		if !awayReasonRE.MatchString(r) {
			return bad("desk.away_reasons", "%q must be 1–32 of a-z, 0-9, '-' or '_'", r)
		}
	}
	if c.Routing.HeartbeatTTL < time.Second || c.Routing.HeartbeatTTL > 5*time.Minute {
		return bad("routing.heartbeat_ttl", "%s is not between 1s and 5m", c.Routing.HeartbeatTTL)
	}
	switch c.Routing.OrphanPolicy {
	case "end", "requeue":
	default:
		return bad("routing.orphan_policy", "%q is not end or requeue", c.Routing.OrphanPolicy)
	}
	if strings.TrimSpace(c.SIP.Realm) == "" || strings.ContainsAny(c.SIP.Realm, "\" \t\r\n") {
		return bad("sip.realm", "%q: the realm must be a non-empty word without quotes or spaces", c.SIP.Realm)
	}
	if c.MySQL.DSN == "" {
		return bad("mysql.dsn", "a DSN is required, such as user:password@tcp(127.0.0.1:3306)/ringdesk")
	}
	if cfg, err := store.ParseDSN(c.MySQL.DSN); err != nil {
		return bad("mysql.dsn", "%v", err)
	} else if cfg.DBName == "" {
		return bad("mysql.dsn", "the DSN names no database (…/ringdesk)")
	}
	if c.MySQL.MaxOpenConns < 1 || c.MySQL.MaxOpenConns > 1000 {
		return bad("mysql.max_open_conns", "%d is not between 1 and 1000", c.MySQL.MaxOpenConns)
	}
	if len(c.Redis.Addrs) == 0 {
		return bad("redis.addrs", "at least one address is required, such as 127.0.0.1:6379")
	}
	for _, a := range c.Redis.Addrs {
		// An absolute path is a Unix socket (go-redis dials it as one): one
		// server on this machine, cheaper per round trip than TCP loopback.
		if strings.HasPrefix(a, "/") {
			if len(c.Redis.Addrs) > 1 || c.Redis.MasterName != "" {
				return bad("redis.addrs", "%q: a Unix socket is one server; Cluster and Sentinel take host:port addresses", a)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return bad("redis.addrs", "%q is not host:port or a Unix socket path", a)
		}
	}
	if c.Redis.DB < 0 || c.Redis.DB > 15 {
		return bad("redis.db", "%d is not between 0 and 15", c.Redis.DB)
	}
	if c.Redis.DB != 0 && len(c.Redis.Addrs) > 1 && c.Redis.MasterName == "" {
		return bad("redis.db", "Redis Cluster has only database 0")
	}
	if !ringdeskSite(c.Redis.Site) {
		return bad("redis.site", "%q must be 1–32 letters, digits, '-' or '_'", c.Redis.Site)
	}
	if _, err := store.NewNormalizer(c.Phone.DefaultRegion); err != nil {
		return bad("phone.default_region", "%q is not an ISO 3166 region code such as GB, US or DE", c.Phone.DefaultRegion)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > time.Hour {
		return bad("shutdown_timeout", "%s is not between 1s and 1h", c.ShutdownTimeout)
	}
	return nil
}

// SIPHost returns the address phones reach Ringdesk at: sip.advertise_host,
// else the UDP listen host, else (listening on every address) the first
// global unicast address of the machine, else 127.0.0.1. guessed is true in
// the last two cases, so that serve can say so.
func (c *Config) SIPHost() (host string, guessed bool) {
	if c.SIP.AdvertiseHost != "" {
		return c.SIP.AdvertiseHost, false
	}
	if h, _, err := net.SplitHostPort(c.SIP.ListenUDP); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
		return h, false
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String(), true
		}
	}
	return "127.0.0.1", true
}

// NodeID returns the configured node name, or the host name made safe.
func (c *Config) NodeID() string {
	if c.Node != "" {
		return c.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "ringdesk"
	}
	var b strings.Builder
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	id := b.String()
	if len(id) > 32 {
		id = id[:32]
	}
	return id
}

var awayReasonRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

func ringdeskSite(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// configFlags registers --config and one flag per key on fs; after Parse,
// the returned function gives the config path and the flags that were set.
func configFlags(fs *flag.FlagSet) func() (string, map[string]string) {
	path := fs.String("config", "", "YAML configuration file (see configs/ringdesk.example.yaml); env RINGDESK_CONFIG")
	c := DefaultConfig()
	for _, k := range c.keys() {
		fs.String(k.name, "", k.help+" (env "+envName(k.name)+")")
	}
	return func() (string, map[string]string) {
		set := map[string]string{}
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "config" {
				set[f.Name] = f.Value.String()
			}
		})
		return *path, set
	}
}
