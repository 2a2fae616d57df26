package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServeDemo starts the gateway in demo mode as main would, reads
// customer 10001's orders over real HTTP, and shuts it down.
func TestServeDemo(t *testing.T) {
	base := "http://" + startGateway(t, nil)
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/orders?customer_no=10001", nil)
	req.Header.Set("X-Api-Key", "demo")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"customer_no":"10001"`) {
		t.Errorf("GET /v1/orders = %d %s, want 200 with customer 10001's orders", res.StatusCode, body)
	}
}

func TestRunUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"fly"}, envOf(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "fly") {
		t.Errorf("run(fly) = %v, want an error naming the command", err)
	}
}

func TestRunBadConfig(t *testing.T) {
	err := run(context.Background(), nil, envOf(map[string]string{"EXTEND_TIMEOUT": "x"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "EXTEND_TIMEOUT") {
		t.Errorf("run with bad EXTEND_TIMEOUT = %v, want an error naming it", err)
	}
}

// TestServeDemoBaselinker: in demo mode with BASELINKER_PASSWORD the
// integration file answers from the simulated ERP; without it, 404.
func TestServeDemoBaselinker(t *testing.T) {
	for _, pass := range []string{"", "demo-bl-pass-1234"} {
		base := "http://" + startGateway(t, map[string]string{"BASELINKER_PASSWORD": pass}) + "/baselinker"
		form := url.Values{"bl_pass": {pass}, "action": {"ProductsList"}, "category_id": {"VER-EL"}}
		res, err := http.PostForm(base, form)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case pass == "" && res.StatusCode != 404:
			t.Errorf("without BASELINKER_PASSWORD: POST /baselinker = %d %s, want 404", res.StatusCode, body)
		case pass != "" && (res.StatusCode != 200 || !strings.Contains(string(body), `"VE-6101":{"name":"Borrmaskin`)):
			t.Errorf("demo ProductsList = %d %s, want the sample power tools", res.StatusCode, body)
		}
		if pass != "" { // no Redis in demo mode: orders say what they need
			form.Set("action", "OrdersGet")
			form.Set("id_from", "1")
			res, err := http.PostForm(base, form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 503 || !strings.Contains(string(body), "REDIS_URL") {
				t.Errorf("demo OrdersGet without Redis = %d %s, want 503 naming REDIS_URL", res.StatusCode, body)
			}
		}
	}
}
