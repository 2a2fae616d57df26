package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestRequestShapesBinary drives the built binary in demo mode, set up as
// a shop whose Vendre sends its key in X-Vendre-Token and says kundnr
// (docs/requests.md), over real HTTP: every request shape gets the same
// answer, HEAD the same fields without a body, and bad shapes the
// contract's JSON errors. A clashing alias stops the start.
func TestRequestShapesBinary(t *testing.T) {
	requireE2E(t)
	g := newGateway(t, map[string]string{
		"VENDRE_KEY_HEADER": "X-Vendre-Token", "VENDRE_PARAM_ALIASES": "kundnr=customer_no,fran=from,till=to",
		"LOG_LEVEL": "warn",
	})
	g.start()
	send := func(method, path string, header map[string]string, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.url()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}
	// The shapes are spread over the demo customers, four each. (No
	// request limit per customer stands in the way any more: a customer's
	// share of the ERP budget limits only work that reaches the ERP.)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	js := map[string]string{"Content-Type": "application/json"}
	type shape struct {
		name, method, path string
		header             map[string]string
		body               string
	}
	groups := []struct {
		customer string
		shapes   func(c string) []shape
	}{
		{"10001", func(c string) []shape {
			q := "customer_no=" + c + "&from=2020-01-01&per_page=3"
			return []shape{
				{"bearer", "GET", "/v1/invoices?" + q, map[string]string{"Authorization": "Bearer demo"}, ""},
				{"VENDRE_KEY_HEADER", "GET", "/v1/invoices?" + q, map[string]string{"X-Vendre-Token": "demo"}, ""},
				{"POST form", "POST", "/v1/invoices", form, "api_key=demo&" + q},
				{"HEAD", "HEAD", "/v1/invoices?" + q, map[string]string{"X-Api-Key": "demo"}, ""},
			}
		}},
		{"10002", func(c string) []shape {
			return []shape{
				{"aliases", "GET", "/v1/invoices?kundnr=" + c + "&fran=2020-01-01&per_page=3", map[string]string{"X-Api-Key": "demo"}, ""},
				{"offset/limit", "GET", "/v1/invoices?customer_no=" + c + "&from=2020-01-01&offset=0&limit=3", map[string]string{"X-Api-Key": "demo"}, ""},
				{"POST form aliases", "POST", "/v1/invoices", form, "api_key=demo&kundnr=" + c + "&fran=2020-01-01&per_page=3"},
				{"POST JSON", "POST", "/v1/invoices", js, `{"api_key":"demo","customer_no":"` + c + `","from":"2020-01-01","per_page":3}`},
			}
		}},
	}
	for _, gr := range groups {
		status, _, want := send("GET", "/v1/invoices?customer_no="+gr.customer+"&from=2020-01-01&per_page=3", map[string]string{"X-Api-Key": "demo"}, "")
		if status != 200 || !strings.Contains(want, `"customer_no":"`+gr.customer+`"`) {
			t.Fatalf("GET /v1/invoices of %s = %d %s", gr.customer, status, want)
		}
		for _, s := range gr.shapes(gr.customer) {
			status, h, got := send(s.method, s.path, s.header, s.body)
			if s.method == "HEAD" {
				if status != 200 || got != "" || h.Get("Content-Length") != strconv.Itoa(len(want)) || h.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Errorf("HEAD = %d %v %q, want 200, Content-Length %d, the JSON type, no body", status, h, got, len(want))
				}
				continue
			}
			if status != 200 || got != want {
				t.Errorf("%s: %s %s = %d %s\nwant 200 %s", s.name, s.method, s.path, status, got, want)
			}
		}
	}
	for _, s := range []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
	}{
		{"key in a text body", "POST", "/v1/orders", map[string]string{"Content-Type": "text/plain"}, "api_key=demo&customer_no=20001", 415},
		{"body over its limit", "POST", "/v1/prices", form, "api_key=demo&customer_no=20001&products=" + strings.Repeat("A", 20<<10), 413},
		{"alias and name", "GET", "/v1/orders?customer_no=20001&kundnr=20001", map[string]string{"X-Api-Key": "demo"}, "", 400},
		{"unknown route", "GET", "/v1/orders/1/extra?customer_no=20002", map[string]string{"X-Api-Key": "demo"}, "", 404},
		{"no key", "POST", "/v1/orders", js, `{"customer_no":"20002"}`, 401},
	} {
		status, h, body := send(s.method, s.path, s.header, s.body)
		if status != s.status || h.Get("Content-Type") != "application/json; charset=utf-8" || !strings.HasPrefix(body, `{"error":{"code":`) {
			t.Errorf("%s: %s %s = %d %s %s, want %d with a JSON error", s.name, s.method, s.path, status, h.Get("Content-Type"), body, s.status)
		}
	}

	// An alias that clashes with a parameter's name stops the start, with
	// one line naming the variable.
	cmd := exec.Command(gatewayBinary(t))
	cmd.Env = []string{"VENDRE_PARAM_ALIASES=kundnr=customer_no,page=from", "LISTEN_ADDR=127.0.0.1:0"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.HasPrefix(stderr.String(), "config: VENDRE_PARAM_ALIASES: ") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("gateway with a clashing alias: %v, stderr %q; want exit 1 and one line naming VENDRE_PARAM_ALIASES", err, stderr.String())
	}
}
