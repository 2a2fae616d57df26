package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/settings"
)

// Config is every setting of the gateway; docs/settings.md explains them
// for operators.
//
// A field with an `env` tag is one setting: an environment variable and a
// flag of the same name (LISTEN_ADDR / -listen-addr; the flag wins), read
// by package settings (github.com/sethvargo/go-envconfig) with the tag's
// default; `help` is its line in -help. Adding a setting is adding a
// field, plus a check in Validate where its type does not say everything.
// Every setting is:
//   - trimmed of surrounding spaces; an empty variable counts as unset;
//   - a list ([]string) when comma-separated, empty items dropped;
//   - a positive duration when a time.Duration;
//   - masked in the start-up log when its name ends in _SECRET, _TOKEN,
//     _PASSWORD, _KEY or _KEYS, or its field says secret:"true"; a password
//     in a URL is always masked.
type Config struct {
	ListenAddr         string        `env:"LISTEN_ADDR, default=:8080" help:"where the HTTP server listens"`
	MetricsAddr        string        `env:"METRICS_ADDR" help:"where /metrics is served instead of LISTEN_ADDR, e.g. :9090 (unset: on LISTEN_ADDR)"`
	ExtendBaseURL      string        `env:"EXTEND_BASE_URL" help:"Extend Commerce API base URL (unset: demo mode)"`
	ExtendClientID     string        `env:"EXTEND_CLIENT_ID" help:"Extend Commerce OAuth2 client id"`
	ExtendClientSecret string        `env:"EXTEND_CLIENT_SECRET" help:"Extend Commerce OAuth2 client secret"`
	ExtendTimeout      time.Duration `env:"EXTEND_TIMEOUT, default=3s" help:"most time one request may wait on the ERP, retries included"`
	RedisURL           string        `env:"REDIS_URL" help:"Redis URL, e.g. redis://127.0.0.1:6379/0, or a Redis Cluster: redis://host1:port1?addr=host2:port2&addr=host3:port3 (unset: in-process cache)"`
	RedisKeyPrefix     string        `env:"REDIS_KEY_PREFIX" help:"prefix of every Redis key the gateway writes, so several shops can share one Redis or Redis Cluster (e.g. shop1:)"`
	VendreAPIKeys      []string      `env:"VENDRE_API_KEYS" help:"comma-separated keys Vendre may present"`
	VendreKeyHeader    string        `env:"VENDRE_KEY_HEADER" help:"one more header that may carry Vendre's key, besides X-Api-Key and Authorization: Bearer"`
	VendreParamAliases []string      `env:"VENDRE_PARAM_ALIASES" help:"Vendre's names for the parameters, alias=name,... (e.g. kundnr=customer_no,fran=from,till=to)"`
	AdminToken         string        `env:"ADMIN_TOKEN" help:"bearer token for /admin/* (unset: admin answers 404)"`
	WebhookSecrets     []string      `env:"EXTEND_WEBHOOK_SECRET" help:"comma-separated secrets that sign Extend webhooks (unset: webhooks answer 404)"`
	PublicBaseURL      string        `env:"PUBLIC_BASE_URL, default=http://localhost:8080" help:"the gateway's public URL, for pdf_link"`
	CacheTTLList       time.Duration `env:"CACHE_TTL_LIST, default=60s" help:"freshness of list answers"`
	CacheTTLDetail     time.Duration `env:"CACHE_TTL_DETAIL, default=5m" help:"freshness of single answers"`
	CacheStaleFor      time.Duration `env:"CACHE_STALE_FOR, default=24h" help:"how long a stale answer may still be served while the ERP fails"`
	CacheSweepEvery    time.Duration `env:"CACHE_SWEEP_EVERY, default=5m" help:"period of the sweep of Extend's changed orders and invoices: how far order and invoice answers may be behind the ERP"`
	CacheKeepFor       time.Duration `env:"CACHE_KEEP_FOR, default=168h" help:"how long order and invoice answers and records are kept while Extend announces no change"`
	Locale             string        `env:"LOCALE, default=sv-SE" help:"how money and country names are shown"`
	Currency           string        `env:"CURRENCY, default=SEK" help:"the shop's currency"`
	Timezone           string        `env:"TIMEZONE, default=Europe/Stockholm" help:"the merchant's time zone"`
	DocumentSecret     string        `env:"DOCUMENT_SECRET" help:"key for pdf_link tokens, the same on every replica (unset: derived from EXTEND_CLIENT_SECRET; in demo mode drawn at random at each start)"`
	LogLevel           string        `env:"LOG_LEVEL, default=info" help:"debug, info, warn or error"`

	// Protection of the ERP and of the gateway (erpguard, ratelimit);
	// docs/budget.md. ExtendRateLimit is unset until Validate (300/1m) or,
	// in demo mode, the simulator (its own) sets it.
	ExtendRateLimit          erpBudget       `env:"EXTEND_RATE_LIMIT" help:"ERP calls Extend allows per rate-limit group in any window, all replicas together, as N/duration (unset: 300/1m; demo mode: the simulator's own)"`
	ExtendMaxPause           time.Duration   `env:"EXTEND_MAX_PAUSE, default=5m" help:"the longest pause taken when Extend asks the gateway to wait (429, Retry-After)"`
	ExtendInteractiveReserve share           `env:"EXTEND_INTERACTIVE_RESERVE, default=20%" help:"share of each window that webhook refreshes and background work leave to callers who wait"`
	ExtendBackgroundFloor    share           `env:"EXTEND_BACKGROUND_FLOOR, default=10%" help:"share of each window that pushers and sweeps may always spend while they have work"`
	ERPMaxConcurrency        int             `env:"ERP_MAX_CONCURRENCY, default=32" help:"most ERP calls in flight per replica; more get a stale answer or a fast 503"`
	RateLimitPerKey          ratelimit.Limit `env:"RATE_LIMIT_PER_KEY, default=1000/1s" help:"abuse limit: most requests per Vendre API key and replica that are not cache hits (N/duration, or off); over it 429"`
	AuthFailureLimit         ratelimit.Limit `env:"AUTH_FAILURE_LIMIT, default=100/10m" help:"most failed attempts at a credential per source address (N/duration, or off); more get 429 until the budget refills"`
	TrustedProxies           []string        `env:"TRUSTED_PROXIES" help:"comma-separated addresses or CIDRs of proxies whose X-Forwarded-For names the client, besides loopback, link-local and private addresses"`
	RateLimitPerDocument     ratelimit.Limit `env:"RATE_LIMIT_PER_DOCUMENT, default=30/1m" help:"most downloads of one document (pdf_link) per replica (N/duration, or off); more get 429"`
	RateLimitDocsPerCustomer ratelimit.Limit `env:"RATE_LIMIT_DOCUMENTS_PER_CUSTOMER, default=60/1m" help:"most document downloads per customer and replica (N/duration, or off); more get 429"`

	// Pushers: pushers.go.
	Push PushConfig
	// RetailCRM as an order source and warehouse module: retailcrm.go.
	CRM RetailCRMConfig
	// The Baselinker connector: baselinker.go.
	Baselinker BaselinkerConfig

	// Location is Timezone, loaded by Validate; not a setting.
	Location *time.Location
	// TrustedProxyNets is TrustedProxies, parsed by Validate; not a setting.
	TrustedProxyNets []*net.IPNet
}

// erpBudget is EXTEND_RATE_LIMIT: a ratelimit.Limit that Extend always
// has, so "off" and "0" are refused, and so is a budget too small to
// serve one customer.
type erpBudget struct{ ratelimit.Limit }

// UnmarshalText reads N/duration.
func (b *erpBudget) UnmarshalText(t []byte) error {
	l, err := ratelimit.Parse(string(t))
	if err != nil {
		return err
	}
	if l.N < 10 {
		return fmt.Errorf("the ERP always has a budget and one customer's cold list needs 26 calls: want Extend's limit, at least 10 calls, such as 300/1m, got %q", t)
	}
	b.Limit = l
	return nil
}

// String is the budget as the start-up log shows it.
func (b erpBudget) String() string {
	if !b.Enabled() {
		return "unset"
	}
	return b.Limit.String()
}

// share is a share of the ERP's budget from 0 to 50 %, written 20% or 20.
type share float64

// UnmarshalText reads a share.
func (s *share) UnmarshalText(t []byte) error {
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(string(t)), "%"), 64)
	if err != nil || f < 0 || f > 50 {
		return fmt.Errorf("want a share of the ERP's budget from 0%% to 50%%, such as 20%%, got %q", t)
	}
	*s = share(f / 100)
	return nil
}

// String writes s as a percentage.
func (s share) String() string { return strconv.FormatFloat(float64(s)*100, 'f', -1, 64) + "%" }

// Demo reports whether the gateway runs against its simulated ERP.
func (c *Config) Demo() bool { return c.ExtendBaseURL == "" }

// Shape is where Vendre's calls carry their key and parameters
// (VENDRE_KEY_HEADER, VENDRE_PARAM_ALIASES; Validate checked both).
func (c *Config) Shape() handlers.ShapeConfig {
	aliases, _ := handlers.ParseAliases(c.VendreParamAliases)
	return handlers.ShapeConfig{KeyHeader: c.VendreKeyHeader, Aliases: aliases}
}

// demoKey is the Vendre API key in demo mode.
const demoKey = "demo"

// parseConfig reads the settings from getenv, then from args (flags), and
// validates them. The error lists every bad setting, one line each, each
// naming its variable. The second result is what follows the flags.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer) (*Config, []string, error) {
	cfg := &Config{}
	rest, errs, err := settings.Parse(name, cfg, args, getenv, out)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return cfg, rest, nil
}

// problems collects what is wrong with the settings, one error each.
type problems []error

// add notes that env is wrong, and why.
func (p *problems) add(env, format string, a ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", env, fmt.Sprintf(format, a...)))
}

// Validate checks the settings together and loads the time zone. The
// error lists every problem, one line each.
func (c *Config) Validate() error {
	var p problems
	for _, check := range []func(*problems){
		c.checkListeners, c.checkExtend, c.checkURLs, c.checkVendre, c.checkERPLimits,
		c.checkLogAndTime, c.checkProxies,
		c.validatePushers,    // pushers.go
		c.validateBaselinker, // baselinker.go
	} {
		check(&p)
	}
	return errors.Join(p...)
}

// checkListeners checks LISTEN_ADDR and METRICS_ADDR.
func (c *Config) checkListeners(p *problems) {
	if c.ListenAddr == "" {
		p.add("LISTEN_ADDR", "must not be empty")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.ListenAddr && !strings.HasSuffix(c.ListenAddr, ":0") {
		p.add("METRICS_ADDR", "must differ from LISTEN_ADDR (unset it to serve /metrics there)")
	}
}

// checkExtend checks, outside demo mode, what the real ERP needs: its URL
// and credentials, Vendre's keys and the secrets' lengths.
func (c *Config) checkExtend(p *problems) {
	if c.Demo() {
		return
	}
	if err := checkURL(c.ExtendBaseURL); err != nil {
		p.add("EXTEND_BASE_URL", "%v", err)
	}
	for _, r := range []struct{ env, v string }{
		{"EXTEND_CLIENT_ID", c.ExtendClientID}, {"EXTEND_CLIENT_SECRET", c.ExtendClientSecret},
	} {
		if r.v == "" {
			p.add(r.env, "required when EXTEND_BASE_URL is set")
		}
	}
	if len(c.VendreAPIKeys) == 0 {
		p.add("VENDRE_API_KEYS", "required outside demo mode")
	}
	c.checkSecrets(p)
}

// checkURLs checks REDIS_URL and PUBLIC_BASE_URL, and drops the latter's
// trailing slash.
func (c *Config) checkURLs(p *problems) {
	if c.RedisURL != "" {
		if _, err := cache.ParseRedisURL(c.RedisURL); err != nil {
			p.add("REDIS_URL", "%v: want redis://host:port/db, rediss://, unix://, or a Redis Cluster as redis://host1:port1?addr=host2:port2&addr=host3:port3", err)
		}
	}
	if msg := keyPrefixProblem(c.RedisKeyPrefix); msg != "" {
		p.add("REDIS_KEY_PREFIX", "%s", msg)
	}
	if err := checkURL(c.PublicBaseURL); err != nil {
		p.add("PUBLIC_BASE_URL", "%v", err)
	} else if !c.Demo() && !strings.HasPrefix(c.PublicBaseURL, "https://") {
		p.add("PUBLIC_BASE_URL", "must be https:// outside demo mode (customers open pdf_link in their browser)")
	}
	c.PublicBaseURL = strings.TrimRight(c.PublicBaseURL, "/")
}

// checkVendre checks where Vendre's calls carry their key and parameters.
func (c *Config) checkVendre(p *problems) {
	if err := handlers.CheckKeyHeader(c.VendreKeyHeader); err != nil {
		p.add("VENDRE_KEY_HEADER", "%v", err)
	}
	if _, err := handlers.ParseAliases(c.VendreParamAliases); err != nil {
		p.add("VENDRE_PARAM_ALIASES", "%v", err)
	}
}

// checkERPLimits checks the ERP's timeout, pauses and concurrency, and
// sets Extend's standard budget when EXTEND_RATE_LIMIT is unset outside
// demo mode.
func (c *Config) checkERPLimits(p *problems) {
	if c.ExtendTimeout > 60*time.Second {
		p.add("EXTEND_TIMEOUT", "at most 60s")
	}
	if !c.ExtendRateLimit.Enabled() && !c.Demo() {
		c.ExtendRateLimit.Limit = erpguard.DefaultLimit // Extend's standard
	}
	if c.ExtendMaxPause < time.Second || c.ExtendMaxPause > time.Hour {
		p.add("EXTEND_MAX_PAUSE", "want 1s to 1h (a pause lasts minutes, not hours), got %s", c.ExtendMaxPause)
	}
	if c.ERPMaxConcurrency < 1 || c.ERPMaxConcurrency > 10000 {
		p.add("ERP_MAX_CONCURRENCY", "want a whole number from 1 to 10000, got %d", c.ERPMaxConcurrency)
	}
}

// checkLogAndTime checks LOG_LEVEL, and loads TIMEZONE into Location.
func (c *Config) checkLogAndTime(p *problems) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		p.add("LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if loc, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		p.add("TIMEZONE", "unknown time zone %q", c.Timezone)
	} else {
		c.Location = loc
	}
}

// checkProxies parses TRUSTED_PROXIES into TrustedProxyNets.
func (c *Config) checkProxies(p *problems) {
	c.TrustedProxyNets = nil
	for _, s := range c.TrustedProxies {
		n, err := parseNet(s)
		if err != nil {
			p.add("TRUSTED_PROXIES", "want addresses or CIDRs such as 35.191.0.0/16, got %q", s)
			continue
		}
		c.TrustedProxyNets = append(c.TrustedProxyNets, n)
	}
}

// MinSecret is the fewest characters a secret the merchant chooses may
// have outside demo mode.
const MinSecret = 16

// checkSecrets refuses the secrets the merchant chooses when they are
// shorter than MinSecret: a caller can try an API key, an admin token or a
// webhook token online, and anyone holding one pdf_link can try document
// keys offline. EXTEND_CLIENT_SECRET is Extend's to choose; when
// DOCUMENT_SECRET is unset the document key is derived from it, so then it
// must be long enough, or DOCUMENT_SECRET set.
func (c *Config) checkSecrets(p *problems) {
	for _, s := range []struct {
		env  string
		vals []string
	}{
		{"VENDRE_API_KEYS", c.VendreAPIKeys},
		{"ADMIN_TOKEN", []string{c.AdminToken}},
		{"EXTEND_WEBHOOK_SECRET", c.WebhookSecrets},
		{"DOCUMENT_SECRET", []string{c.DocumentSecret}},
		{"STOCK_WEBHOOK_SECRET", []string{c.Push.StockWebhookSecret}},
		// VENDRE_WEBHOOK_TOKEN: validatePushers, also in demo mode.
	} {
		for _, v := range s.vals {
			if v != "" && utf8.RuneCountInString(v) < MinSecret {
				p.add(s.env, "every secret must be at least %d characters outside demo mode", MinSecret)
				break
			}
		}
	}
	if c.DocumentSecret == "" && c.ExtendClientSecret != "" && utf8.RuneCountInString(c.ExtendClientSecret) < MinSecret {
		p.add("DOCUMENT_SECRET", "required (at least %d characters) when EXTEND_CLIENT_SECRET, which pdf_link tokens are otherwise signed with, is shorter", MinSecret)
	}
}

// parseNet reads a CIDR, or one address as a network of one.
func parseNet(s string) (*net.IPNet, error) {
	if _, n, err := net.ParseCIDR(s); err == nil {
		return n, nil
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("not an address or CIDR: %q", s)
	}
	bits := 128
	if ip.To4() != nil {
		ip, bits = ip.To4(), 32
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
}

// checkURL accepts an absolute http(s) URL with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// LogValue lists every setting for the start-up log, by its variable's
// name in lower case, secrets masked.
func (c *Config) LogValue() []any {
	return append([]any{"demo", c.Demo()}, settings.Log(c)...)
}

// keyPrefixProblem says what is wrong with a REDIS_KEY_PREFIX, "" when
// nothing: at most 32 printable ASCII characters without spaces or braces,
// since a brace would change the hash tags that keep each operation's keys
// in one Redis Cluster slot.
func keyPrefixProblem(prefix string) string {
	if len(prefix) > 32 {
		return "at most 32 characters"
	}
	for _, r := range prefix {
		if r <= ' ' || r > '~' || r == '{' || r == '}' {
			return fmt.Sprintf("%q: printable ASCII without spaces, '{' or '}'", prefix)
		}
	}
	return ""
}

// cachePrefix, queuePrefix and guardPrefix are the Redis namespaces of
// the cache, of durable work (webhooks, pushers' state, connectors) and
// of the ERP budget, each under REDIS_KEY_PREFIX. The queues are apart
// from the cache's so that a cache flush never reaches them.
func (c *Config) cachePrefix() string { return c.RedisKeyPrefix + cache.DefaultRedisPrefix }
func (c *Config) queuePrefix() string { return c.RedisKeyPrefix + "gwq:" }
func (c *Config) guardPrefix() string { return c.RedisKeyPrefix + erpguard.DefaultKeyPrefix }
