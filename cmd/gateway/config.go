package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/ratelimit"
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

	// Pushers (shop-model.md): read by pushers.go.
	Push PushConfig

	// Protection of the ERP and of the gateway (erpguard, ratelimit).
	ExtendRateLimit      ratelimit.Limit // per Extend rate-limit group, all replicas together
	ERPMaxConcurrency    int             // ERP calls in flight per replica
	RateLimitPerKey      ratelimit.Limit // requests per Vendre API key
	RateLimitPerCustomer ratelimit.Limit // requests per customer_no

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

// limit reads a rate limit, N/duration or off (ratelimit.Parse).
func limit(p func(*Config) *ratelimit.Limit) func(*Config, string) error {
	return func(c *Config, v string) error {
		l, err := ratelimit.Parse(v)
		*p(c) = l
		return err
	}
}

// count reads a whole number from 1 to 10000.
func count(p func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 10000 {
			return fmt.Errorf("want a whole number from 1 to 10000, got %q", v)
		}
		*p(c) = n
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
	{"EXTEND_RATE_LIMIT", "300/1m", "most ERP calls per Extend rate-limit group in any window, all replicas together (N/duration)", limit(func(c *Config) *ratelimit.Limit { return &c.ExtendRateLimit })},
	{"ERP_MAX_CONCURRENCY", "32", "most ERP calls in flight per replica; more get a stale answer or a fast 503", count(func(c *Config) *int { return &c.ERPMaxConcurrency })},
	{"RATE_LIMIT_PER_KEY", "1000/1s", "most requests per Vendre API key (N/duration, or off); more get 429", limit(func(c *Config) *ratelimit.Limit { return &c.RateLimitPerKey })},
	{"RATE_LIMIT_PER_CUSTOMER", "60/1m", "most requests per customer_no (N/duration, or off); more get 429", limit(func(c *Config) *ratelimit.Limit { return &c.RateLimitPerCustomer })},
	// Pushers (shop-model.md "Settings"; wired in pushers.go).
	{"STOCK_SINKS", "", "comma list of vendre-file, retailcrm, webhook (unset: the stock pusher is off)", list(func(c *Config) *[]string { return &c.Push.StockSinks })},
	{"STOCK_SWEEP_EVERY", "5m", "period of the ProductAvailability sweep", duration(func(c *Config) *time.Duration { return &c.Push.StockSweepEvery })},
	{"STOCK_WAREHOUSES", "", "Extend warehouses that count towards the shop's stock (unset: all)", list(func(c *Config) *[]string { return &c.Push.StockWarehouses })},
	{"VENDRE_STOCK_DIR", "", "directory the stock files are written to", str(func(c *Config) *string { return &c.Push.VendreStockDir })},
	{"VENDRE_STOCK_FTP_URL", "", "ftp://user:pass@host:port/folder that Vendre polls", str(func(c *Config) *string { return &c.Push.VendreStockFTPURL })},
	{"RETAILCRM_URL", "", "RetailCRM account URL (for the retailcrm sink)", str(func(c *Config) *string { return &c.Push.RetailCRMURL })},
	{"RETAILCRM_API_KEY", "", "RetailCRM API key", str(func(c *Config) *string { return &c.Push.RetailCRMAPIKey })},
	{"RETAILCRM_STORES", "", "extendWarehouse:crmStoreCode,… (unset: each warehouse under its own name)", list(func(c *Config) *[]string { return &c.Push.RetailCRMStores })},
	{"STOCK_WEBHOOK_URL", "", "URL of the generic stock webhook sink", str(func(c *Config) *string { return &c.Push.StockWebhookURL })},
	{"STOCK_WEBHOOK_SECRET", "", "secret that signs the generic stock webhook (X-Signature)", str(func(c *Config) *string { return &c.Push.StockWebhookSecret })},
	{"ORDER_SOURCES", "", "comma list of vendre-webhook, xsale (unset: the order pusher is off)", list(func(c *Config) *[]string { return &c.Push.OrderSources })},
	{"VENDRE_WEBHOOK_TOKEN", "", "shared token Vendre sends with its order webhooks (X-Webhook-Token)", str(func(c *Config) *string { return &c.Push.VendreWebhookToken })},
	{"XSALE_URL", "", "xSale API base URL", str(func(c *Config) *string { return &c.Push.XSaleURL })},
	{"XSALE_ORGANIZATION", "", "xSale organisation name", str(func(c *Config) *string { return &c.Push.XSaleOrganization })},
	{"XSALE_TOKEN_URL", "", "xSale OAuth token URL (password grant)", str(func(c *Config) *string { return &c.Push.XSaleTokenURL })},
	{"XSALE_CLIENT_ID", "", "xSale OAuth client id", str(func(c *Config) *string { return &c.Push.XSaleClientID })},
	{"XSALE_CLIENT_SECRET", "", "xSale OAuth client secret", str(func(c *Config) *string { return &c.Push.XSaleClientSecret })},
	{"XSALE_USERNAME", "", "xSale API user", str(func(c *Config) *string { return &c.Push.XSaleUsername })},
	{"XSALE_PASSWORD", "", "xSale API user's password", str(func(c *Config) *string { return &c.Push.XSalePassword })},
	{"XSALE_STATUS_NEW", "Nowe", "xSale status of orders to import", str(func(c *Config) *string { return &c.Push.XSaleStatusNew })},
	{"XSALE_STATUS_IMPORTED", "Zaimportowano do ERP", "xSale status set after import", str(func(c *Config) *string { return &c.Push.XSaleStatusImported })},
	{"XSALE_STATUS_MANUAL", "Do obsługi ręcznej", "xSale status set when an order needs manual handling", str(func(c *Config) *string { return &c.Push.XSaleStatusManual })},
	{"XSALE_POLL_EVERY", "1m", "period of the xSale pull", duration(func(c *Config) *time.Duration { return &c.Push.XSalePollEvery })},
	{"XSALE_ERP_CUSTOMER", "", "Extend customer number marketplace orders are booked on", str(func(c *Config) *string { return &c.Push.XSaleERPCustomer })},
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
	return c.validatePushers() // pushers.go
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
		"extend_rate_limit", c.ExtendRateLimit.String(), "erp_max_concurrency", c.ERPMaxConcurrency,
		"rate_limit_per_key", c.RateLimitPerKey.String(), "rate_limit_per_customer", c.RateLimitPerCustomer.String(),
	}
}
