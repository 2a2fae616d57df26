package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/retailcrm/crmsim"
)

func TestPusherConfigErrors(t *testing.T) {
	base := map[string]string{
		"EXTEND_BASE_URL": "http://erp.test", "EXTEND_CLIENT_ID": "id", "EXTEND_CLIENT_SECRET": "erp-secret-0123456789",
		"VENDRE_API_KEYS": "vendre-key-0123456789", "REDIS_URL": "redis://127.0.0.1:6379/0", "PUBLIC_BASE_URL": "https://gw.test",
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
	// crm is with a RetailCRM account.
	crm := func(kv ...string) map[string]string {
		return with(append([]string{"RETAILCRM_URL", "https://crm.test", "RETAILCRM_API_KEY", "k"}, kv...)...)
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
		{"xsale status ids", with("XSALE_STATUS_IDS", "1,Nowe"), "XSALE_STATUS_IDS"},
		{"xsale channels", with("XSALE_CHANNELS", "0"), "XSALE_CHANNELS"},
		{"xsale created from", with("XSALE_CREATED_FROM", "20.11.2026"), "XSALE_CREATED_FROM"},
		{"xsale filters", with("XSALE_STATUS_IDS", "1, 7", "XSALE_CHANNELS", "3", "XSALE_CREATED_FROM", "2026-11-01"), ""},
		{"crm source", crm("ORDER_SOURCES", "retailcrm", "RETAILCRM_ERP_CUSTOMER", "10002"), ""},
		{"crm source needs a customer", crm("ORDER_SOURCES", "retailcrm"), "RETAILCRM_ERP_CUSTOMER"},
		{"crm source needs a key", crm("ORDER_SOURCES", "retailcrm", "RETAILCRM_ERP_CUSTOMER", "1", "RETAILCRM_API_KEY", ""), "RETAILCRM_API_KEY"},
		{"crm module", crm("RETAILCRM_MODULE_CODE", "extend-gw", "RETAILCRM_CLIENT_ID", "0123456789abcdef"), ""},
		{"crm module code", crm("RETAILCRM_MODULE_CODE", "Extend GW", "RETAILCRM_CLIENT_ID", "0123456789abcdef"), "RETAILCRM_MODULE_CODE"},
		{"crm short client id", crm("RETAILCRM_MODULE_CODE", "gw", "RETAILCRM_CLIENT_ID", "short"), "RETAILCRM_CLIENT_ID"},
		{"crm client id alone", crm("RETAILCRM_CLIENT_ID", "0123456789abcdef"), "RETAILCRM_MODULE_CODE"},
		{"crm module needs redis", crm("RETAILCRM_MODULE_CODE", "gw", "RETAILCRM_CLIENT_ID", "0123456789abcdef", "REDIS_URL", ""), "REDIS_URL"},
		{"crm module needs the URL", crm("RETAILCRM_MODULE_CODE", "gw", "RETAILCRM_CLIENT_ID", "0123456789abcdef", "RETAILCRM_URL", ""), "RETAILCRM_URL"},
		{"crm poll period", crm("RETAILCRM_POLL_EVERY", "soon"), "RETAILCRM_POLL_EVERY"},
		{"baselinker", with("BASELINKER_PASSWORD", "bl-pass-123456", "BASELINKER_ERP_CUSTOMER", "10002"), ""},
		{"baselinker customer", with("BASELINKER_PASSWORD", "bl-pass-123456"), "BASELINKER_ERP_CUSTOMER"},
		{"baselinker short password", with("BASELINKER_PASSWORD", "short", "BASELINKER_ERP_CUSTOMER", "10002"), "BASELINKER_PASSWORD"},
		{"baselinker needs redis", with("BASELINKER_PASSWORD", "bl-pass-123456", "BASELINKER_ERP_CUSTOMER", "10002", "REDIS_URL", ""), "REDIS_URL"},
		{"baselinker vendre orders", with("BASELINKER_PASSWORD", "bl-pass-123456", "BASELINKER_ERP_CUSTOMER", "10002",
			"BASELINKER_VENDRE_ORDERS", "true"), "BASELINKER_VENDRE_ORDERS"},
		{"baselinker vendre flag", with("BASELINKER_VENDRE_ORDERS", "maybe"), "BASELINKER_VENDRE_ORDERS"},
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

// TestRetailCRMRegisterCommand: `gateway retailcrm register` sends the
// module to RetailCRM once and says so; RetailCRM refusing is an error.
func TestRetailCRMRegisterCommand(t *testing.T) {
	crm := crmsim.New()
	srv := httptest.NewServer(crm)
	defer srv.Close()
	env := map[string]string{"RETAILCRM_URL": srv.URL, "RETAILCRM_API_KEY": crmsim.APIKey, "REDIS_URL": "redis://127.0.0.1:6379/0",
		"RETAILCRM_MODULE_CODE": "extend-gw", "RETAILCRM_CLIENT_ID": "0123456789abcdef", "PUBLIC_BASE_URL": "https://gw.example.test",
		"STOCK_SINKS": "retailcrm"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"retailcrm", "register"}, envMap(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, n := crm.Module("extend-gw")
	if n != 1 || !strings.Contains(string(raw), `"baseUrl":"https://gw.example.test/retailcrm"`) ||
		!strings.Contains(out.String(), "inventoriesUpload at https://gw.example.test/retailcrm/inventories-upload") {
		t.Errorf("registered %d times: %s; printed %q", n, raw, out.String())
	}
	env["RETAILCRM_API_KEY"] = "wrong"
	err := run(context.Background(), []string{"retailcrm", "register"}, envMap(env), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "apiKey") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("with a wrong key: %v, want RetailCRM's message without the key", err)
	}
	if err := run(context.Background(), []string{"retailcrm"}, envMap(env), &out, io.Discard); err == nil {
		t.Error("retailcrm without register: no error")
	}
}
