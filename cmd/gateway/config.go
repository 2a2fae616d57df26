package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Config is every setting of the gateway. Each comes from an environment
// variable and can be overridden by the flag of the same name
// (LISTEN_ADDR / -listen-addr); see shared/spec/contract.md.
type Config struct {
	ListenAddr         string
	ExtendBaseURL      string // "": demo mode
	ExtendClientID     string
	ExtendClientSecret string // secret
	ExtendTimeout      time.Duration
	RedisURL           string // "": in-process cache; may hold a password
	VendreAPIKeys      []string
	AdminToken         string // secret; "": admin endpoints answer 404
	WebhookSecrets     []string
	PublicBaseURL      string
	CacheTTLList       time.Duration
	CacheTTLDetail     time.Duration
	CacheStaleFor      time.Duration
	Locale             string
	Currency           string
	Timezone           string
	DocumentSecret     string // secret; "": derived from EXTEND_CLIENT_SECRET
	LogLevel           string

	// Location is Timezone, loaded by Validate.
	Location *time.Location
}

// Demo reports whether the gateway runs against its simulated ERP.
func (c *Config) Demo() bool { return c.ExtendBaseURL == "" }

// demoKey is the Vendre API key in demo mode.
const demoKey = "demo"

// setting is one variable: its name, default and what it fills.
type setting struct {
	env, def, usage string
	set             func(*Config, string) error
}

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = strings.TrimSpace(v); return nil }
}

func list(p func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*p(c) = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p(c) = append(*p(c), s)
			}
		}
		return nil
	}
}

func duration(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 30s or 5m, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

var settings = []setting{
	{"LISTEN_ADDR", ":8080", "where the HTTP server listens", str(func(c *Config) *string { return &c.ListenAddr })},
	{"EXTEND_BASE_URL", "", "Extend Commerce API base URL (unset: demo mode)", str(func(c *Config) *string { return &c.ExtendBaseURL })},
	{"EXTEND_CLIENT_ID", "", "Extend Commerce OAuth2 client id", str(func(c *Config) *string { return &c.ExtendClientID })},
	{"EXTEND_CLIENT_SECRET", "", "Extend Commerce OAuth2 client secret", str(func(c *Config) *string { return &c.ExtendClientSecret })},
	{"EXTEND_TIMEOUT", "3s", "most time one request may wait on the ERP, retries included", duration(func(c *Config) *time.Duration { return &c.ExtendTimeout })},
	{"REDIS_URL", "", "Redis URL, e.g. redis://127.0.0.1:6379/0 (unset: in-process cache)", str(func(c *Config) *string { return &c.RedisURL })},
	{"VENDRE_API_KEYS", "", "comma-separated keys Vendre may present in X-Api-Key", list(func(c *Config) *[]string { return &c.VendreAPIKeys })},
	{"ADMIN_TOKEN", "", "bearer token for /admin/* (unset: admin answers 404)", str(func(c *Config) *string { return &c.AdminToken })},
	{"EXTEND_WEBHOOK_SECRET", "", "comma-separated secrets that sign Extend webhooks (unset: webhooks answer 404)", list(func(c *Config) *[]string { return &c.WebhookSecrets })},
	{"PUBLIC_BASE_URL", "http://localhost:8080", "the gateway's public URL, for pdf_link", str(func(c *Config) *string { return &c.PublicBaseURL })},
	{"CACHE_TTL_LIST", "60s", "freshness of list answers", duration(func(c *Config) *time.Duration { return &c.CacheTTLList })},
	{"CACHE_TTL_DETAIL", "5m", "freshness of single answers", duration(func(c *Config) *time.Duration { return &c.CacheTTLDetail })},
	{"CACHE_STALE_FOR", "24h", "how long a stale answer may still be served while the ERP fails", duration(func(c *Config) *time.Duration { return &c.CacheStaleFor })},
	{"LOCALE", "sv-SE", "how money and country names are shown", str(func(c *Config) *string { return &c.Locale })},
	{"CURRENCY", "SEK", "the shop's currency", str(func(c *Config) *string { return &c.Currency })},
	{"TIMEZONE", "Europe/Stockholm", "the merchant's time zone", str(func(c *Config) *string { return &c.Timezone })},
	{"DOCUMENT_SECRET", "", "key for pdf_link tokens, the same on every replica (unset: derived from EXTEND_CLIENT_SECRET)", str(func(c *Config) *string { return &c.DocumentSecret })},
	{"LOG_LEVEL", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
}

// flagName turns LISTEN_ADDR into listen-addr.
func flagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(env, "_", "-"))
}

// parseConfig reads the settings from getenv, then from args (flags), and
// validates them. An error names the variable at fault in one line.
func parseConfig(name string, args []string, getenv func(string) string, out io.Writer) (*Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	vals := make([]string, len(settings))
	for i, s := range settings {
		def := s.def
		if v, ok := lookup(getenv, s.env); ok {
			def = v
		}
		fs.StringVar(&vals[i], flagName(s.env), def, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg := &Config{}
	for i, s := range settings {
		if err := s.set(cfg, vals[i]); err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", s.env, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	return cfg, fs.Args(), nil
}

// lookup returns an environment value; an empty value counts as unset.
func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

// Validate checks the settings together and loads the time zone.
func (c *Config) Validate() error {
	bad := func(env, format string, a ...any) error {
		return fmt.Errorf("config: %s: %s", env, fmt.Sprintf(format, a...))
	}
	if c.ListenAddr == "" {
		return bad("LISTEN_ADDR", "must not be empty")
	}
	if !c.Demo() {
		if err := checkURL(c.ExtendBaseURL); err != nil {
			return bad("EXTEND_BASE_URL", "%v", err)
		}
		if c.ExtendClientID == "" {
			return bad("EXTEND_CLIENT_ID", "required when EXTEND_BASE_URL is set")
		}
		if c.ExtendClientSecret == "" {
			return bad("EXTEND_CLIENT_SECRET", "required when EXTEND_BASE_URL is set")
		}
		if len(c.VendreAPIKeys) == 0 {
			return bad("VENDRE_API_KEYS", "required outside demo mode")
		}
	}
	for _, k := range c.VendreAPIKeys {
		if len(k) < 4 && !c.Demo() {
			return bad("VENDRE_API_KEYS", "every key must be at least 4 characters")
		}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return bad("REDIS_URL", "want redis://host:port/db, rediss:// or unix://")
		}
	}
	if err := checkURL(c.PublicBaseURL); err != nil {
		return bad("PUBLIC_BASE_URL", "%v", err)
	}
	c.PublicBaseURL = strings.TrimRight(c.PublicBaseURL, "/")
	if c.ExtendTimeout > 60*time.Second {
		return bad("EXTEND_TIMEOUT", "at most 60s")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return bad("TIMEZONE", "unknown time zone %q", c.Timezone)
	}
	c.Location = loc
	return nil
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

// LogValue lists the settings for the start-up log, secrets masked.
func (c *Config) LogValue() []any {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	redis := c.RedisURL
	if u, err := url.Parse(redis); err == nil && u.User != nil {
		u.User = url.User("***")
		redis = u.String()
	}
	return []any{
		"listen_addr", c.ListenAddr, "demo", c.Demo(), "extend_base_url", c.ExtendBaseURL,
		"extend_client_id", c.ExtendClientID, "extend_client_secret", mask(c.ExtendClientSecret),
		"extend_timeout", c.ExtendTimeout.String(), "redis_url", redis,
		"vendre_api_keys", fmt.Sprintf("%d key(s)", len(c.VendreAPIKeys)), "admin_token", mask(c.AdminToken),
		"extend_webhook_secret", fmt.Sprintf("%d secret(s)", len(c.WebhookSecrets)),
		"public_base_url", c.PublicBaseURL, "cache_ttl_list", c.CacheTTLList.String(),
		"cache_ttl_detail", c.CacheTTLDetail.String(), "cache_stale_for", c.CacheStaleFor.String(),
		"locale", c.Locale, "currency", c.Currency, "timezone", c.Timezone,
		"document_secret", mask(c.DocumentSecret),
	}
}
