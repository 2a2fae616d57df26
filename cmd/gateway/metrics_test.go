package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsOffThePublicPort: with METRICS_ADDR set, /metrics is served
// there and nowhere else; without it, on the public port as before.
func TestMetricsOffThePublicPort(t *testing.T) {
	addrs := map[string]string{}
	public := startGateway(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0"}, addrs)
	if status, body := get(t, "http://"+public+"/metrics"); status != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("public GET /metrics with METRICS_ADDR set = %d %.100s, want the JSON 404", status, body)
	}
	if addrs["metrics"] == "" {
		t.Fatal("no metrics listener with METRICS_ADDR set")
	}
	if status, body := get(t, "http://"+addrs["metrics"]+"/metrics"); status != http.StatusOK || !strings.Contains(body, "http_server_request_duration_seconds") {
		t.Errorf("GET /metrics on METRICS_ADDR = %d %.100s, want the exposition", status, body)
	}
	if status, _ := get(t, "http://"+addrs["metrics"]+"/v1/orders?customer_no=10001"); status != http.StatusNotFound {
		t.Errorf("GET /v1/orders on METRICS_ADDR = %d, want 404: it serves metrics only", status)
	}

	alone := startGateway(t, nil)
	if status, body := get(t, "http://"+alone+"/metrics"); status != http.StatusOK || !strings.Contains(body, "# HELP") {
		t.Errorf("public GET /metrics without METRICS_ADDR = %d %.100s, want the exposition", status, body)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
