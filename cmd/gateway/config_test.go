package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/settings"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, _, err := parseConfig("gateway", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Demo() || cfg.ListenAddr != ":8080" || cfg.ExtendTimeout != 3*time.Second ||
		cfg.CacheTTLList != time.Minute || cfg.CacheTTLDetail != 5*time.Minute || cfg.CacheStaleFor != 24*time.Hour ||
		cfg.Locale != "sv-SE" || cfg.Currency != "SEK" || cfg.Location.String() != "Europe/Stockholm" ||
		cfg.PublicBaseURL != "http://localhost:8080" || cfg.MetricsAddr != "" ||
		cfg.Push.DeadLetterRetention != 30*24*time.Hour || cfg.AuthFailureLimit != handlers.DefaultAuthFailures ||
		len(cfg.TrustedProxyNets) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}
}

// TestBudgetDefaults: Extend's standard budget outside demo mode; in demo
// mode none until the simulator gives its own.
func TestBudgetDefaults(t *testing.T) {
	prod := map[string]string{
		"EXTEND_BASE_URL": "https://erp.example.test/api/v1", "EXTEND_CLIENT_ID": "id",
		"EXTEND_CLIENT_SECRET": "s3cret-value-0123456789", "VENDRE_API_KEYS": "vendre-key-0123456789",
		"PUBLIC_BASE_URL": "https://gateway.example.test",
	}
	cfg, _, err := parseConfig("gateway", nil, envOf(prod), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ExtendRateLimit.Limit != (ratelimit.Limit{N: 300, Per: time.Minute}) || cfg.ExtendMaxPause != 5*time.Minute ||
		cfg.ExtendInteractiveReserve != 0.2 || cfg.ExtendBackgroundFloor != 0.1 {
		t.Errorf("budget = %v, pause %v, reserve %v, floor %v; want 300/1m, 5m, 0.2, 0.1",
			cfg.ExtendRateLimit, cfg.ExtendMaxPause, cfg.ExtendInteractiveReserve, cfg.ExtendBackgroundFloor)
	}
	demo, _, err := parseConfig("gateway", nil, envOf(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if demo.ExtendRateLimit.Enabled() {
		t.Errorf("demo budget = %v before the simulator starts, want unset", demo.ExtendRateLimit)
	}
}

func TestConfigFlagsOverrideEnv(t *testing.T) {
	env := envOf(map[string]string{"LISTEN_ADDR": ":9000", "EXTEND_TIMEOUT": "5s", "VENDRE_API_KEYS": " a1b2c3 , d4e5f6 ,"})
	cfg, _, err := parseConfig("gateway", []string{"-listen-addr", ":9100"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddr != ":9100" || cfg.ExtendTimeout != 5*time.Second {
		t.Errorf("ListenAddr %q ExtendTimeout %v, want :9100 (flag) and 5s (env)", cfg.ListenAddr, cfg.ExtendTimeout)
	}
	if got := strings.Join(cfg.VendreAPIKeys, "|"); got != "a1b2c3|d4e5f6" {
		t.Errorf("VendreAPIKeys = %q", got)
	}
}

// TestConfigErrors: a bad value stops the start with one line naming the
// variable.
// TestConfigErrors: each value below is a bad one that must stop the
// start with one line naming its variable. None overrides a default for a
// run: no deployment sets them, which is the point.
func TestConfigErrors(t *testing.T) {
	prod := map[string]string{
		"EXTEND_BASE_URL": "https://erp.example.test/api/v1", "EXTEND_CLIENT_ID": "id",
		"EXTEND_CLIENT_SECRET": "s3cret-value-0123456789", "VENDRE_API_KEYS": "vendre-key-0123456789",
		"PUBLIC_BASE_URL": "https://gateway.example.test",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range prod {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		env  map[string]string
		want string
	}{
		{with("EXTEND_TIMEOUT", "soon"), "EXTEND_TIMEOUT"},
		{with("EXTEND_TIMEOUT", "-1s"), "EXTEND_TIMEOUT"},
		{with("EXTEND_TIMEOUT", "10m"), "EXTEND_TIMEOUT"},
		{with("CACHE_TTL_LIST", "0"), "CACHE_TTL_LIST"},
		{with("CACHE_STALE_FOR", "1 day"), "CACHE_STALE_FOR"},
		{with("EXTEND_BASE_URL", "erp.example.test"), "EXTEND_BASE_URL"},
		{with("EXTEND_CLIENT_ID", ""), "EXTEND_CLIENT_ID"},
		{with("EXTEND_CLIENT_SECRET", ""), "EXTEND_CLIENT_SECRET"},
		{with("VENDRE_API_KEYS", " , "), "VENDRE_API_KEYS"},
		{with("VENDRE_API_KEYS", "abc"), "VENDRE_API_KEYS"},
		{with("REDIS_URL", "http://127.0.0.1:6379"), "REDIS_URL"},
		{with("REDIS_URL", "redis://:s3cret-value-0123456789@10.0.0.1:7000/1?addr=10.0.0.2:7000"), "REDIS_URL"},
		{with("REDIS_URL", "redis://:s3cret-value-0123456789@10.0.0.1:7000?addr=10.0.0.2"), "REDIS_URL"},
		{with("REDIS_URL", "redis://:s3cret-value-0123456789@[::1"), "REDIS_URL"},
		{with("REDIS_KEY_PREFIX", "{shop1}:"), "REDIS_KEY_PREFIX"},
		{with("REDIS_KEY_PREFIX", "shop 1:"), "REDIS_KEY_PREFIX"},
		{with("REDIS_KEY_PREFIX", strings.Repeat("s", 33)), "REDIS_KEY_PREFIX"},
		{with("PUBLIC_BASE_URL", "gateway.example.test"), "PUBLIC_BASE_URL"},
		{with("PUBLIC_BASE_URL", "http://gateway.example.test"), "PUBLIC_BASE_URL"},
		{with("VENDRE_KEY_HEADER", "X Key"), "VENDRE_KEY_HEADER"},
		{with("VENDRE_KEY_HEADER", "authorization"), "VENDRE_KEY_HEADER"},
		{with("VENDRE_PARAM_ALIASES", "kundnr=customer_no,page=from"), "VENDRE_PARAM_ALIASES"},
		{with("VENDRE_PARAM_ALIASES", "kundnr"), "VENDRE_PARAM_ALIASES"},
		{with("VENDRE_PARAM_ALIASES", "kundnr=kund"), "VENDRE_PARAM_ALIASES"},
		{with("TIMEZONE", "Mars/Olympus_Mons"), "TIMEZONE"},
		{with("LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{with("METRICS_ADDR", ":8080"), "METRICS_ADDR"},
		{with("DEAD_LETTER_RETENTION", "forever"), "DEAD_LETTER_RETENTION"},
		{with("DEAD_LETTER_RETENTION", "-1h"), "DEAD_LETTER_RETENTION"},
		{with("AUTH_FAILURE_LIMIT", "many"), "AUTH_FAILURE_LIMIT"},
		{with("TRUSTED_PROXIES", "10.0.0.0/8,lb.example.test"), "TRUSTED_PROXIES"},
		{with("EXTEND_RATE_LIMIT", "off"), "EXTEND_RATE_LIMIT"},
		{with("EXTEND_RATE_LIMIT", "0"), "EXTEND_RATE_LIMIT"},
		{with("EXTEND_RATE_LIMIT", "5/1m"), "EXTEND_RATE_LIMIT"},
		{with("EXTEND_RATE_LIMIT", "300"), "EXTEND_RATE_LIMIT"},
		{with("EXTEND_MAX_PAUSE", "24h"), "EXTEND_MAX_PAUSE"},
		{with("EXTEND_MAX_PAUSE", "10ms"), "EXTEND_MAX_PAUSE"},
		{with("EXTEND_INTERACTIVE_RESERVE", "80%"), "EXTEND_INTERACTIVE_RESERVE"},
		{with("EXTEND_INTERACTIVE_RESERVE", "-5%"), "EXTEND_INTERACTIVE_RESERVE"},
		{with("EXTEND_BACKGROUND_FLOOR", "60"), "EXTEND_BACKGROUND_FLOOR"},
		{with("EXTEND_BACKGROUND_FLOOR", "some"), "EXTEND_BACKGROUND_FLOOR"},
		{with("RATE_LIMIT_PER_DOCUMENT", "10"), "RATE_LIMIT_PER_DOCUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := parseConfig("gateway", nil, envOf(tt.env), io.Discard)
			if err == nil {
				t.Fatalf("parseConfig(%v) = nil error, want one naming %s", tt.env, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line naming %s", msg, tt.want)
			}
			if strings.Contains(msg, "s3cret-value-0123456789") {
				t.Errorf("error %q shows the secret", msg)
			}
		})
	}
}

// TestRedisClusterURL: REDIS_URL takes a Redis Cluster in go-redis's form.
func TestRedisClusterURL(t *testing.T) {
	env := envOf(map[string]string{"REDIS_URL": "redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000"})
	cfg, _, err := parseConfig("gateway", nil, env, io.Discard)
	if err != nil {
		t.Fatalf("a cluster's REDIS_URL refused: %v", err)
	}
	if cfg.RedisURL == "" {
		t.Error("REDIS_URL lost")
	}
}

// TestWeakSecretsRefused: outside demo mode a secret shorter than 16
// characters stops the start, with one line naming its variable and not
// showing it; demo mode takes any.
func TestWeakSecretsRefused(t *testing.T) {
	strong := map[string]string{
		"EXTEND_BASE_URL": "https://erp.example.test/api/v1", "EXTEND_CLIENT_ID": "id",
		"EXTEND_CLIENT_SECRET": "erp-secret-0123456789", "VENDRE_API_KEYS": "vendre-key-0123456789",
		"ADMIN_TOKEN": "admin-token-0123456789", "EXTEND_WEBHOOK_SECRET": "hook-secret-0123456789",
		"DOCUMENT_SECRET": "doc-secret-0123456789", "PUBLIC_BASE_URL": "https://gateway.example.test",
	}
	if _, _, err := parseConfig("gateway", nil, envOf(strong), io.Discard); err != nil {
		t.Fatalf("strong secrets refused: %v", err)
	}
	tests := []struct {
		env, value, want string
	}{
		{"ADMIN_TOKEN", "a", "ADMIN_TOKEN"},
		{"EXTEND_WEBHOOK_SECRET", "x", "EXTEND_WEBHOOK_SECRET"},
		{"EXTEND_WEBHOOK_SECRET", "hook-secret-0123456789,old", "EXTEND_WEBHOOK_SECRET"},
		{"VENDRE_API_KEYS", "vendre-key-0123456789,k3y4", "VENDRE_API_KEYS"},
		{"DOCUMENT_SECRET", "doc-secret", "DOCUMENT_SECRET"},
		{"STOCK_WEBHOOK_SECRET", "stock-secret", "STOCK_WEBHOOK_SECRET"},
		// pdf_link tokens are signed with a key derived from the ERP's
		// secret when DOCUMENT_SECRET is unset: a short one is guessable
		// from any link.
		{"EXTEND_CLIENT_SECRET", "short-erp", "DOCUMENT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			env := maps.Clone(strong)
			env[tt.env] = tt.value
			if tt.env == "EXTEND_CLIENT_SECRET" {
				delete(env, "DOCUMENT_SECRET")
			}
			_, _, err := parseConfig("gateway", nil, envOf(env), io.Discard)
			if err == nil {
				t.Fatalf("%s=%s accepted, want it refused", tt.env, tt.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || len(tt.value) > 3 && strings.Contains(msg, tt.value) {
				t.Errorf("error = %q, want one line naming %s, without the value", msg, tt.want)
			}
		})
	}
	demo := map[string]string{"ADMIN_TOKEN": "a", "EXTEND_WEBHOOK_SECRET": "x", "DOCUMENT_SECRET": "d"}
	if _, _, err := parseConfig("gateway", nil, envOf(demo), io.Discard); err != nil {
		t.Errorf("demo mode refused short secrets: %v", err)
	}
}

// TestConfigAllErrorsAtOnce: every bad setting is reported in one go, one
// line each, whether it does not decode or does not validate. The values
// are refused ones, none a setting anyone runs with.
func TestConfigAllErrorsAtOnce(t *testing.T) {
	env := envOf(map[string]string{
		"EXTEND_TIMEOUT": "soon", "CACHE_TTL_LIST": "-1s", "ERP_MAX_CONCURRENCY": "many",
		"RATE_LIMIT_PER_KEY": "fast", "XSALE_POLL_EVERY": "often", "LOG_LEVEL": "loud",
		"TIMEZONE": "Mars/Olympus_Mons", "STOCK_SINKS": "shopify", "REDIS_URL": "redis://127.0.0.1:6379/0",
	})
	_, _, err := parseConfig("gateway", nil, env, io.Discard)
	if err == nil {
		t.Fatal("parseConfig = nil error, want eight")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"EXTEND_TIMEOUT", "CACHE_TTL_LIST", "ERP_MAX_CONCURRENCY", "RATE_LIMIT_PER_KEY", "XSALE_POLL_EVERY", "LOG_LEVEL", "TIMEZONE", "STOCK_SINKS"}
	if len(lines) != len(want) {
		t.Fatalf("error has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for _, w := range want {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "config: "+w+": ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines name %s, want 1:\n%s", n, w, err)
		}
	}
}

// TestConfigEverySettingIsAFlag: each setting, pushers' included, has a
// flag of the same name that wins over the variable.
func TestConfigEverySettingIsAFlag(t *testing.T) {
	var help strings.Builder
	_, _, err := parseConfig("gateway", []string{"-h"}, envOf(nil), &help)
	if err == nil {
		t.Fatal("parseConfig(-h) = nil error, want flag.ErrHelp")
	}
	for _, s := range settings.Of(&Config{}) {
		flagged := strings.Contains(help.String(), "-"+settings.FlagName(s.Env)+" ") || strings.Contains(help.String(), "-"+settings.FlagName(s.Env)+"\n") // a bool has no value
		if !flagged || !strings.Contains(help.String(), "$"+s.Env) {
			t.Errorf("-help lacks -%s ($%s):\n%s", settings.FlagName(s.Env), s.Env, help.String())
		}
	}
	env := envOf(map[string]string{"XSALE_STATUS_NEW": "New", "STOCK_SWEEP_EVERY": "10m"})
	cfg, _, err := parseConfig("gateway", []string{"-xsale-status-new", "Fresh", "-stock-warehouses= HUV , ,Göteborg"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Push.XSaleStatusNew != "Fresh" || cfg.Push.StockSweepEvery != 10*time.Minute || strings.Join(cfg.Push.StockWarehouses, "|") != "HUV|Göteborg" {
		t.Errorf("Push = %+v, want XSaleStatusNew Fresh (flag), StockSweepEvery 10m (env), StockWarehouses [HUV Göteborg]", cfg.Push)
	}
}

// TestConfigLogMasksSecrets: the start-up log names every setting and
// never shows a secret.
func TestConfigLogMasksSecrets(t *testing.T) {
	env := envOf(map[string]string{
		"EXTEND_BASE_URL": "https://erp.example.test", "EXTEND_CLIENT_ID": "id", "PUBLIC_BASE_URL": "https://gw.example.test",
		"EXTEND_CLIENT_SECRET": "erp-secret-1", "VENDRE_API_KEYS": "vendre-key-1-0123456789",
		"ADMIN_TOKEN": "admin-token-1-0123456789", "EXTEND_WEBHOOK_SECRET": "hook-secret-1-0123456789",
		"DOCUMENT_SECRET": "doc-secret-1-0123456789", "REDIS_URL": "redis://user:redis-pass-1@127.0.0.1:6379/0",
		"RETAILCRM_API_KEY": "crm-key-1", "STOCK_WEBHOOK_SECRET": "stock-secret-1-0123456789",
		"VENDRE_WEBHOOK_TOKEN": "vendre-token-1-0123456789", "XSALE_CLIENT_SECRET": "xsale-secret-1",
		"XSALE_PASSWORD": "xsale-pass-1", "VENDRE_STOCK_FTP_URL": "ftp://u:ftp-pass-1@ftp.test/stock",
	})
	cfg, _, err := parseConfig("gateway", nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprint(cfg.LogValue()...)
	for _, s := range []string{"erp-secret-1", "vendre-key-1", "admin-token-1", "hook-secret-1", "doc-secret-1", "redis-pass-1",
		"crm-key-1", "stock-secret-1", "vendre-token-1", "xsale-secret-1", "xsale-pass-1", "ftp-pass-1"} {
		if strings.Contains(line, s) {
			t.Errorf("start-up log shows %q: %s", s, line)
		}
	}
	kv := cfg.LogValue()
	for _, s := range settings.Of(cfg) {
		if !slices.Contains(kv, any(strings.ToLower(s.Env))) {
			t.Errorf("start-up log lacks %s", s.Env)
		}
	}
}

// TestConfigDocumented: every setting is explained in docs/settings.md,
// so that adding a field to Config without its line there fails here.
func TestConfigDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "settings.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings.Of(&Config{}) {
		if !strings.Contains(string(doc), "`"+s.Env+"`") {
			t.Errorf("docs/settings.md does not explain %s", s.Env)
		}
	}
}
