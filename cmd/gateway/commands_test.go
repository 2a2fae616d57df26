package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/erp/extendsim"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestProbeDemo: against the demo ERP every answer fits: exit 0.
func TestProbeDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	err := probe(context.Background(), []string{"-customer", "10001", "-days", "120"}, envMap(nil), &out, &errOut)
	if err != nil {
		t.Fatalf("probe against the demo ERP: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), " 0 failed") || strings.Contains(out.String(), "FAIL") ||
		!strings.Contains(out.String(), "ok   order") || !strings.Contains(out.String(), "ok   invoice") {
		t.Errorf("report is not all green:\n%s", out.String())
	}
}

// brokenOrder is an Extend Commerce double: extendsim, except that the
// order named bad comes with a field that breaks Vendre's schema.
func brokenOrder(t *testing.T, sim *extendsim.Server, bad, field string, value any) *httptest.Server {
	t.Helper()
	record := regexp.MustCompile(`/CustomerOrders/` + regexp.QuoteMeta(bad) + `$`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !record.MatchString(r.URL.Path) {
			sim.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var o map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
			t.Errorf("double: %v", err)
		}
		o[field] = value
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(o)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProbeBrokenField: against an ERP whose order carries a field that
// does not fit, probe fails and names the order, the field and what to do.
func TestProbeBrokenField(t *testing.T) {
	sim := extendsim.New(extendsim.Options{ClientID: "probe", ClientSecret: probeSecret, Customers: -1})
	bad := sim.Cases().MultiVATOrder
	srv := brokenOrder(t, sim, bad, "Status", "Teleported")
	env := probeEnv(srv.URL)
	var out, errOut bytes.Buffer
	err := probe(context.Background(), []string{"-customer", "10001", "-days", "120"}, env, &out, &errOut)
	if err == nil {
		t.Fatalf("probe passed an order with an unknown Status:\n%s", out.String())
	}
	report := out.String()
	t.Logf("err: %v\nreport:\n%s%s", err, report, errOut.String())
	var failLine string
	for l := range strings.Lines(report) {
		if strings.HasPrefix(l, "FAIL") {
			if !strings.Contains(l, bad) {
				t.Errorf("a FAIL line names another order than %s: %s", bad, l)
			}
			failLine += l
		}
	}
	for _, want := range []string{"order " + bad, "field /orders/0/status", "advice: Extend's Status"} {
		if !strings.Contains(report, want) {
			t.Errorf("report does not name %q", want)
		}
	}
	if failLine == "" {
		t.Error("no FAIL line")
	}
}

// probeSecret is the simulated ERP's client secret in the probe tests: 16
// characters or more, as outside demo mode every secret must be.
const probeSecret = "probe-secret-0123456789"

// probeEnv is the environment of a probe of the ERP at erpURL.
func probeEnv(erpURL string) func(string) string {
	return envMap(map[string]string{
		"EXTEND_BASE_URL": erpURL, "EXTEND_CLIENT_ID": "probe", "EXTEND_CLIENT_SECRET": probeSecret,
		"VENDRE_API_KEYS": "probe-key-0123456789", "PUBLIC_BASE_URL": "https://gateway.test",
	})
}

// TestProbeWrongType: a record whose field has the wrong JSON type (an
// object where Extend sends money) fails the probe with the field named,
// for amounts, numbers and text alike.
func TestProbeWrongType(t *testing.T) {
	for _, tt := range []struct {
		field string
		value any
	}{
		{"ShippingCost", map[string]any{"Amount": 49}},
		{"VatLines", []any{map[string]any{"Rate": []any{25}}}},
		{"Comment", 42},
		{"Rows", "none"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			sim := extendsim.New(extendsim.Options{ClientID: "probe", ClientSecret: probeSecret, Customers: -1})
			bad := sim.Cases().MultiVATOrder
			srv := brokenOrder(t, sim, bad, tt.field, tt.value)
			env := probeEnv(srv.URL)
			var out, errOut bytes.Buffer
			if err := probe(context.Background(), []string{"-customer", "10001", "-days", "120"}, env, &out, &errOut); err == nil {
				t.Fatalf("probe passed an order whose %s is %v", tt.field, tt.value)
			}
			var fail string
			for l := range strings.Lines(out.String()) {
				if strings.HasPrefix(l, "FAIL") {
					fail += l
				}
			}
			if !strings.Contains(fail, "order "+bad) || !strings.Contains(fail, tt.field) {
				t.Errorf("FAIL lines do not name order %s and field %s:\n%s", bad, tt.field, fail)
			}
			if !strings.Contains(out.String(), "     field ") || !strings.Contains(out.String(), "advice: ") {
				t.Errorf("no field line with advice:\n%s", out.String())
			}
		})
	}
}
