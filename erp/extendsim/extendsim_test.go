package extendsim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// now is the fixed clock of the tests.
var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

// env is a simulator behind a real HTTP server, with a valid token.
type env struct {
	sim   *extendsim.Server
	srv   *httptest.Server
	clock *clock
	token string
}

func setup(t *testing.T) *env {
	t.Helper()
	c := newClock(now)
	sim := extendsim.New(extendsim.Options{ClientID: "id", ClientSecret: "secret", Now: c.Now, Customers: 10, Seed: 7})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &env{sim: sim, srv: srv, clock: c}
	e.token = e.newToken(t)
	return e
}

func (e *env) newToken(t *testing.T) string {
	t.Helper()
	res, body := e.do(t, http.MethodPost, "/oauth/token", "", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"secret"}}.Encode())
	if res.StatusCode != http.StatusOK {
		t.Fatalf("token status = %d, want 200: %s", res.StatusCode, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	mustDecode(t, body, &tok)
	return tok.AccessToken
}

// do sends a request; a body is sent as a form for the token path and as
// JSON otherwise.
func (e *env) do(t *testing.T, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		if path == "/oauth/token" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return res, b.Bytes()
}

// get GETs path with the env's token and wants status.
func (e *env) get(t *testing.T, path string, status int) []byte {
	t.Helper()
	res, body := e.do(t, http.MethodGet, path, e.token, "")
	if res.StatusCode != status {
		t.Fatalf("GET %s status = %d, want %d: %s", path, res.StatusCode, status, body)
	}
	return body
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %.200s: %v", b, err)
	}
}

type apiError struct {
	ErrorType string
	Message   string
	Errors    []struct{ Field, Message string }
}

// wantError checks an error answer's status and body.
func wantError(t *testing.T, what string, res *http.Response, body []byte, status int, errorType string) apiError {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("%s status = %d, want %d: %s", what, res.StatusCode, status, body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s body %q is not the error JSON: %v", what, body, err)
	}
	if e.ErrorType != errorType || e.Message == "" {
		t.Errorf("%s error = %+v, want ErrorType %s and a message", what, e, errorType)
	}
	if !bytes.Contains(body, []byte(`"Errors":[`)) {
		t.Errorf("%s body %s has no Errors array", what, body)
	}
	return e
}

// allOrders reads every order header of a customer through the list.
func (e *env) allOrders(t *testing.T, customer string) []erp.OrderHeader {
	t.Helper()
	var out []erp.OrderHeader
	for page := 1; ; page++ {
		var p erp.Page[erp.OrderHeader]
		mustDecode(t, e.get(t, fmt.Sprintf("/CustomerOrders?customerNumber=%s&page=%d&pageSize=7", url.QueryEscape(customer), page), 200), &p)
		out = append(out, p.Items...)
		if len(p.Items) == 0 || len(out) >= p.TotalCount {
			return out
		}
	}
}

func (e *env) allInvoices(t *testing.T, customer string) []erp.InvoiceHeader {
	t.Helper()
	var p erp.Page[erp.InvoiceHeader]
	mustDecode(t, e.get(t, "/CustomerInvoices?pageSize=100&customerNumber="+url.QueryEscape(customer), 200), &p)
	if p.TotalCount > len(p.Items) {
		t.Fatalf("customer %s has %d invoices, more than one page", customer, p.TotalCount)
	}
	return p.Items
}

func (e *env) order(t *testing.T, n string) erp.Order {
	t.Helper()
	var o erp.Order
	mustDecode(t, e.get(t, "/CustomerOrders/"+n, 200), &o)
	return o
}

func (e *env) invoice(t *testing.T, n string) erp.Invoice {
	t.Helper()
	var inv erp.Invoice
	mustDecode(t, e.get(t, "/CustomerInvoices/"+n, 200), &inv)
	return inv
}

func TestToken(t *testing.T) {
	e := setup(t)
	form := func(grant, id, secret string) string {
		return url.Values{"grant_type": {grant}, "client_id": {id}, "client_secret": {secret}}.Encode()
	}
	tests := []struct {
		name      string
		method    string
		body      string
		basic     bool
		status    int
		errorType string
	}{
		{"form credentials", http.MethodPost, form("client_credentials", "id", "secret"), false, 200, ""},
		{"basic credentials", http.MethodPost, "grant_type=client_credentials", true, 200, ""},
		{"wrong secret", http.MethodPost, form("client_credentials", "id", "nope"), false, 401, "Validation"},
		{"wrong id", http.MethodPost, form("client_credentials", "other", "secret"), false, 401, "Validation"},
		{"no credentials", http.MethodPost, "grant_type=client_credentials", false, 401, "Validation"},
		{"wrong grant", http.MethodPost, form("password", "id", "secret"), false, 400, "Validation"},
		{"GET", http.MethodGet, "", false, 404, "Validation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+"/oauth/token", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic {
				req.SetBasicAuth("id", "secret")
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(res.Body)
			if tt.errorType != "" {
				wantError(t, "token "+tt.name, res, b.Bytes(), tt.status, tt.errorType)
				if strings.Contains(b.String(), "secret") {
					t.Errorf("error body %s mentions the secret", b.String())
				}
				return
			}
			if res.StatusCode != tt.status {
				t.Fatalf("token status = %d, want %d: %s", res.StatusCode, tt.status, b.String())
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
			}
			mustDecode(t, b.Bytes(), &tok)
			if len(tok.AccessToken) < 16 || tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
				t.Errorf("token = %+v, want a Bearer token for 3600 s", tok)
			}
		})
	}
	if a, b := e.newToken(t), e.newToken(t); a == b {
		t.Errorf("two token calls gave the same token %q", a)
	}
	// setup's call, the POSTs of the table (its GET is an unknown route) and
	// the two above.
	if want := 1 + len(tests) - 1 + 2; e.sim.Calls(extendsim.OpToken) != want {
		t.Errorf("Calls(token) = %d, want %d", e.sim.Calls(extendsim.OpToken), want)
	}
}

func TestDefaultCredentials(t *testing.T) {
	srv := httptest.NewServer(extendsim.New(extendsim.Options{Customers: -1}))
	defer srv.Close()
	res, err := srv.Client().PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {extendsim.DefaultClientID}, "client_secret": {extendsim.DefaultClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("token with the default credentials: status = %d, want 200", res.StatusCode)
	}
}

func TestAuthRequired(t *testing.T) {
	e := setup(t)
	paths := []string{"/CustomerOrders", "/CustomerOrders/" + e.sim.Cases().DeliveredOrder, "/CustomerInvoices",
		"/CustomerInvoices/" + e.sim.Cases().PaidInvoice, "/CustomerInvoices/" + e.sim.Cases().PaidInvoice + "/pdf",
		"/ProductAvailability", "/ProductPrices?customerNumber=10001", "/Products", "/Products/HV-1101", "/Customers/10001"}
	tests := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"basic scheme", "Basic aWQ6c2VjcmV0"},
		{"unknown token", "Bearer not-a-token"},
		{"empty bearer", "Bearer "},
	}
	for _, tt := range tests {
		for _, p := range paths {
			t.Run(tt.name+" "+p, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+p, nil)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var b bytes.Buffer
				b.ReadFrom(res.Body)
				wantError(t, "GET "+p, res, b.Bytes(), 401, "Validation")
			})
		}
	}
	t.Run("POST without token", func(t *testing.T) {
		res, body := e.do(t, http.MethodPost, "/CustomerOrders", "", `{"CustomerNumber":"10001"}`)
		wantError(t, "POST /CustomerOrders", res, body, 401, "Validation")
	})
	t.Run("valid token", func(t *testing.T) {
		for _, p := range paths {
			e.get(t, p, 200)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		e.clock.Add(extendsim.TokenLifetime + time.Second)
		res, body := e.do(t, http.MethodGet, "/CustomerOrders", e.token, "")
		wantError(t, "expired token", res, body, 401, "Validation")
		e.token = e.newToken(t)
		e.get(t, "/CustomerOrders", 200)
	})
	t.Run("revoked tokens", func(t *testing.T) {
		e.sim.RevokeTokens()
		res, body := e.do(t, http.MethodGet, "/CustomerOrders", e.token, "")
		wantError(t, "revoked token", res, body, 401, "Validation")
		e.token = e.newToken(t)
		e.get(t, "/CustomerOrders", 200)
	})
}

func TestOrderListPaging(t *testing.T) {
	e := setup(t)
	want := e.sim.OrderNumbers(extendsim.CustomerShowcase)
	if len(want) < 28 || len(want) > 34 {
		t.Fatalf("customer 10001 has %d orders, want about 30", len(want))
	}
	var got []string
	for _, h := range e.allOrders(t, extendsim.CustomerShowcase) {
		got = append(got, h.OrderNumber)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orders read page by page (-want +got):\n%s", diff)
	}

	tests := []struct {
		query     string
		wantItems int
		wantPage  int
		wantSize  int
	}{
		{"customerNumber=10001", len(want), 1, 100},
		{"customerNumber=10001&pageSize=10", 10, 1, 10},
		{"customerNumber=10001&pageSize=10&page=2", 10, 2, 10},
		{fmt.Sprintf("customerNumber=10001&pageSize=10&page=%d", (len(want)+9)/10), len(want) - (len(want)-1)/10*10, (len(want) + 9) / 10, 10},
		{"customerNumber=10001&page=2", 0, 2, 100},
		{"customerNumber=10001&page=99&pageSize=1", 0, 99, 1},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			body := e.get(t, "/CustomerOrders?"+tt.query, 200)
			var p erp.Page[erp.OrderHeader]
			mustDecode(t, body, &p)
			if len(p.Items) != tt.wantItems || p.Page != tt.wantPage || p.PageSize != tt.wantSize || p.TotalCount != len(want) {
				t.Errorf("GET ?%s = %d items, page %d, size %d, total %d; want %d, %d, %d, %d",
					tt.query, len(p.Items), p.Page, p.PageSize, p.TotalCount, tt.wantItems, tt.wantPage, tt.wantSize, len(want))
			}
			if !bytes.Contains(body, []byte(`"Items":[`)) {
				t.Errorf("GET ?%s: Items is not an array: %.100s", tt.query, body)
			}
		})
	}
	t.Run("headers only", func(t *testing.T) {
		var raw struct{ Items []map[string]any }
		mustDecode(t, e.get(t, "/CustomerOrders?customerNumber=10001&pageSize=1", 200), &raw)
		var keys []string
		for k := range raw.Items[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if diff := cmp.Diff([]string{"ChangedAt", "OrderDate", "OrderNumber"}, keys); diff != "" {
			t.Errorf("order header fields (-want +got):\n%s", diff)
		}
	})
	t.Run("all customers", func(t *testing.T) {
		var p erp.Page[erp.OrderHeader]
		mustDecode(t, e.get(t, "/CustomerOrders?pageSize=1", 200), &p)
		n := 0
		for _, c := range e.sim.CustomerNumbers() {
			n += len(e.sim.OrderNumbers(c))
		}
		if p.TotalCount != n {
			t.Errorf("TotalCount without customerNumber = %d, want %d", p.TotalCount, n)
		}
	})
}

func TestListSortOrder(t *testing.T) {
	e := setup(t)
	for _, c := range e.sim.SampleCustomers() {
		orders := e.allOrders(t, c)
		for i := 1; i < len(orders); i++ {
			a, b := orders[i-1], orders[i]
			if a.OrderDate < b.OrderDate || a.OrderDate == b.OrderDate && num(t, a.OrderNumber) < num(t, b.OrderNumber) {
				t.Errorf("customer %s: order %s (%s) listed before %s (%s)", c, a.OrderNumber, a.OrderDate, b.OrderNumber, b.OrderDate)
			}
		}
		invoices := e.allInvoices(t, c)
		for i := 1; i < len(invoices); i++ {
			a, b := invoices[i-1], invoices[i]
			if a.InvoiceDate < b.InvoiceDate || a.InvoiceDate == b.InvoiceDate && num(t, a.InvoiceNumber) < num(t, b.InvoiceNumber) {
				t.Errorf("customer %s: invoice %s listed before %s", c, a.InvoiceNumber, b.InvoiceNumber)
			}
		}
	}
	// Two orders of one day: the higher number first.
	cs := e.sim.Cases()
	orders := e.allOrders(t, extendsim.CustomerShowcase)
	ia := slices.IndexFunc(orders, func(h erp.OrderHeader) bool { return h.OrderNumber == cs.TwoOrdersA })
	ib := slices.IndexFunc(orders, func(h erp.OrderHeader) bool { return h.OrderNumber == cs.TwoOrdersB })
	if orders[ia].OrderDate != orders[ib].OrderDate || ib != ia-1 {
		t.Errorf("orders %s and %s of one day at %d and %d, want the higher number just before", cs.TwoOrdersA, cs.TwoOrdersB, ia, ib)
	}
}

func num(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("record number %q is not a number", s)
	}
	return n
}

func TestListFilters(t *testing.T) {
	e := setup(t)
	orders := e.allOrders(t, extendsim.CustomerShowcase)
	invoices := e.allInvoices(t, extendsim.CustomerShowcase)
	count := func(hs []erp.OrderHeader, keep func(erp.OrderHeader) bool) int {
		n := 0
		for _, h := range hs {
			if keep(h) {
				n++
			}
		}
		return n
	}
	from, to := now.AddDate(0, 0, -60).Format(time.DateOnly), now.AddDate(0, 0, -9).Format(time.DateOnly)
	since := now.AddDate(0, 0, -30).Format(time.RFC3339)
	ext := e.sim.Cases().RegisteredOrder
	extNo := e.order(t, ext).ExternalOrderNumber

	tests := []struct {
		name  string
		query string
		want  int
	}{
		{"from", "orderDateFrom=" + from, count(orders, func(h erp.OrderHeader) bool { return h.OrderDate >= from })},
		{"to", "orderDateTo=" + to, count(orders, func(h erp.OrderHeader) bool { return h.OrderDate <= to })},
		{"from and to, inclusive", "orderDateFrom=" + from + "&orderDateTo=" + to,
			count(orders, func(h erp.OrderHeader) bool { return h.OrderDate >= from && h.OrderDate <= to })},
		{"one day", "orderDateFrom=" + to + "&orderDateTo=" + to, count(orders, func(h erp.OrderHeader) bool { return h.OrderDate == to })},
		{"from after to", "orderDateFrom=" + to + "&orderDateTo=" + from, 0},
		{"changedSince", "changedSince=" + url.QueryEscape(since),
			count(orders, func(h erp.OrderHeader) bool { return h.ChangedAt >= since })},
		{"externalOrderNumber", "externalOrderNumber=" + extNo, 1},
		{"unknown externalOrderNumber", "externalOrderNumber=W000000-none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p erp.Page[erp.OrderHeader]
			mustDecode(t, e.get(t, "/CustomerOrders?customerNumber=10001&"+tt.query, 200), &p)
			if p.TotalCount != tt.want || len(p.Items) != tt.want {
				t.Errorf("GET ?%s: TotalCount %d, %d items; want %d", tt.query, p.TotalCount, len(p.Items), tt.want)
			}
			if tt.want == 0 || tt.name == "from after to" {
				return
			}
			if tt.want == len(orders) {
				t.Errorf("filter %s keeps every order: the test proves nothing", tt.name)
			}
		})
	}
	t.Run("invoice dates", func(t *testing.T) {
		want := 0
		for _, h := range invoices {
			if h.InvoiceDate >= from && h.InvoiceDate <= to {
				want++
			}
		}
		var p erp.Page[erp.InvoiceHeader]
		mustDecode(t, e.get(t, "/CustomerInvoices?customerNumber=10001&invoiceDateFrom="+from+"&invoiceDateTo="+to, 200), &p)
		if p.TotalCount != want || want == 0 || want == len(invoices) {
			t.Errorf("invoices from %s to %s: TotalCount %d, want %d (of %d)", from, to, p.TotalCount, want, len(invoices))
		}
	})
}

func TestBadParameters(t *testing.T) {
	e := setup(t)
	tests := []struct {
		path  string
		field string
	}{
		{"/CustomerOrders?page=0", "page"},
		{"/CustomerOrders?page=x", "page"},
		{"/CustomerOrders?pageSize=0", "pageSize"},
		{"/CustomerOrders?pageSize=101", "pageSize"},
		{"/CustomerOrders?pageSize=-5", "pageSize"},
		{"/CustomerOrders?orderDateFrom=2025-13-01", "orderDateFrom"},
		{"/CustomerOrders?orderDateTo=15.06.2025", "orderDateTo"},
		{"/CustomerOrders?changedSince=yesterday", "changedSince"},
		{"/CustomerInvoices?invoiceDateFrom=2025-02-30", "invoiceDateFrom"},
		{"/CustomerInvoices?pageSize=1000", "pageSize"},
		{"/ProductAvailability?page=-1", "page"},
		{"/Products?changedSince=0", "changedSince"},
		{"/ProductPrices?productNumbers=HV-1101", "customerNumber"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, body := e.do(t, http.MethodGet, tt.path, e.token, "")
			got := wantError(t, "GET "+tt.path, res, body, 400, "Validation")
			if len(got.Errors) == 0 || got.Errors[0].Field != tt.field {
				t.Errorf("GET %s Errors = %+v, want field %s", tt.path, got.Errors, tt.field)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	e := setup(t)
	tests := []struct{ method, path string }{
		{"GET", "/CustomerOrders/999999"},
		{"GET", "/CustomerOrders/42"},
		{"GET", "/CustomerInvoices/999999"},
		{"GET", "/CustomerInvoices/999999/pdf"},
		{"GET", "/Products/NOPE"},
		{"GET", "/Customers/42"},
		{"GET", "/Customers/99999"},
		{"GET", "/Nothing"},
		{"GET", "/customerorders"},
		{"DELETE", "/CustomerOrders/" + e.sim.Cases().DeliveredOrder},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res, body := e.do(t, tt.method, tt.path, e.token, "")
			wantError(t, tt.method+" "+tt.path, res, body, 404, "Validation")
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s %s Content-Type = %q, want JSON", tt.method, tt.path, ct)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	e := setup(t)
	path := "/CustomerOrders/" + e.sim.Cases().DeliveredOrder

	t.Run("FailNext", func(t *testing.T) {
		tests := []struct {
			status    int
			errorType string
		}{
			{503, "Server"}, {500, "Server"}, {502, "Server"}, {504, "Server"}, {429, "Throttling"}, {409, "Validation"},
		}
		for _, tt := range tests {
			e.sim.ResetCalls()
			e.sim.FailNext(2, tt.status)
			for i := range 2 {
				res, body := e.do(t, http.MethodGet, path, e.token, "")
				wantError(t, fmt.Sprintf("call %d after FailNext(2, %d)", i+1, tt.status), res, body, tt.status, tt.errorType)
				if tt.status == 429 {
					for h, want := range map[string]string{"Retry-After": "1", "x-ratelimit-limit": "300",
						"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"} {
						if got := res.Header.Get(h); got != want {
							t.Errorf("429 header %s = %q, want %q", h, got, want)
						}
					}
				}
			}
			e.get(t, path, 200)
			if got := e.sim.Calls(extendsim.OpOrder); got != 3 {
				t.Errorf("Calls(order) = %d, want 3", got)
			}
		}
	})
	t.Run("token calls do not fail", func(t *testing.T) {
		e.sim.FailNext(1, 503)
		e.newToken(t)
		res, body := e.do(t, http.MethodGet, path, e.token, "")
		wantError(t, "GET after token", res, body, 503, "Server")
	})
	t.Run("SetFailing", func(t *testing.T) {
		e.sim.SetFailing(503)
		for range 3 {
			res, body := e.do(t, http.MethodGet, "/CustomerOrders", e.token, "")
			wantError(t, "SetFailing(503)", res, body, 503, "Server")
		}
		e.sim.SetFailing(0)
		e.get(t, "/CustomerOrders", 200)
	})
	t.Run("SetGarbage", func(t *testing.T) {
		n := e.sim.Cases().OverdueInvoice
		e.sim.SetGarbage(n)
		body := e.get(t, "/CustomerInvoices/"+n, 200)
		var inv erp.Invoice
		if err := json.Unmarshal(body, &inv); err == nil {
			t.Errorf("garbage body %s decoded", body)
		}
		e.sim.ResetFaults()
		e.invoice(t, n)
	})
	t.Run("SetLatency", func(t *testing.T) {
		e.sim.SetLatency(300 * time.Millisecond)
		defer e.sim.SetLatency(0)
		client := &http.Client{Timeout: 50 * time.Millisecond}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			t.Errorf("GET with 300ms latency and a 50ms timeout succeeded")
		}
		e.sim.SetLatency(20 * time.Millisecond)
		start := time.Now()
		e.get(t, path, 200)
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("GET with 20ms latency took %v", d)
		}
	})
}

func TestCalls(t *testing.T) {
	e := setup(t)
	e.sim.ResetCalls()
	cs := e.sim.Cases()
	e.get(t, "/CustomerOrders", 200)
	e.get(t, "/CustomerOrders/"+cs.DeliveredOrder, 200)
	e.get(t, "/CustomerOrders/"+cs.DeliveredOrder, 200)
	e.get(t, "/CustomerInvoices", 200)
	e.get(t, "/CustomerInvoices/"+cs.PaidInvoice, 200)
	e.get(t, "/CustomerInvoices/"+cs.PaidInvoice+"/pdf", 200)
	e.get(t, "/CustomerOrders/0", 404)
	want := map[string]int{extendsim.OpToken: 0, extendsim.OpOrderList: 1, extendsim.OpOrder: 3,
		extendsim.OpInvoiceList: 1, extendsim.OpInvoice: 1, extendsim.OpInvoicePDF: 1, extendsim.OpOrderCreate: 0}
	for op, n := range want {
		if got := e.sim.Calls(op); got != n {
			t.Errorf("Calls(%q) = %d, want %d", op, got, n)
		}
	}
}

// checkAmounts reports every amount of a record that does not add up.
func checkAmounts(what string, rows []erp.Row, lines []erp.VatLine, shipping, excl, vat, incl erp.Amount) []string {
	var errs []string
	var sum erp.Amount
	for _, r := range rows {
		want := erp.Amount(math.Round(float64(r.Quantity)*float64(r.UnitPrice))) - r.DiscountAmount
		if r.RowTotal != want {
			errs = append(errs, fmt.Sprintf("%s row %d: RowTotal %d, want %v*%d-%d = %d", what, r.RowNumber, r.RowTotal, r.Quantity, r.UnitPrice, r.DiscountAmount, want))
		}
		sum += r.RowTotal
	}
	if sum+shipping != excl {
		errs = append(errs, fmt.Sprintf("%s: rows %d + shipping %d != TotalExclVat %d", what, sum, shipping, excl))
	}
	var v erp.Amount
	for _, l := range lines {
		v += l.Amount
	}
	if v != vat {
		errs = append(errs, fmt.Sprintf("%s: VatLines sum %d != TotalVat %d", what, v, vat))
	}
	if excl+vat != incl {
		errs = append(errs, fmt.Sprintf("%s: %d + %d != TotalInclVat %d", what, excl, vat, incl))
	}
	return errs
}

// TestSampleData reads every customer's orders and invoices over HTTP and
// checks that the amounts add up and that records belong to their lists.
func TestSampleData(t *testing.T) {
	e := setup(t)
	for _, c := range e.sim.CustomerNumbers() {
		t.Run(c, func(t *testing.T) {
			headers := e.allOrders(t, c)
			if len(headers) == 0 {
				t.Fatalf("customer %s has no orders", c)
			}
			for _, h := range headers {
				o := e.order(t, h.OrderNumber)
				if o.CustomerNumber != c || o.Customer.CustomerNumber != c {
					t.Errorf("order %s listed for %s has CustomerNumber %q, Customer %q", o.OrderNumber, c, o.CustomerNumber, o.Customer.CustomerNumber)
				}
				if o.OrderDate != h.OrderDate || o.ChangedAt != h.ChangedAt {
					t.Errorf("order %s header %+v, record %s %s", o.OrderNumber, h, o.OrderDate, o.ChangedAt)
				}
				if ts, err := time.Parse(time.RFC3339, o.ChangedAt); err != nil || ts.After(now) {
					t.Errorf("order %s ChangedAt %q: not RFC 3339 or in the future", o.OrderNumber, o.ChangedAt)
				}
				for _, s := range checkAmounts("order "+o.OrderNumber, o.Rows, o.VatLines, o.ShippingCost, o.TotalExclVat, o.TotalVat, o.TotalInclVat) {
					t.Error(s)
				}
				for _, n := range o.InvoiceNumbers {
					if !slices.Contains(e.invoice(t, n).OrderNumbers, o.OrderNumber) {
						t.Errorf("order %s names invoice %s, which does not name it", o.OrderNumber, n)
					}
				}
			}
			for _, h := range e.allInvoices(t, c) {
				inv := e.invoice(t, h.InvoiceNumber)
				if inv.CustomerNumber != c {
					t.Errorf("invoice %s listed for %s has CustomerNumber %q", inv.InvoiceNumber, c, inv.CustomerNumber)
				}
				for _, s := range checkAmounts("invoice "+inv.InvoiceNumber, inv.Rows, inv.VatLines, inv.ShippingCost, inv.TotalExclVat, inv.TotalVat, inv.TotalInclVat) {
					t.Error(s)
				}
				if inv.RemainingAmount == nil || inv.PaidAmount+*inv.RemainingAmount != inv.TotalInclVat {
					t.Errorf("invoice %s: PaidAmount %d + RemainingAmount %v != TotalInclVat %d", inv.InvoiceNumber, inv.PaidAmount, inv.RemainingAmount, inv.TotalInclVat)
				}
				if len(inv.OrderNumbers) == 0 {
					t.Errorf("invoice %s bills no order", inv.InvoiceNumber)
				}
				for _, n := range inv.OrderNumbers {
					if o := e.order(t, n); o.CustomerNumber != c {
						t.Errorf("invoice %s of %s bills order %s of %s", inv.InvoiceNumber, c, n, o.CustomerNumber)
					}
				}
			}
		})
	}
}

func TestCustomersApart(t *testing.T) {
	e := setup(t)
	owner := map[string]string{}
	for _, c := range e.sim.CustomerNumbers() {
		for _, h := range e.allOrders(t, c) {
			if prev, ok := owner[h.OrderNumber]; ok {
				t.Errorf("order %s listed for %s and %s", h.OrderNumber, prev, c)
			}
			owner[h.OrderNumber] = c
		}
	}
	tests := []struct {
		customer string
		min      int
	}{
		{extendsim.CustomerOther, 3},
		{extendsim.CustomerLeadingZeros, 3},
		{"42", 0},
		{"0042", 0},
		{"10001 ", 0},
	}
	for _, tt := range tests {
		t.Run(tt.customer, func(t *testing.T) {
			n := len(e.allOrders(t, tt.customer))
			if tt.min == 0 && n != 0 || n < tt.min {
				t.Errorf("customer %q has %d orders, want %s", tt.customer, n, map[bool]string{true: "none", false: fmt.Sprint(tt.min, " or more")}[tt.min == 0])
			}
		})
	}
}

// TestShowcase checks that customer 10001 covers every case the gateway
// must handle.
func TestShowcase(t *testing.T) {
	e := setup(t)
	cs := e.sim.Cases()
	today := now.Format(time.DateOnly)
	orders := e.allOrders(t, extendsim.CustomerShowcase)
	if oldest := orders[len(orders)-1].OrderDate; oldest > now.AddDate(0, -13, 0).Format(time.DateOnly) {
		t.Errorf("oldest order of 10001 is from %s, want about 14 months back", oldest)
	}
	statuses := map[string]bool{}
	for _, h := range orders {
		statuses[e.order(t, h.OrderNumber).Status] = true
	}
	for _, s := range []string{erp.StatusRegistered, erp.StatusReserved, erp.StatusPicked, erp.StatusDelivered, erp.StatusCancelled} {
		if !statuses[s] {
			t.Errorf("10001 has no order with Status %s", s)
		}
	}

	orderTests := []struct {
		name  string
		n     string
		check func(o erp.Order) bool
	}{
		{"Registered", cs.RegisteredOrder, func(o erp.Order) bool { return o.Status == erp.StatusRegistered }},
		{"Reserved", cs.ReservedOrder, func(o erp.Order) bool { return o.Status == erp.StatusReserved }},
		{"Picked", cs.PickedOrder, func(o erp.Order) bool { return o.Status == erp.StatusPicked }},
		{"Delivered", cs.DeliveredOrder, func(o erp.Order) bool { return o.Status == erp.StatusDelivered && len(o.InvoiceNumbers) > 0 }},
		{"Cancelled", cs.CancelledOrder, func(o erp.Order) bool { return o.Status == erp.StatusCancelled && len(o.InvoiceNumbers) == 0 }},
		{"partial delivery", cs.PartialOrder, func(o erp.Order) bool {
			return slices.ContainsFunc(o.Rows, func(r erp.Row) bool { return r.DeliveredQuantity < r.Quantity && r.BackorderQuantity > 0 })
		}},
		{"no shipments", cs.NoShipmentsOrder, func(o erp.Order) bool { return o.Shipments != nil && len(o.Shipments) == 0 }},
		{"one shipment", cs.OneShipmentOrder, func(o erp.Order) bool {
			return len(o.Shipments) == 1 && strings.HasPrefix(o.Shipments[0].TrackingURL, "https://")
		}},
		{"several shipments", cs.ManyShipmentsOrder, func(o erp.Order) bool {
			return len(o.Shipments) >= 2 && !slices.ContainsFunc(o.Shipments, func(s erp.Shipment) bool {
				return !strings.HasPrefix(s.TrackingURL, "https://") || s.TrackingNumber == "" || s.ShipmentNumber == ""
			})
		}},
		{"http tracking", cs.HTTPTrackingOrder, func(o erp.Order) bool {
			return len(o.Shipments) == 1 && strings.HasPrefix(o.Shipments[0].TrackingURL, "http://")
		}},
		{"abroad", cs.AbroadOrder, func(o erp.Order) bool {
			return o.DeliveryAddress.CountryCode == "NO" || o.DeliveryAddress.CountryCode == "FI"
		}},
		{"VAT rates 25, 12, 6 and 0", cs.MultiVATOrder, func(o erp.Order) bool {
			var rates []float64
			for _, l := range o.VatLines {
				rates = append(rates, float64(l.Rate))
			}
			return cmp.Equal(rates, []float64{25, 12, 6, 0})
		}},
		{"row discounts", cs.DiscountOrder, func(o erp.Order) bool {
			return slices.ContainsFunc(o.Rows, func(r erp.Row) bool { return r.DiscountAmount > 0 })
		}},
		{"sparse", cs.SparseOrder, func(o erp.Order) bool {
			return o.YourReference == "" && o.Shipments == nil && o.InvoiceNumbers == nil
		}},
		{"amount as text", cs.TextAmountOrder, func(o erp.Order) bool { return o.TotalInclVat > 100000 }},
		{"two orders A", cs.TwoOrdersA, func(o erp.Order) bool { return slices.Contains(o.InvoiceNumbers, cs.TwoOrdersInvoice) }},
		{"two orders B", cs.TwoOrdersB, func(o erp.Order) bool { return slices.Contains(o.InvoiceNumbers, cs.TwoOrdersInvoice) }},
		{"credited", mustOrderOf(t, e, cs.CreditNote), func(o erp.Order) bool {
			return slices.Contains(o.InvoiceNumbers, cs.CreditNote) && slices.Contains(o.InvoiceNumbers, cs.CreditedInvoice)
		}},
	}
	for _, tt := range orderTests {
		t.Run("order "+tt.name, func(t *testing.T) {
			if tt.n == "" {
				t.Fatalf("no order for case %s", tt.name)
			}
			o := e.order(t, tt.n)
			if o.CustomerNumber != extendsim.CustomerShowcase || !tt.check(o) {
				t.Errorf("order %s does not show case %s: %+v", tt.n, tt.name, o)
			}
		})
	}

	invoiceTests := []struct {
		name  string
		n     string
		check func(inv erp.Invoice) bool
	}{
		{"paid", cs.PaidInvoice, func(inv erp.Invoice) bool { return !inv.IsCredit && *inv.RemainingAmount == 0 }},
		{"unpaid, not due", cs.UnpaidInvoice, func(inv erp.Invoice) bool {
			return *inv.RemainingAmount == inv.TotalInclVat && inv.DueDate > now.AddDate(0, 0, 5).Format(time.DateOnly)
		}},
		{"overdue", cs.OverdueInvoice, func(inv erp.Invoice) bool {
			return *inv.RemainingAmount > 0 && inv.DueDate < now.AddDate(0, 0, -5).Format(time.DateOnly)
		}},
		{"partly paid", cs.PartlyPaidInvoice, func(inv erp.Invoice) bool {
			return inv.PaidAmount > 0 && *inv.RemainingAmount > 0 && inv.DueDate > today
		}},
		{"credit note", cs.CreditNote, func(inv erp.Invoice) bool {
			return inv.IsCredit && inv.CreditedInvoiceNumber == cs.CreditedInvoice && inv.TotalInclVat < 0 &&
				slices.ContainsFunc(inv.Rows, func(r erp.Row) bool { return r.RowTotal < 0 })
		}},
		{"two orders", cs.TwoOrdersInvoice, func(inv erp.Invoice) bool {
			return cmp.Equal(inv.OrderNumbers, []string{cs.TwoOrdersA, cs.TwoOrdersB})
		}},
		{"several VAT rates", cs.MultiVATInvoice, func(inv erp.Invoice) bool { return len(inv.VatLines) == 4 }},
		{"sparse", cs.SparseInvoice, func(inv erp.Invoice) bool { return inv.Comment == "" && inv.Shipments == nil }},
		{"amount as text", cs.TextAmountInvoice, func(inv erp.Invoice) bool { return inv.TotalInclVat > 100000 }},
		{"several shipments", cs.ManyShipmentsInvoice, func(inv erp.Invoice) bool { return len(inv.Shipments) >= 2 }},
	}
	for _, tt := range invoiceTests {
		t.Run("invoice "+tt.name, func(t *testing.T) {
			if tt.n == "" {
				t.Fatalf("no invoice for case %s", tt.name)
			}
			inv := e.invoice(t, tt.n)
			if inv.CustomerNumber != extendsim.CustomerShowcase || inv.RemainingAmount == nil || !tt.check(inv) {
				t.Errorf("invoice %s does not show case %s: %+v", tt.n, tt.name, inv)
			}
		})
	}
}

func mustOrderOf(t *testing.T, e *env, invoice string) string {
	t.Helper()
	inv, ok := e.sim.Invoice(invoice)
	if !ok || len(inv.OrderNumbers) == 0 {
		t.Fatalf("Invoice(%q) = %+v, %v", invoice, inv, ok)
	}
	return inv.OrderNumbers[0]
}

// TestWireQuirks checks the raw bodies that exercise tolerant decoding.
func TestWireQuirks(t *testing.T) {
	e := setup(t)
	cs := e.sim.Cases()
	textAmount := regexp.MustCompile(`"TotalInclVat":"-?\d{1,3}( \d{3})+\.\d{2}"`)
	tests := []struct {
		name    string
		path    string
		want    []*regexp.Regexp
		notWant []string
	}{
		{"text amount order", "/CustomerOrders/" + cs.TextAmountOrder, []*regexp.Regexp{textAmount}, nil},
		{"text amount invoice", "/CustomerInvoices/" + cs.TextAmountInvoice, []*regexp.Regexp{textAmount}, nil},
		{"sparse order", "/CustomerOrders/" + cs.SparseOrder,
			[]*regexp.Regexp{regexp.MustCompile(`"YourReference":null`), regexp.MustCompile(`"Address2":null`)},
			[]string{`"Shipments"`, `"InvoiceNumbers"`, `"PurchaseOrderNumber"`}},
		{"sparse invoice", "/CustomerInvoices/" + cs.SparseInvoice,
			[]*regexp.Regexp{regexp.MustCompile(`"Comment":null`)}, []string{`"Shipments"`}},
		{"unknown fields", "/CustomerOrders/" + cs.MultiVATOrder, []*regexp.Regexp{regexp.MustCompile(`"DeliveryTerms":`)}, nil},
		{"plain order", "/CustomerOrders/" + cs.DeliveredOrder,
			[]*regexp.Regexp{regexp.MustCompile(`"TotalInclVat":\d+\.\d\d[,}]`), regexp.MustCompile(`"Shipments":\[\{`)}, []string{"null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := e.get(t, tt.path, 200)
			for _, re := range tt.want {
				if !re.Match(body) {
					t.Errorf("GET %s body does not match %s: %s", tt.path, re, body)
				}
			}
			for _, s := range tt.notWant {
				if bytes.Contains(body, []byte(s)) {
					t.Errorf("GET %s body contains %s: %s", tt.path, s, body)
				}
			}
		})
	}
}

func TestInvoicePDF(t *testing.T) {
	e := setup(t)
	cs := e.sim.Cases()
	for _, n := range []string{cs.PaidInvoice, cs.CreditNote, cs.MultiVATInvoice, cs.SparseInvoice} {
		t.Run(n, func(t *testing.T) {
			res, body := e.do(t, http.MethodGet, "/CustomerInvoices/"+n+"/pdf", e.token, "")
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("GET pdf %s = %d %q, want 200 application/pdf", n, res.StatusCode, res.Header.Get("Content-Type"))
			}
			if !bytes.HasPrefix(body, []byte("%PDF-")) || !bytes.HasSuffix(body, []byte("%%EOF")) {
				t.Errorf("PDF %s does not start with %%PDF- and end with %%%%EOF: %q … %q", n, body[:min(10, len(body))], body[max(0, len(body)-10):])
			}
			inv, _ := e.sim.Invoice(n)
			for _, s := range []string{n, inv.Customer.Name, inv.CustomerNumber} {
				if !bytes.Contains(body, []byte("("+s+")")) && !bytes.Contains(body, []byte(s)) {
					t.Errorf("PDF %s does not name %q", n, s)
				}
			}
			checkXref(t, body)
		})
	}
}

// checkXref checks that the cross-reference table points at each object.
func checkXref(t *testing.T, pdf []byte) {
	t.Helper()
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF$`).FindSubmatch(pdf)
	if m == nil {
		t.Fatal("PDF has no startxref")
	}
	off, _ := strconv.Atoi(string(m[1]))
	if off >= len(pdf) || !bytes.HasPrefix(pdf[off:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", off)
	}
	lines := strings.Split(string(pdf[off:]), "\n")
	var count int
	fmt.Sscanf(lines[1], "0 %d", &count)
	if count < 2 {
		t.Fatalf("xref has %d entries", count)
	}
	for i := 1; i < count; i++ {
		entry := lines[2+i]
		if len(entry) != 19 { // 20 bytes with the newline
			t.Errorf("xref entry %q is not 20 bytes", entry)
		}
		o, _ := strconv.Atoi(entry[:10])
		if want := fmt.Sprintf("%d 0 obj", i); !bytes.HasPrefix(pdf[o:], []byte(want)) {
			t.Errorf("xref entry %d points at %q, want %q", i, pdf[o:o+10], want)
		}
	}
	lm := regexp.MustCompile(`/Length (\d+) >>\nstream\n`).FindSubmatchIndex(pdf)
	if lm == nil {
		t.Fatal("PDF has no content stream")
	}
	n, _ := strconv.Atoi(string(pdf[lm[2]:lm[3]]))
	if end := lm[1] + n; end > len(pdf) || !bytes.HasPrefix(pdf[end:], []byte("\nendstream")) {
		t.Errorf("stream /Length %d does not end at endstream", n)
	}
}

func TestCreateOrder(t *testing.T) {
	e := setup(t)
	body := `{"ExternalOrderNumber":"W-777","CustomerNumber":"10001","YourReference":"Anna","Currency":"SEK",
		"ShippingCost":"195,00","Rows":[{"ProductNumber":"HV-1101","Quantity":2,"UnitPrice":899.00,"DiscountAmount":0},
		{"ProductNumber":"LI-9301","Quantity":"3","UnitPrice":64.90}]}`
	var numbers []string
	for range 2 { // Extend accepts the same ExternalOrderNumber twice
		res, b := e.do(t, http.MethodPost, "/CustomerOrders", e.token, body)
		if res.StatusCode != 201 {
			t.Fatalf("POST /CustomerOrders status = %d, want 201: %s", res.StatusCode, b)
		}
		var got struct{ OrderNumber string }
		mustDecode(t, b, &got)
		numbers = append(numbers, got.OrderNumber)
	}
	if numbers[0] == numbers[1] || numbers[0] == "" {
		t.Fatalf("two creates gave numbers %q", numbers)
	}
	var p erp.Page[erp.OrderHeader]
	mustDecode(t, e.get(t, "/CustomerOrders?externalOrderNumber=W-777", 200), &p)
	if p.TotalCount != 2 {
		t.Errorf("orders with ExternalOrderNumber W-777 = %d, want 2", p.TotalCount)
	}
	o := e.order(t, numbers[1])
	want := erp.Order{OrderNumber: numbers[1], ExternalOrderNumber: "W-777", CustomerNumber: "10001",
		OrderDate: today(), Status: erp.StatusRegistered, YourReference: "Anna", Currency: "SEK",
		ShippingCost: 19500, TotalExclVat: 179800 + 19470 + 19500, TotalVat: (179800+19500)/4 + 2336,
		TotalInclVat: 179800 + 19470 + 19500 + (179800+19500)/4 + 2336}
	got := erp.Order{OrderNumber: o.OrderNumber, ExternalOrderNumber: o.ExternalOrderNumber, CustomerNumber: o.CustomerNumber,
		OrderDate: o.OrderDate, Status: o.Status, YourReference: o.YourReference, Currency: o.Currency,
		ShippingCost: o.ShippingCost, TotalExclVat: o.TotalExclVat, TotalVat: o.TotalVat, TotalInclVat: o.TotalInclVat}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created order (-want +got):\n%s", diff)
	}
	if o.Customer.Name != "Byggservice Norrland AB" || o.DeliveryAddress.City == "" || len(o.Rows) != 2 {
		t.Errorf("created order lacks customer, address or rows: %+v", o)
	}
	if got := e.sim.Calls(extendsim.OpOrderCreate); got != 2 {
		t.Errorf("Calls(order-create) = %d, want 2", got)
	}

	bad := []struct {
		name, body string
		status     int
		field      string
	}{
		{"not JSON", `{"CustomerNumber":`, 400, ""},
		{"no customer", `{"Rows":[{"ProductNumber":"HV-1101","Quantity":1}]}`, 400, "CustomerNumber"},
		{"no rows", `{"CustomerNumber":"10001"}`, 400, "Rows"},
		{"zero quantity", `{"CustomerNumber":"10001","Rows":[{"ProductNumber":"HV-1101","Quantity":0}]}`, 400, "Rows[0].Quantity"},
		{"bad date", `{"CustomerNumber":"10001","OrderDate":"15/6","Rows":[{"ProductNumber":"HV-1101","Quantity":1}]}`, 400, "OrderDate"},
		{"unknown customer", `{"CustomerNumber":"42","Rows":[{"ProductNumber":"HV-1101","Quantity":1}]}`, 422, "CustomerNumber"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			res, b := e.do(t, http.MethodPost, "/CustomerOrders", e.token, tt.body)
			got := wantError(t, "POST "+tt.name, res, b, tt.status, "Validation")
			if tt.field != "" && (len(got.Errors) == 0 || got.Errors[0].Field != tt.field) {
				t.Errorf("POST %s Errors = %+v, want field %s", tt.name, got.Errors, tt.field)
			}
		})
	}
}

func today() string { return now.Format(time.DateOnly) }

func TestMutators(t *testing.T) {
	e := setup(t)
	cs := e.sim.Cases()

	t.Run("Touch", func(t *testing.T) {
		before := e.order(t, cs.DeliveredOrder)
		if !e.sim.Touch(cs.DeliveredOrder) || e.sim.Touch("nope") {
			t.Fatal("Touch found the wrong orders")
		}
		after := e.order(t, cs.DeliveredOrder)
		if after.ChangedAt <= before.ChangedAt {
			t.Errorf("ChangedAt after Touch = %s, want after %s", after.ChangedAt, before.ChangedAt)
		}
		var p erp.Page[erp.OrderHeader]
		mustDecode(t, e.get(t, "/CustomerOrders?changedSince="+url.QueryEscape(after.ChangedAt), 200), &p)
		if len(p.Items) != 1 || p.Items[0].OrderNumber != cs.DeliveredOrder {
			t.Errorf("changedSince %s = %+v, want just %s", after.ChangedAt, p.Items, cs.DeliveredOrder)
		}
		// Touching keeps the wire quirks of a record.
		e.sim.Touch(cs.TextAmountOrder)
		if body := e.get(t, "/CustomerOrders/"+cs.TextAmountOrder, 200); !bytes.Contains(body, []byte(`"TotalInclVat":"`)) {
			t.Errorf("TotalInclVat no longer text after Touch: %s", body)
		}
	})
	t.Run("SetOrder and DeleteOrder", func(t *testing.T) {
		n := e.sim.SetOrder(erp.Order{CustomerNumber: "T1", OrderDate: "2025-01-02", Status: erp.StatusReserved})
		if n == "" {
			t.Fatal("SetOrder gave no number")
		}
		headers := e.allOrders(t, "T1")
		if len(headers) != 1 || headers[0].OrderNumber != n || headers[0].ChangedAt != now.Format(time.RFC3339) {
			t.Errorf("orders of T1 = %+v, want %s changed now", headers, n)
		}
		o := e.order(t, n)
		o.CustomerNumber = "T2" // moving it to another customer
		e.sim.SetOrder(o)
		if len(e.allOrders(t, "T1")) != 0 || len(e.allOrders(t, "T2")) != 1 {
			t.Errorf("after moving order %s: T1 %v, T2 %v", n, e.sim.OrderNumbers("T1"), e.sim.OrderNumbers("T2"))
		}
		if !e.sim.DeleteOrder(n) || e.sim.DeleteOrder(n) {
			t.Errorf("DeleteOrder(%s) twice did not answer true, false", n)
		}
		e.get(t, "/CustomerOrders/"+n, 404)
		if len(e.allOrders(t, "T2")) != 0 {
			t.Errorf("deleted order still listed")
		}
	})
	t.Run("SetInvoice", func(t *testing.T) {
		rem := erp.Amount(100)
		n := e.sim.SetInvoice(erp.Invoice{CustomerNumber: "10002", InvoiceDate: today(), RemainingAmount: &rem, TotalInclVat: 100})
		if got := e.invoice(t, n); got.TotalInclVat != 100 || *got.RemainingAmount != 100 {
			t.Errorf("SetInvoice then GET = %+v", got)
		}
		if h := e.allInvoices(t, "10002"); h[0].InvoiceNumber != n {
			t.Errorf("newest invoice of 10002 = %s, want %s", h[0].InvoiceNumber, n)
		}
		if !e.sim.DeleteInvoice(n) {
			t.Errorf("DeleteInvoice(%s) = false", n)
		}
	})
	t.Run("accessors copy", func(t *testing.T) {
		o, _ := e.sim.Order(cs.MultiVATOrder)
		o.Rows[0].Quantity = 999
		if o2, _ := e.sim.Order(cs.MultiVATOrder); o2.Rows[0].Quantity == 999 {
			t.Error("Order returned a slice shared with the store")
		}
	})
}

func TestProducts(t *testing.T) {
	e := setup(t)
	var products erp.Page[struct{ ProductNumber, Name, Unit, ChangedAt string }]
	mustDecode(t, e.get(t, "/Products", 200), &products)
	if products.TotalCount < 35 || len(products.Items) != products.TotalCount {
		t.Errorf("GET /Products: %d of %d items, want about 40", len(products.Items), products.TotalCount)
	}
	var one struct{ ProductNumber, Name, Unit, ChangedAt string }
	mustDecode(t, e.get(t, "/Products/HV-1101", 200), &one)
	if one.Name == "" || one.Unit == "" || one.ChangedAt == "" {
		t.Errorf("GET /Products/HV-1101 = %+v", one)
	}

	type stock struct {
		ProductNumber, Warehouse string
		AvailableBalance         erp.Number
		ChangedAt                string
	}
	tests := []struct {
		query string
		want  int
	}{
		{"", 2 * products.TotalCount},
		{"?productNumbers=HV-1101,SK-3102,NOPE", 4},
		{"?productNumbers=HV-1101&warehouse=HUV", 1},
		{"?warehouse=BUT&pageSize=10", products.TotalCount},
		{"?changedSince=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)), 0},
	}
	for _, tt := range tests {
		t.Run("availability"+tt.query, func(t *testing.T) {
			var p erp.Page[stock]
			mustDecode(t, e.get(t, "/ProductAvailability"+tt.query, 200), &p)
			if p.TotalCount != tt.want {
				t.Errorf("GET /ProductAvailability%s TotalCount = %d, want %d", tt.query, p.TotalCount, tt.want)
			}
		})
	}
	t.Run("SetAvailability", func(t *testing.T) {
		e.clock.Add(time.Minute)
		e.sim.SetAvailability("HV-1101", extendsim.WarehouseMain, 7)
		var p erp.Page[stock]
		mustDecode(t, e.get(t, "/ProductAvailability?changedSince="+url.QueryEscape(e.clock.Now().Format(time.RFC3339)), 200), &p)
		want := []stock{{"HV-1101", "HUV", 7, e.clock.Now().Format(time.RFC3339)}}
		if diff := cmp.Diff(want, p.Items); diff != "" {
			t.Errorf("changed balances (-want +got):\n%s", diff)
		}
	})
	t.Run("prices", func(t *testing.T) {
		var p erp.Page[struct {
			ProductNumber string
			Price         erp.Amount
			Currency      string
		}]
		mustDecode(t, e.get(t, "/ProductPrices?customerNumber=10001&productNumbers=HV-1101,NOPE,PK-0500", 200), &p)
		if len(p.Items) != 2 || p.Items[0].ProductNumber != "HV-1101" || p.Items[0].Price <= 0 || p.Items[0].Price >= 89900 || p.Items[0].Currency != "SEK" {
			t.Errorf("prices of 10001 = %+v, want HV-1101 below list price and PK-0500", p.Items)
		}
		res, body := e.do(t, http.MethodGet, "/ProductPrices?customerNumber=42", e.token, "")
		wantError(t, "prices of unknown customer", res, body, 404, "Validation")
	})
	t.Run("customer", func(t *testing.T) {
		var c struct {
			CustomerNumber, Name string
			Addresses            []erp.Address
		}
		mustDecode(t, e.get(t, "/Customers/00042", 200), &c)
		if c.CustomerNumber != "00042" || c.Name == "" || len(c.Addresses) < 2 || c.Addresses[0].Type != "Invoice" || c.Addresses[1].Type != "Delivery" {
			t.Errorf("GET /Customers/00042 = %+v", c)
		}
	})
}

func TestDeterministic(t *testing.T) {
	opts := extendsim.Options{Now: func() time.Time { return now }, Customers: 5, Seed: 3}
	a, b := extendsim.New(opts), extendsim.New(opts)
	if diff := cmp.Diff(a.Cases(), b.Cases()); diff != "" {
		t.Errorf("Cases differ for one seed (-a +b):\n%s", diff)
	}
	for _, c := range a.CustomerNumbers() {
		for _, n := range a.OrderNumbers(c) {
			oa, _ := a.Order(n)
			ob, _ := b.Order(n)
			if diff := cmp.Diff(oa, ob); diff != "" {
				t.Fatalf("order %s differs for one seed (-a +b):\n%s", n, diff)
			}
		}
	}
	opts.Seed = 4
	c := extendsim.New(opts)
	oa, _ := a.Order(a.OrderNumbers("20001")[0])
	oc, _ := c.Order(c.OrderNumbers("20001")[0])
	if cmp.Equal(oa.Customer, oc.Customer) && cmp.Equal(oa.Rows, oc.Rows) {
		t.Errorf("seeds 3 and 4 generate the same first order of 20001")
	}
	if got := a.SampleCustomers(); !slices.Contains(got, "10001") || len(got) < 3 {
		t.Errorf("SampleCustomers() = %v, want 10001 and others", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := setup(t)
	cs := e.sim.Cases()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				switch (i + j) % 4 {
				case 0:
					e.get(t, "/CustomerOrders?customerNumber=10001&pageSize=5", 200)
				case 1:
					e.get(t, "/CustomerOrders/"+cs.DeliveredOrder, 200)
				case 2:
					e.sim.Touch(cs.DeliveredOrder)
				case 3:
					e.sim.SetAvailability("HV-1101", "HUV", float64(j))
					e.get(t, "/ProductAvailability?productNumbers=HV-1101", 200)
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkOrder(b *testing.B) {
	sim := extendsim.New(extendsim.Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	res, err := srv.Client().PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {extendsim.DefaultClientID}, "client_secret": {extendsim.DefaultClientSecret}})
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	paths := map[string]string{
		"order":      "/CustomerOrders/" + sim.Cases().MultiVATOrder,
		"order-list": "/CustomerOrders?customerNumber=10001&pageSize=25",
		"pdf":        "/CustomerInvoices/" + sim.Cases().MultiVATInvoice + "/pdf",
	}
	for name, p := range paths {
		b.Run(name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p, nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			for b.Loop() {
				rec := httptest.NewRecorder()
				sim.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("GET %s = %d", p, rec.Code)
				}
			}
		})
	}
}

// TestAnyClock generates the data at awkward moments and checks that the
// amounts add up, nothing changed in the future, and the payment cases
// hold on the merchant's calendar (Europe/Stockholm).
func TestAnyClock(t *testing.T) {
	sthlm, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	for _, at := range []time.Time{
		time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC),
		time.Date(2024, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 30, 0, 30, 0, 0, time.UTC), // DST starts in Stockholm
	} {
		t.Run(at.Format(time.RFC3339), func(t *testing.T) {
			sim := extendsim.New(extendsim.Options{Now: func() time.Time { return at }, Customers: 20, Seed: at.Unix()})
			stamp := at.Format(time.RFC3339)
			for _, c := range sim.CustomerNumbers() {
				for _, n := range sim.OrderNumbers(c) {
					o, _ := sim.Order(n)
					for _, s := range checkAmounts("order "+n, o.Rows, o.VatLines, o.ShippingCost, o.TotalExclVat, o.TotalVat, o.TotalInclVat) {
						t.Error(s)
					}
					if o.ChangedAt > stamp || o.OrderDate > at.Format(time.DateOnly) {
						t.Errorf("order %s dated %s, changed %s: after %s", n, o.OrderDate, o.ChangedAt, stamp)
					}
				}
				for _, n := range sim.InvoiceNumbers(c) {
					inv, _ := sim.Invoice(n)
					for _, s := range checkAmounts("invoice "+n, inv.Rows, inv.VatLines, inv.ShippingCost, inv.TotalExclVat, inv.TotalVat, inv.TotalInclVat) {
						t.Error(s)
					}
					if inv.ChangedAt > stamp {
						t.Errorf("invoice %s changed %s, after %s", n, inv.ChangedAt, stamp)
					}
				}
			}
			local := at.In(sthlm).Format(time.DateOnly)
			cs := sim.Cases()
			due := func(n string) string { inv, _ := sim.Invoice(n); return inv.DueDate }
			if d := due(cs.UnpaidInvoice); d <= local {
				t.Errorf("unpaid invoice due %s, not after today %s", d, local)
			}
			if d := due(cs.PartlyPaidInvoice); d <= local {
				t.Errorf("partly paid invoice due %s, not after today %s", d, local)
			}
			if d := due(cs.OverdueInvoice); d >= local {
				t.Errorf("overdue invoice due %s, not before today %s", d, local)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		extendsim.New(extendsim.Options{})
	}
}
