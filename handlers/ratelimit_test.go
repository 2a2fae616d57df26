package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
)

// limitedEcho is ev's gateway with a per-key limit and the documents'
// limits.
func limitedEcho(ev *env, perKey, perDocument, perCustomer ratelimit.Limit) *echo.Echo {
	d := handlers.Deps{Pull: ev.svc, APIKeys: []string{"other-key", testKey}, Now: ev.clock.Now}
	if perKey.Enabled() {
		d.KeyLimit = ratelimit.NewLocal(perKey, 0)
	}
	d.Documents.Owner = ev.links.Parse
	if perDocument.Enabled() {
		d.Documents.PerDocument = ratelimit.NewLocal(perDocument, 0)
	}
	if perCustomer.Enabled() {
		d.Documents.PerCustomer = ratelimit.NewLocal(perCustomer, 0)
	}
	return handlers.New(d)
}

func serve(e *echo.Echo, target, key string) (int, http.Header, string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Api-Key", key)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

// TestRateLimitPerKey: a key's cache hits are never what limits it; its
// requests that reach the ERP are.
func TestRateLimitPerKey(t *testing.T) {
	ev := newEnv(t)
	e := limitedEcho(ev, ratelimit.Limit{N: 50, Per: time.Minute}, ratelimit.Limit{}, ratelimit.Limit{}) // a burst of 5
	target := "/v1/orders?customer_no=" + extendsim.CustomerShowcase
	for i := range 500 {
		if code, _, _ := serve(e, target, testKey); code != http.StatusOK {
			t.Fatalf("request %d for a cached answer = %d, want 200", i, code)
		}
	}
	limited := 0
	for page := 2; page < 22; page++ {
		code, h, body := serve(e, target+"&page="+strconv.Itoa(page), testKey)
		if code == http.StatusTooManyRequests {
			limited++
			if !strings.Contains(body, `"code":"rate_limited"`) {
				t.Errorf("429 body %s, want code rate_limited", body)
			}
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 Retry-After = %q, want whole seconds >= 1", h.Get("Retry-After"))
			}
		}
	}
	if limited < 14 {
		t.Errorf("%d of 20 uncached pages got 429, want at least 14 (a burst of 5 of 50 per minute)", limited)
	}
	// Another key has its own budget.
	if code, _, _ := serve(e, target+"&page=30", "other-key"); code != http.StatusOK {
		t.Errorf("other key = %d, want 200", code)
	}
	// A refused key is 401, and does not spend anything.
	if code, _, _ := serve(e, target, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong key = %d, want 401", code)
	}
}

// TestDocumentLimits: a download link needs no key, so each document and
// each customer's documents are limited.
func TestDocumentLimits(t *testing.T) {
	ev := newEnv(t)
	e := limitedEcho(ev, ratelimit.Limit{}, ratelimit.Limit{N: 20, Per: time.Minute}, ratelimit.Limit{N: 30, Per: time.Minute})
	expires := ev.now.Add(time.Hour)
	invs := ev.sim.InvoiceNumbers(extendsim.CustomerShowcase)
	doc := func(inv string) int {
		code, _, _ := serve(e, "/v1/documents/"+ev.links.Token(extendsim.CustomerShowcase, inv, expires), "")
		return code
	}
	ok := 0
	for range 10 {
		if doc(invs[0]) == http.StatusOK {
			ok++
		}
	}
	if ok != 2 {
		t.Errorf("%d of 10 quick downloads of one document passed, want its burst of 2", ok)
	}
	ok = 0
	for _, inv := range invs[1:min(len(invs), 6)] {
		if doc(inv) == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Errorf("%d of the customer's other documents passed, want 1 (a burst of 3 for the customer)", ok)
	}
	other := ev.sim.InvoiceNumbers(extendsim.CustomerOther)[0]
	code, _, _ := serve(e, "/v1/documents/"+ev.links.Token(extendsim.CustomerOther, other, expires), "")
	if code != http.StatusOK {
		t.Errorf("another customer's document = %d, want 200", code)
	}
	// A forged token is the handler's 404, and spends nothing.
	if code, _, _ := serve(e, "/v1/documents/forged.token", ""); code != http.StatusNotFound {
		t.Errorf("forged token = %d, want 404", code)
	}
}

// TestCallerLimits: everything a caller controls is bounded, and going
// over is a 4xx with the contract's JSON error, never a 5xx.
func TestCallerLimits(t *testing.T) {
	ev := newEnv(t)
	c := "customer_no=" + extendsim.CustomerShowcase
	tests := []struct {
		name   string
		target string
		header map[string]string
		status int
		param  string // named in the message
	}{
		{"query too long", "/v1/orders?" + c + "&x=" + strings.Repeat("a", handlers.MaxQuery), nil, 400, "query"},
		{"dates over 25 years", "/v1/orders?" + c + "&from=2000-01-01&to=2026-01-01", nil, 200, ""},
		{"dates 3 years", "/v1/invoices?" + c + "&from=2023-01-01&to=2026-01-01", nil, 200, ""},
		{"id too long", "/v1/orders/" + strings.Repeat("1", 65) + "?" + c, nil, 400, "id"},
		{"id characters", "/v1/orders/1%2F..%2F2?" + c, nil, 400, "id"},
		{"customer_no too long", "/v1/orders?customer_no=" + strings.Repeat("1", 33), nil, 400, "customer_no"},
		{"per_page too big", "/v1/orders?" + c + "&per_page=101", nil, 400, "per_page"},
		{"page too big", "/v1/orders?" + c + "&page=1000000000", nil, 400, "page"},
		{"headers too large", "/v1/orders?" + c, map[string]string{"X-Junk": strings.Repeat("j", handlers.MaxHeader)}, 431, ""},
		{"token too long", "/v1/documents/" + strings.Repeat("t", 2000), nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"X-Api-Key": testKey}
			for k, v := range tt.header {
				h[k] = v
			}
			rec := ev.do(t, http.MethodGet, tt.target, h)
			if rec.Code != tt.status {
				t.Fatalf("GET %.80s = %d, want %d: %s", tt.target, rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				return
			}
			e := decode[api.Error](t, rec)
			if e.Error.Code == "" || !strings.Contains(e.Error.Message, tt.param) {
				t.Errorf("error %+v, want a code and a message naming %q", e.Error, tt.param)
			}
		})
	}
}

// breaker is a handlers.Breaker whose state the test sets.
type breaker struct{ open bool }

func (b *breaker) Open() bool { return b.open }

// TestReadyzFollowsTheBreaker: /readyz asks the ERP's breaker.
func TestReadyzFollowsTheBreaker(t *testing.T) {
	ev := newEnv(t)
	b := &breaker{}
	e := handlers.New(handlers.Deps{Pull: ev.svc, ERP: b})
	for _, tt := range []struct {
		open bool
		want int
	}{{false, 200}, {true, 503}, {false, 200}} {
		b.open = tt.open
		code, _, body := serve(e, "/readyz", "")
		if code != tt.want {
			t.Errorf("circuit open=%v: /readyz = %d, want %d: %s", tt.open, code, tt.want, body)
		}
	}
}

// TestBudgetBoundsTheAnswer: with the ERP failing slowly, the answer (an
// error here, nothing being cached) comes within EXTEND_TIMEOUT, retries
// included.
func TestBudgetBoundsTheAnswer(t *testing.T) {
	budget := 300 * time.Millisecond
	ev := newEnv(t, withBudget(budget))
	ev.sim.SetFailing(http.StatusServiceUnavailable)
	ev.sim.SetLatency(120 * time.Millisecond)
	start := time.Now()
	rec := ev.get(t, "/v1/orders?customer_no="+extendsim.CustomerShowcase)
	took := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 503 or 504", rec.Code)
	}
	if took > budget+150*time.Millisecond {
		t.Errorf("answer took %v, budget %v", took, budget)
	}
}
