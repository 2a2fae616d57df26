package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/schemas"
)

const showcase = extendsim.CustomerShowcase

// TestErrors sends every kind of bad request and checks the contract's
// status, code and JSON body.
func TestErrors(t *testing.T) {
	ev := newEnv(t)
	cases := ev.sim.Cases()
	foreign := ev.sim.OrderNumbers(extendsim.CustomerOther)[0]
	key := map[string]string{"X-Api-Key": testKey}
	tests := []struct {
		name    string
		method  string
		target  string
		header  map[string]string
		status  int
		code    string
		message string // a part of the message, when it matters
	}{
		{"no key", "GET", "/v1/orders?customer_no=10001", nil, 401, "unauthorized", ""},
		{"wrong key", "GET", "/v1/orders?customer_no=10001", map[string]string{"X-Api-Key": "nope"}, 401, "unauthorized", ""},
		{"key of other header", "GET", "/v1/orders?customer_no=10001", map[string]string{"X-Key": testKey}, 401, "unauthorized", ""},
		{"no key on detail", "GET", "/v1/invoices/1?customer_no=10001", nil, 401, "unauthorized", ""},
		{"no customer", "GET", "/v1/orders", key, 400, "invalid_request", "customer_no"},
		{"empty customer", "GET", "/v1/orders?customer_no=", key, 400, "invalid_request", "customer_no"},
		{"customer too long", "GET", "/v1/orders?customer_no=" + strings.Repeat("1", 33), key, 400, "invalid_request", "customer_no"},
		{"customer with space", "GET", "/v1/orders?customer_no=10%2001", key, 400, "invalid_request", "customer_no"},
		{"customer non-ascii", "GET", "/v1/orders?customer_no=%C3%A510", key, 400, "invalid_request", "customer_no"},
		{"customer glob", "GET", "/v1/invoices?customer_no=1*", key, 400, "invalid_request", "customer_no"},
		{"customer twice", "GET", "/v1/orders?customer_no=10001&customer_no=10002", key, 400, "invalid_request", "customer_no"},
		{"bad from", "GET", "/v1/orders?customer_no=10001&from=2026-13-01", key, 400, "invalid_request", "from"},
		{"bad to", "GET", "/v1/invoices?customer_no=10001&to=20260101", key, 400, "invalid_request", "to"},
		{"impossible date", "GET", "/v1/orders?customer_no=10001&to=2026-02-30", key, 400, "invalid_request", "to"},
		{"from after to", "GET", "/v1/orders?customer_no=10001&from=2026-05-02&to=2026-05-01", key, 400, "invalid_request", "from"},
		{"page zero", "GET", "/v1/orders?customer_no=10001&page=0", key, 400, "invalid_request", "page"},
		{"page negative", "GET", "/v1/orders?customer_no=10001&page=-1", key, 400, "invalid_request", "page"},
		{"page text", "GET", "/v1/orders?customer_no=10001&page=two", key, 400, "invalid_request", "page"},
		{"page huge", "GET", "/v1/orders?customer_no=10001&page=99999999999999999999", key, 400, "invalid_request", "page"},
		{"per_page 0", "GET", "/v1/invoices?customer_no=10001&per_page=0", key, 400, "invalid_request", "per_page"},
		{"per_page 101", "GET", "/v1/invoices?customer_no=10001&per_page=101", key, 400, "invalid_request", "per_page"},
		{"per_page float", "GET", "/v1/invoices?customer_no=10001&per_page=2.5", key, 400, "invalid_request", "per_page"},
		{"detail no customer", "GET", "/v1/orders/" + cases.DeliveredOrder, key, 400, "invalid_request", "customer_no"},
		{"detail bad id", "GET", "/v1/orders/a%20b?customer_no=10001", key, 400, "invalid_request", "id"},
		{"detail dot id", "GET", "/v1/orders/..?customer_no=10001", key, 400, "invalid_request", "id"},
		{"detail long id", "GET", "/v1/invoices/" + strings.Repeat("9", 65) + "?customer_no=10001", key, 400, "invalid_request", "id"},
		{"missing order", "GET", "/v1/orders/999999?customer_no=10001", key, 404, "not_found", ""},
		{"foreign order", "GET", "/v1/orders/" + foreign + "?customer_no=10001", key, 404, "not_found", ""},
		{"missing invoice", "GET", "/v1/invoices/999999?customer_no=10001", key, 404, "not_found", ""},
		{"order as other customer", "GET", "/v1/orders/" + cases.DeliveredOrder + "?customer_no=10002", key, 404, "not_found", ""},
		{"order as 10001 with leading zero", "GET", "/v1/orders/" + cases.DeliveredOrder + "?customer_no=010001", key, 404, "not_found", ""},
		{"unknown route", "GET", "/v1/nothing", key, 404, "not_found", ""},
		{"root", "GET", "/", nil, 404, "not_found", ""},
		{"wrong method", "PUT", "/v1/orders?customer_no=10001", key, 405, "invalid_request", "method"},
		{"forged document", "GET", "/v1/documents/abc.def", nil, 404, "not_found", ""},
		{"flush no token", "POST", "/admin/cache/flush", nil, 401, "unauthorized", ""},
		{"flush wrong token", "POST", "/admin/cache/flush", map[string]string{"Authorization": "Bearer nope"}, 401, "unauthorized", ""},
		{"flush api key is not admin", "POST", "/admin/cache/flush", map[string]string{"Authorization": "Bearer " + testKey}, 401, "unauthorized", ""},
		{"flush bad customer", "POST", "/admin/cache/flush?customer_no=a:b", map[string]string{"Authorization": "Bearer " + testAdmin}, 400, "invalid_request", "customer_no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ev.wire(t, tt.method, tt.target, tt.header)
			if rec.Code != tt.status {
				t.Fatalf("%s %s status = %d, want %d\n%s", tt.method, tt.target, rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			got := decode[api.Error](t, rec)
			if got.Error.Code != tt.code {
				t.Errorf("code = %q, want %q", got.Error.Code, tt.code)
			}
			if got.Error.Message == "" || !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("message = %q, want it to name %q", got.Error.Message, tt.message)
			}
		})
	}
}

// TestForeignIsMissing: a foreign id gets exactly the answer of a missing
// one, so a customer cannot even learn that it exists.
func TestForeignIsMissing(t *testing.T) {
	ev := newEnv(t)
	foreign := ev.sim.OrderNumbers(extendsim.CustomerOther)[0]
	a := ev.get(t, "/v1/orders/"+foreign+"?customer_no=10001")
	b := ev.get(t, "/v1/orders/999999?customer_no=10001")
	if a.Code != b.Code || a.Body.String() != b.Body.String() {
		t.Errorf("foreign: %d %s; missing: %d %s; want the same", a.Code, a.Body, b.Code, b.Body)
	}
	inv := ev.sim.InvoiceNumbers(extendsim.CustomerOther)[0]
	a = ev.get(t, "/v1/invoices/"+inv+"?customer_no=10001")
	b = ev.get(t, "/v1/invoices/999999?customer_no=10001")
	if a.Code != 404 || a.Body.String() != b.Body.String() {
		t.Errorf("foreign invoice: %d %s; missing: %d %s; want the same 404", a.Code, a.Body, b.Code, b.Body)
	}
}

func TestOrderList(t *testing.T) {
	ev := newEnv(t)
	rec := ev.wire(t, "GET", "/v1/orders?customer_no=10001&per_page=100", map[string]string{"X-Api-Key": testKey})
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200\n%s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("X-Cache"); got != "MISS" {
		t.Errorf("first X-Cache = %q, want MISS", got)
	}
	list := decode[api.OrderList](t, rec)
	if len(list.Orders) == 0 || list.Total != len(list.Orders) || list.Page != 1 || list.PerPage != 100 {
		t.Fatalf("list = %d rows, page %d, per_page %d, total %d", len(list.Orders), list.Page, list.PerPage, list.Total)
	}
	from := testNow.AddDate(-1, 0, 0).Format("2006-01-02")
	for i, o := range list.Orders {
		if o.CustomerNo != showcase {
			t.Errorf("row %d customer_no = %q, want %s", i, o.CustomerNo, showcase)
		}
		if o.Date < from {
			t.Errorf("row %d date %s before the default from %s", i, o.Date, from)
		}
		if i > 0 && o.Date > list.Orders[i-1].Date {
			t.Errorf("row %d date %s after row %d's %s: want newest first", i, o.Date, i-1, list.Orders[i-1].Date)
		}
		if !strings.HasSuffix(o.Sum, " kr") {
			t.Errorf("row %d sum = %q, want SEK formatted", i, o.Sum)
		}
	}
	again := ev.get(t, "/v1/orders?customer_no=10001&per_page=100")
	if got := again.Header().Get("X-Cache"); got != "HIT" {
		t.Errorf("second X-Cache = %q, want HIT", got)
	}
	if again.Body.String() != rec.Body.String() {
		t.Errorf("HIT body differs from MISS body")
	}
	if cs := again.Header().Get("Cache-Status"); !strings.HasPrefix(cs, "gateway; hit") {
		t.Errorf("Cache-Status = %q, want gateway; hit", cs)
	}
}

func TestPaging(t *testing.T) {
	ev := newEnv(t)
	all := decode[api.OrderList](t, ev.get(t, "/v1/orders?customer_no=10001&from=2025-01-01&per_page=100"))
	var paged []api.OrderRow
	for p := 1; ; p++ {
		rec := ev.get(t, "/v1/orders?customer_no=10001&from=2025-01-01&per_page=7&page="+strconv.Itoa(p))
		l := decode[api.OrderList](t, rec)
		if l.Total != all.Total {
			t.Fatalf("page %d total = %d, want %d", p, l.Total, all.Total)
		}
		if len(l.Orders) == 0 {
			if l.Orders == nil || !strings.Contains(rec.Body.String(), `"orders":[]`) {
				t.Errorf("page past the end: %s, want orders []", rec.Body)
			}
			break
		}
		paged = append(paged, l.Orders...)
	}
	if len(paged) != len(all.Orders) {
		t.Fatalf("pages hold %d rows, want %d", len(paged), len(all.Orders))
	}
	for i := range paged {
		if paged[i].ID != all.Orders[i].ID {
			t.Errorf("row %d = %s, want %s", i, paged[i].ID, all.Orders[i].ID)
		}
	}
}

func TestUnknownCustomerIsEmpty(t *testing.T) {
	ev := newEnv(t)
	for _, path := range []string{"/v1/orders?customer_no=NOBODY", "/v1/invoices?customer_no=42"} {
		rec := ev.get(t, path)
		if rec.Code != 200 {
			t.Fatalf("GET %s = %d, want 200\n%s", path, rec.Code, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), `[]`) || !strings.Contains(rec.Body.String(), `"total":0`) {
			t.Errorf("GET %s = %s, want [] and total 0", path, rec.Body)
		}
	}
}

// TestScoping: every row of every list belongs to the customer who asked.
func TestScoping(t *testing.T) {
	ev := newEnv(t)
	for _, c := range []string{showcase, extendsim.CustomerOther, extendsim.CustomerLeadingZeros} {
		ol := decode[api.OrderList](t, ev.get(t, "/v1/orders?customer_no="+c+"&from=2024-01-01&per_page=100"))
		il := decode[api.InvoiceList](t, ev.get(t, "/v1/invoices?customer_no="+c+"&from=2024-01-01&per_page=100"))
		if len(ol.Orders) == 0 || len(il.Invoices) == 0 {
			t.Errorf("customer %s: %d orders, %d invoices; want some of each", c, len(ol.Orders), len(il.Invoices))
		}
		for _, o := range ol.Orders {
			if o.CustomerNo != c {
				t.Errorf("customer %s sees order %s of %s", c, o.ID, o.CustomerNo)
			}
		}
		for _, inv := range il.Invoices {
			if inv.CustomerNo != c {
				t.Errorf("customer %s sees invoice %s of %s", c, inv.ID, inv.CustomerNo)
			}
		}
	}
	// "42" is not "00042".
	l := decode[api.OrderList](t, ev.get(t, "/v1/orders?customer_no=42&from=2024-01-01"))
	if l.Total != 0 {
		t.Errorf("customer 42 sees %d orders, want 0 (00042 is another customer)", l.Total)
	}
}

// TestGolden pins the answers for the showcase records.
func TestGolden(t *testing.T) {
	ev := newEnv(t)
	c := ev.sim.Cases()
	tests := []struct {
		name, target, schema string
	}{
		{"order_list", "/v1/orders?customer_no=10001&per_page=5", schemas.OrderList},
		{"invoice_list", "/v1/invoices?customer_no=10001&per_page=5", schemas.InvoiceList},
		{"order_multi_vat", "/v1/orders/" + c.MultiVATOrder + "?customer_no=10001", schemas.Order},
		{"order_many_shipments", "/v1/orders/" + c.ManyShipmentsOrder + "?customer_no=10001", schemas.Order},
		{"order_sparse", "/v1/orders/" + c.SparseOrder + "?customer_no=10001", schemas.Order},
		{"invoice_two_orders", "/v1/invoices/" + c.TwoOrdersInvoice + "?customer_no=10001", schemas.Invoice},
		{"invoice_credit_note", "/v1/invoices/" + c.CreditNote + "?customer_no=10001", schemas.Invoice},
		{"invoice_overdue", "/v1/invoices/" + c.OverdueInvoice + "?customer_no=10001", schemas.Invoice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ev.get(t, tt.target)
			if rec.Code != 200 {
				t.Fatalf("GET %s = %d\n%s", tt.target, rec.Code, rec.Body)
			}
			golden(t, tt.name, tt.schema, rec.Body.Bytes())
		})
	}
}

func TestHealth(t *testing.T) {
	ev := newEnv(t, withRedis())
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := ev.do(t, "GET", path, nil)
		if rec.Code != 200 || decode[api.Health](t, rec).Status != "ok" {
			t.Errorf("GET %s = %d %s, want 200 ok", path, rec.Code, rec.Body)
		}
	}
}

// TestFlush: a flushed customer's next read is a MISS; others stay HIT.
func TestFlush(t *testing.T) {
	for _, redis := range []bool{false, true} {
		name := "memory"
		var opts []envOption
		if redis {
			name, opts = "redis", []envOption{withRedis()}
		}
		t.Run(name, func(t *testing.T) {
			ev := newEnv(t, opts...)
			a, b := "/v1/orders?customer_no=10001", "/v1/orders?customer_no=10002"
			ev.get(t, a)
			ev.get(t, b)
			admin := map[string]string{"Authorization": "Bearer " + testAdmin}
			rec := ev.do(t, "POST", "/admin/cache/flush?customer_no=10001", admin)
			if rec.Code != 200 || decode[api.Flushed](t, rec).Flushed < 1 {
				t.Fatalf("flush = %d %s, want 200 and at least 1", rec.Code, rec.Body)
			}
			if got := ev.get(t, a).Header().Get("X-Cache"); got != "MISS" {
				t.Errorf("flushed customer X-Cache = %q, want MISS", got)
			}
			if got := ev.get(t, b).Header().Get("X-Cache"); got != "HIT" {
				t.Errorf("other customer X-Cache = %q, want HIT", got)
			}
			rec = ev.do(t, "POST", "/admin/cache/flush", admin)
			if rec.Code != 200 || decode[api.Flushed](t, rec).Flushed < 2 {
				t.Fatalf("flush all = %d %s, want 200 and at least 2", rec.Code, rec.Body)
			}
			if got := ev.get(t, b).Header().Get("X-Cache"); got != "MISS" {
				t.Errorf("after flush-all X-Cache = %q, want MISS", got)
			}
		})
	}
}
