package handlers_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/webhook"
)

// TestAuthFailuresSlowed: failed attempts at the API key, the admin token
// and the webhook credentials are counted per source address; past the
// default budget (10 at once) the source gets 429 with Retry-After, its
// credentials no longer even checked, while other sources, and a source
// that has shown a valid key, are not held back.
func TestAuthFailuresSlowed(t *testing.T) {
	ev := newEnv(t)
	send := func(method, target, from, xff string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader("{}"))
		req.RemoteAddr = from + ":40000"
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		ev.e.ServeHTTP(rec, req)
		return rec
	}
	const orders = "/v1/orders?customer_no=10001"
	wrongKey := map[string]string{"X-Api-Key": "guess-0000000000000"}
	wrongAdmin := map[string]string{"Authorization": "Bearer guess-0000000000000"}
	right := map[string]string{"X-Api-Key": testKey}

	// An attacker at 203.0.113.7 tries keys and the admin token: ten
	// failures pass as 401s, the next attempts are 429s.
	attacker := "203.0.113.7"
	for i := range 10 {
		target, h := orders, wrongKey
		if i%2 == 1 {
			target, h = "/admin/pushers", wrongAdmin
		}
		if rec := send(http.MethodGet, target, attacker, "", h); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failed attempt %d = %d, want 401", i+1, rec.Code)
		}
	}
	for name, h := range map[string]map[string]string{"wrong key": wrongKey, "right key": right} {
		rec := send(http.MethodGet, orders, attacker, "", h)
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || decode[api.Error](t, rec).Error.Code != "rate_limited" {
			t.Errorf("%s after 10 failures = %d (Retry-After %q), want 429 rate_limited with Retry-After", name, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if rec := send(http.MethodPost, "/webhooks/extend", attacker, "", map[string]string{"ms-signature": webhook.Sign([]byte("{}"), "guess")}); rec.Code != http.StatusTooManyRequests && rec.Code != http.StatusNotFound {
		t.Errorf("webhook after 10 failures = %d, want 429 (or 404 where webhooks are off)", rec.Code)
	}

	// Another address is not held back.
	if rec := send(http.MethodGet, orders, "198.51.100.20", "", right); rec.Code != http.StatusOK {
		t.Errorf("another source's request = %d, want 200", rec.Code)
	}
	// Behind a load balancer (a private address), the client is the
	// address the balancer appended; a client cannot forge it.
	behind := func(client string) int { return send(http.MethodGet, orders, "10.0.0.5", client, right).Code }
	if code := behind(attacker); code != http.StatusTooManyRequests {
		t.Errorf("the attacker through the load balancer = %d, want 429", code)
	}
	if code := behind("198.51.100.21"); code != http.StatusOK {
		t.Errorf("another client through the load balancer = %d, want 200", code)
	}
	if rec := send(http.MethodGet, orders, attacker, "198.51.100.22", right); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the attacker naming another address in X-Forwarded-For = %d, want 429 (only a trusted proxy's header counts)", rec.Code)
	}

	// Vendre's servers have shown the right key: failures from there are
	// still answered 401, never 429, so no one can lock Vendre out.
	vendre := "192.0.2.50"
	if rec := send(http.MethodGet, orders, vendre, "", right); rec.Code != http.StatusOK {
		t.Fatalf("Vendre's request = %d, want 200", rec.Code)
	}
	for i := range 30 {
		if rec := send(http.MethodGet, orders, vendre, "", wrongKey); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d from Vendre's address = %d, want 401", i+1, rec.Code)
		}
	}
	if rec := send(http.MethodGet, orders, vendre, "", right); rec.Code != http.StatusOK {
		t.Errorf("Vendre after 30 failures from its address = %d, want 200", rec.Code)
	}
}

// TestTrustedProxies: a proxy at a public address (a cloud load balancer)
// is believed only once it is named in TrustedProxies; until then every
// client behind it counts as the proxy itself.
func TestTrustedProxies(t *testing.T) {
	_, lb, _ := net.ParseCIDR("35.191.0.0/16")
	for _, tt := range []struct {
		name    string
		trusted []*net.IPNet
		other   int // the status of a second client after the first spent its budget
	}{
		{"named", []*net.IPNet{lb}, http.StatusUnauthorized},
		{"not named", nil, http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := handlers.New(handlers.Deps{
				APIKeys: []string{testKey}, TrustedProxies: tt.trusted,
				AuthThrottle: handlers.NewAuthThrottle(ratelimit.Limit{N: 20, Per: time.Minute}, nil), // 2 at once: a short test
			})
			try := func(client string) int {
				req := httptest.NewRequest(http.MethodGet, "/v1/orders?customer_no=10001", nil)
				req.RemoteAddr = "35.191.4.4:5000"
				req.Header.Set("X-Forwarded-For", client)
				req.Header.Set("X-Api-Key", "wrong-key-0123456789")
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				return rec.Code
			}
			try("198.51.100.1")
			try("198.51.100.1")
			if got := try("198.51.100.1"); got != http.StatusTooManyRequests {
				t.Errorf("third failure = %d, want 429", got)
			}
			if got := try("198.51.100.2"); got != tt.other {
				t.Errorf("another client's failure = %d, want %d", got, tt.other)
			}
		})
	}
}

// crmFake is RetailCRM's side of the callbacks: no clientId is right.
type crmFake struct{}

func (crmFake) ClientIDOK(string) bool                  { return false }
func (crmFake) InventoriesUpload(context.Context) error { return nil }

// TestAuthFailuresRetailCRM: wrong clientIds count too, and a held-back
// address is told so in RetailCRM's own convention.
func TestAuthFailuresRetailCRM(t *testing.T) {
	e := handlers.New(handlers.Deps{RetailCRM: crmFake{}})
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/retailcrm/inventories-upload", strings.NewReader("clientId=guess-0123456789abcdef"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	for i := range 10 {
		if rec := post(); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong clientId %d = %d, want 401", i+1, rec.Code)
		}
	}
	rec := post()
	var got struct {
		Success  *bool  `json:"success"`
		ErrorMsg string `json:"errorMsg"`
	}
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Success == nil || *got.Success || got.ErrorMsg == "" {
		t.Errorf("after 10 wrong clientIds = %d %s (Retry-After %q), want 429 in RetailCRM's convention", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
}

// TestAuthFailuresBaselinker: wrong bl_pass count too, and a held-back
// address is told so in Baselinker's own convention.
func TestAuthFailuresBaselinker(t *testing.T) {
	bl := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized) // as connectors/baselinker answers a wrong bl_pass
		_, _ = w.Write([]byte(`{"error":true,"error_code":"bad_password","error_text":"wrong bl_pass"}`))
	})
	e := handlers.New(handlers.Deps{Baselinker: bl})
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/baselinker", strings.NewReader("bl_pass=guess&action=ProductsList"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	for i := range 10 {
		if rec := post(); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong bl_pass %d = %d, want 401", i+1, rec.Code)
		}
	}
	rec := post()
	var got struct {
		Error bool   `json:"error"`
		Code  string `json:"error_code"`
	}
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		json.Unmarshal(rec.Body.Bytes(), &got) != nil || !got.Error || got.Code != "too_many_attempts" {
		t.Errorf("after 10 wrong bl_pass = %d %s, want 429 too_many_attempts in Baselinker's convention", rec.Code, rec.Body)
	}
}
