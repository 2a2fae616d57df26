package main

import (
	"io"
	"strings"
	"testing"
)

func TestPusherConfigErrors(t *testing.T) {
	base := map[string]string{
		"EXTEND_BASE_URL": "http://erp.test", "EXTEND_CLIENT_ID": "id", "EXTEND_CLIENT_SECRET": "s",
		"VENDRE_API_KEYS": "key-1234", "REDIS_URL": "redis://127.0.0.1:6379/0", "PUBLIC_BASE_URL": "https://gw.test",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable named; "" for no error
	}{
		{"none", with(), ""},
		{"unknown sink", with("STOCK_SINKS", "shopify"), "STOCK_SINKS"},
		{"unknown source", with("ORDER_SOURCES", "mail"), "ORDER_SOURCES"},
		{"pushers need redis", with("STOCK_SINKS", "vendre-file", "VENDRE_STOCK_DIR", dir, "REDIS_URL", ""), "REDIS_URL"},
		{"file sink needs a place", with("STOCK_SINKS", "vendre-file"), "VENDRE_STOCK_DIR"},
		{"file sink dir", with("STOCK_SINKS", "vendre-file", "VENDRE_STOCK_DIR", dir), ""},
		{"bad ftp url", with("STOCK_SINKS", "vendre-file", "VENDRE_STOCK_FTP_URL", "sftp://x/y"), "VENDRE_STOCK_FTP_URL"},
		{"retailcrm key", with("STOCK_SINKS", "retailcrm", "RETAILCRM_URL", "https://crm.test"), "RETAILCRM_API_KEY"},
		{"retailcrm stores", with("RETAILCRM_STORES", "HUV"), "RETAILCRM_STORES"},
		{"webhook secret", with("STOCK_SINKS", "webhook", "STOCK_WEBHOOK_URL", "https://hook.test"), "STOCK_WEBHOOK_SECRET"},
		{"short vendre token", with("ORDER_SOURCES", "vendre-webhook", "VENDRE_WEBHOOK_TOKEN", "short"), "VENDRE_WEBHOOK_TOKEN"},
		{"xsale customer", with("ORDER_SOURCES", "xsale", "XSALE_URL", "https://x.test", "XSALE_TOKEN_URL", "https://x.test/t",
			"XSALE_ORGANIZATION", "o", "XSALE_CLIENT_ID", "c", "XSALE_CLIENT_SECRET", "s", "XSALE_USERNAME", "u",
			"XSALE_PASSWORD", "p"), "XSALE_ERP_CUSTOMER"},
		{"sweep period", with("STOCK_SWEEP_EVERY", "0s"), "STOCK_SWEEP_EVERY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseConfig("gateway", nil, func(k string) string { return tt.env[k] }, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("parseConfig = %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("parseConfig = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
