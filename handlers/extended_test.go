package handlers_test

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/schemas"
)

// Products of the simulated catalogue used below, and one it lacks.
const (
	pVest    = "HV-1101" // stocked in HUV and BUT
	pDrill   = "VE-6101"
	pCoffee  = "LI-9301"
	pMissing = "NO-SUCH-1"
)

// TestExtendedGolden checks each extended answer's shape against its golden
// file (and schema), and that the same call again is a cache HIT with the
// same body.
func TestExtendedGolden(t *testing.T) {
	tests := []struct {
		name, target, schema string
		first                string // X-Cache of the first GET; "" is MISS
	}{
		{"extended_backorders", "/v1/backorders?customer_no=10001", schemas.Backorders, ""},
		{"extended_credit_invoices", "/v1/credit-invoices?customer_no=10001", schemas.CreditInvoiceList, ""},
		{"extended_credit_invoices_page_past_end", "/v1/credit-invoices?customer_no=10001&page=9&per_page=10", schemas.CreditInvoiceList, ""},
		{"extended_addresses", "/v1/addresses?customer_no=10001", schemas.Addresses, ""},
		{"extended_prices", "/v1/prices?customer_no=10001&products=" + strings.Join([]string{pVest, pMissing, pDrill, pCoffee}, ","), schemas.Prices, ""},
		{"extended_stock", "/v1/stock?products=" + strings.Join([]string{pVest, pDrill, pMissing}, ","), schemas.Stock, ""},
		// The balances of every warehouse are one entry per product,
		// cached by the call before.
		{"extended_stock_huv", "/v1/stock?warehouse=" + extendsim.WarehouseMain + "&products=" + strings.Join([]string{pVest, pDrill, pMissing}, ","), schemas.Stock, "HIT"},
		{"extended_unknown_customer_backorders", "/v1/backorders?customer_no=99999", schemas.Backorders, ""},
		{"extended_unknown_customer_addresses", "/v1/addresses?customer_no=99999", schemas.Addresses, ""},
		{"extended_unknown_customer_prices", "/v1/prices?customer_no=99999&products=" + pVest, schemas.Prices, ""},
	}
	ev := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ev.wire(t, http.MethodGet, tt.target, map[string]string{"X-Api-Key": testKey})
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200\n%s", tt.target, rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got, want := rec.Header().Get("X-Cache"), cmp.Or(tt.first, "MISS"); got != want {
				t.Errorf("first GET %s: X-Cache = %q, want %s", tt.target, got, want)
			}
			golden(t, tt.name, tt.schema, rec.Body.Bytes())

			again := ev.get(t, tt.target)
			if got := again.Header().Get("X-Cache"); got != "HIT" {
				t.Errorf("second GET %s: X-Cache = %q, want HIT", tt.target, got)
			}
			if got := again.Header().Get("Cache-Status"); !strings.HasPrefix(got, "gateway; hit") {
				t.Errorf("second GET %s: Cache-Status = %q", tt.target, got)
			}
			if again.Body.String() != rec.Body.String() {
				t.Errorf("HIT body differs from MISS body:\n%s\n%s", again.Body, rec.Body)
			}
		})
	}
}

// TestBackorders checks the rows against the ERP's records: every row of
// an open order with something backordered, and nothing else.
func TestBackorders(t *testing.T) {
	ev := newEnv(t)
	got := decode[api.Backorders](t, ev.get(t, "/v1/backorders?customer_no=10001"))
	want := 0
	for _, n := range ev.sim.OrderNumbers(extendsim.CustomerShowcase) {
		o, _ := ev.sim.Order(n)
		if o.Status == erp.StatusDelivered || o.Status == erp.StatusCancelled ||
			o.OrderDate < testNow.AddDate(0, 0, -365).Format(time.DateOnly) {
			continue // closed, or older than backorders look
		}
		for _, r := range o.Rows {
			if r.BackorderQuantity > 0 {
				want++
			}
		}
	}
	if want == 0 {
		t.Fatal("sample data has no backorders; the test proves nothing")
	}
	if len(got.Backorders) != want {
		t.Errorf("backorders = %d rows, want %d", len(got.Backorders), want)
	}
	partial := ev.sim.Cases().PartialOrder
	found := false
	for i, b := range got.Backorders {
		if b.OrderNo == partial {
			found = true
		}
		if i > 0 && b.OrderDate > got.Backorders[i-1].OrderDate {
			t.Errorf("row %d (%s) is newer than row %d: want newest first", i, b.OrderDate, i-1)
		}
		if b.Backordered <= 0 {
			t.Errorf("row %d backordered = %v, want > 0", i, b.Backordered)
		}
	}
	if !found {
		t.Errorf("PartialOrder %s is not among the backorders", partial)
	}

	// Delivering the partial order removes its rows (once the cache is
	// told: the webhook path flushes the customer).
	o, _ := ev.sim.Order(partial)
	o.Status, o.ChangedAt = erp.StatusDelivered, "" // ChangedAt: now
	ev.sim.SetOrder(o)
	if _, err := ev.svc.FlushCustomer(ctx(), extendsim.CustomerShowcase); err != nil {
		t.Fatal(err)
	}
	for _, b := range decode[api.Backorders](t, ev.get(t, "/v1/backorders?customer_no=10001")).Backorders {
		if b.OrderNo == partial {
			t.Errorf("delivered order %s still listed", partial)
		}
	}
}

// TestCreditInvoices: only credit notes, each of them, paged correctly.
func TestCreditInvoices(t *testing.T) {
	ev := newEnv(t)
	var credits []string
	for _, n := range ev.sim.InvoiceNumbers(extendsim.CustomerShowcase) {
		if inv, _ := ev.sim.Invoice(n); inv.IsCredit {
			credits = append(credits, n)
		}
	}
	// A second credit note, so that paging has something to cut.
	extra, _ := ev.sim.Invoice(ev.sim.Cases().CreditNote)
	extra.InvoiceNumber = ""
	extra.InvoiceDate = testNow.AddDate(0, 0, -3).Format(time.DateOnly)
	credits = append([]string{ev.sim.SetInvoice(extra)}, credits...)

	all := decode[api.InvoiceList](t, ev.get(t, "/v1/credit-invoices?customer_no=10001&per_page=100"))
	if all.Total != len(credits) || len(all.Invoices) != len(credits) {
		t.Fatalf("credit notes = %d rows, total %d; want %d", len(all.Invoices), all.Total, len(credits))
	}
	for i, row := range all.Invoices {
		if row.ID != credits[i] || row.PaymentStatus != "credited" {
			t.Errorf("row %d = %s %s, want %s credited", i, row.ID, row.PaymentStatus, credits[i])
		}
	}
	p2 := decode[api.InvoiceList](t, ev.get(t, "/v1/credit-invoices?customer_no=10001&per_page=1&page=2"))
	if p2.Total != len(credits) || len(p2.Invoices) != 1 || p2.Invoices[0].ID != credits[1] || p2.Page != 2 || p2.PerPage != 1 {
		t.Errorf("page 2 of 1 = %+v, want %s with total %d", p2, credits[1], len(credits))
	}
	// The single credit note is served by GET /v1/invoices/{id}.
	if rec := ev.get(t, "/v1/invoices/"+credits[0]+"?customer_no=10001"); rec.Code != 200 {
		t.Errorf("GET /v1/invoices/%s = %d, want 200", credits[0], rec.Code)
	}
}

// TestExtendedErrors is the error matrix of the extended calls.
func TestExtendedErrors(t *testing.T) {
	ev := newEnv(t)
	key := map[string]string{"X-Api-Key": testKey}
	many := func(n int) string {
		ps := make([]string, n)
		for i := range ps {
			ps[i] = fmt.Sprintf("P-%d", i)
		}
		return strings.Join(ps, ",")
	}
	tests := []struct {
		name    string
		target  string
		header  map[string]string
		status  int
		code    string
		message string
	}{
		{"backorders no key", "/v1/backorders?customer_no=10001", nil, 401, "unauthorized", ""},
		{"credit no key", "/v1/credit-invoices?customer_no=10001", nil, 401, "unauthorized", ""},
		{"addresses wrong key", "/v1/addresses?customer_no=10001", map[string]string{"X-Api-Key": "nope"}, 401, "unauthorized", ""},
		{"prices no key", "/v1/prices?customer_no=10001&products=A", nil, 401, "unauthorized", ""},
		{"stock no key", "/v1/stock?products=A", nil, 401, "unauthorized", ""},
		{"stock key in other header", "/v1/stock?products=A", map[string]string{"X-Key": testKey}, 401, "unauthorized", ""},

		{"backorders no customer", "/v1/backorders", key, 400, "invalid_request", "customer_no"},
		{"backorders customer twice", "/v1/backorders?customer_no=10001&customer_no=10002", key, 400, "invalid_request", "customer_no"},
		{"addresses bad customer", "/v1/addresses?customer_no=10%2A01", key, 400, "invalid_request", "customer_no"},
		{"addresses long customer", "/v1/addresses?customer_no=" + strings.Repeat("1", 33), key, 400, "invalid_request", "customer_no"},
		{"credit bad per_page", "/v1/credit-invoices?customer_no=10001&per_page=101", key, 400, "invalid_request", "per_page"},
		{"credit from after to", "/v1/credit-invoices?customer_no=10001&from=2026-05-02&to=2026-05-01", key, 400, "invalid_request", "from"},
		{"credit no customer", "/v1/credit-invoices?page=1", key, 400, "invalid_request", "customer_no"},
		{"prices no customer", "/v1/prices?products=A", key, 400, "invalid_request", "customer_no"},
		{"prices no products", "/v1/prices?customer_no=10001", key, 400, "invalid_request", "products"},
		{"prices empty products", "/v1/prices?customer_no=10001&products=", key, 400, "invalid_request", "products"},
		{"prices only comma", "/v1/prices?customer_no=10001&products=,", key, 400, "invalid_request", "products"},
		{"prices empty entry", "/v1/prices?customer_no=10001&products=A,,B", key, 400, "invalid_request", "entry 2"},
		{"prices trailing comma", "/v1/prices?customer_no=10001&products=A,", key, 400, "invalid_request", "entry 2"},
		{"prices newline", "/v1/prices?customer_no=10001&products=A,B%0AC", key, 400, "invalid_request", "entry 2"},
		{"prices not utf-8", "/v1/prices?customer_no=10001&products=%C3", key, 400, "invalid_request", "products"},
		{"prices tab", "/v1/prices?customer_no=10001&products=A%09", key, 400, "invalid_request", "products"},
		{"prices right-to-left override", "/v1/prices?customer_no=10001&products=A%E2%80%AEB", key, 400, "invalid_request", "products"},
		{"prices line separator", "/v1/prices?customer_no=10001&products=A%E2%80%A8B", key, 400, "invalid_request", "products"},
		{"prices 65 bytes", "/v1/prices?customer_no=10001&products=" + strings.Repeat("A", 65), key, 400, "invalid_request", "products"},
		{"prices 66 bytes in 33 letters", "/v1/prices?customer_no=10001&products=" + strings.Repeat("%C3%B6", 33), key, 400, "invalid_request", "products"},
		{"prices duplicate", "/v1/prices?customer_no=10001&products=A,B,A", key, 400, "invalid_request", "products names A more than once"},
		{"prices given twice", "/v1/prices?customer_no=10001&products=A&products=B", key, 400, "invalid_request", "products"},
		{"prices 101 products", "/v1/prices?customer_no=10001&products=" + many(101), key, 400, "invalid_request", "products names 101"},
		{"stock no products", "/v1/stock", key, 400, "invalid_request", "products"},
		{"stock 101 products", "/v1/stock?products=" + many(101), key, 400, "invalid_request", "products"},
		{"stock duplicate", "/v1/stock?products=" + pVest + "," + pVest, key, 400, "invalid_request", "products"},
		{"stock bad warehouse", "/v1/stock?products=A&warehouse=H%0DV", key, 400, "invalid_request", "warehouse"},
		{"stock comma warehouse", "/v1/stock?products=A&warehouse=HUV,BUT", key, 400, "invalid_request", "warehouse"},
		{"stock long warehouse", "/v1/stock?products=A&warehouse=" + strings.Repeat("W", 65), key, 400, "invalid_request", "warehouse"},
		{"stock warehouse twice", "/v1/stock?products=A&warehouse=HUV&warehouse=BUT", key, 400, "invalid_request", "warehouse"},
		{"wrong method", "/v1/prices?customer_no=10001&products=A", key, 405, "invalid_request", "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if tt.status == 405 {
				method = http.MethodDelete
			}
			rec := ev.do(t, method, tt.target, tt.header)
			if rec.Code != tt.status {
				t.Fatalf("%s %s = %d, want %d\n%s", method, tt.target, rec.Code, tt.status, rec.Body)
			}
			got := decode[api.Error](t, rec)
			if got.Error.Code != tt.code || !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("error = %+v, want code %q and a message naming %q", got.Error, tt.code, tt.message)
			}
		})
	}
	if n := ev.sim.Calls(extendsim.OpPrices) + ev.sim.Calls(extendsim.OpAvailability) + ev.sim.Calls(extendsim.OpOrderList); n != 0 {
		t.Errorf("bad requests made %d ERP calls, want 0", n)
	}
}

// TestExtendedLimits: 100 products are allowed, stock needs no customer_no.
func TestExtendedLimits(t *testing.T) {
	ev := newEnv(t)
	ps := append([]string(nil), ev.sim.ProductNumbers()...)
	for i := len(ps); i < 100; i++ {
		ps = append(ps, fmt.Sprintf("X-%d", i))
	}
	list := strings.Join(ps[:100], ",")
	for _, target := range []string{"/v1/prices?customer_no=10001&products=" + list, "/v1/stock?products=" + list} {
		rec := ev.get(t, target)
		if rec.Code != 200 {
			t.Fatalf("GET with 100 products = %d\n%s", rec.Code, rec.Body)
		}
	}
	if got := ev.sim.Calls(extendsim.OpPrices); got != 1 {
		t.Errorf("ERP price calls for 100 products = %d, want 1", got)
	}
}

// TestExtendedScoping: one customer's prices and addresses never reach
// another, through the cache neither.
func TestExtendedScoping(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var opts []envOption
			if store == "redis" {
				opts = append(opts, withRedis())
			}
			ev := newEnv(t, opts...)
			products := pVest + "," + pDrill
			for _, path := range []string{"/v1/prices?products=" + products + "&customer_no=", "/v1/addresses?customer_no=", "/v1/backorders?customer_no="} {
				a := ev.get(t, path+extendsim.CustomerShowcase)
				b := ev.get(t, path+extendsim.CustomerOther)
				if a.Code != 200 || b.Code != 200 {
					t.Fatalf("%s: %d, %d", path, a.Code, b.Code)
				}
				if got := b.Header().Get("X-Cache"); got != "MISS" {
					t.Errorf("%s%s after %s: X-Cache = %q, want MISS (never the other customer's entry)", path, extendsim.CustomerOther, extendsim.CustomerShowcase, got)
				}
				if path != "/v1/backorders?customer_no=" && a.Body.String() == b.Body.String() {
					t.Errorf("%s: both customers got %s", path, a.Body)
				}
				zero := ev.get(t, path+"0"+extendsim.CustomerShowcase)
				if zero.Body.String() == a.Body.String() {
					t.Errorf("%s: 0%s got %s's answer", path, extendsim.CustomerShowcase, extendsim.CustomerShowcase)
				}
			}
			// Flushing one customer leaves the other's prices cached.
			if _, err := ev.svc.FlushCustomer(ctx(), extendsim.CustomerShowcase); err != nil {
				t.Fatal(err)
			}
			if got := ev.get(t, "/v1/prices?customer_no="+extendsim.CustomerOther+"&products="+products).Header().Get("X-Cache"); got != "HIT" {
				t.Errorf("other customer's prices after a flush of %s: X-Cache = %q, want HIT", extendsim.CustomerShowcase, got)
			}
			if got := ev.get(t, "/v1/prices?customer_no="+extendsim.CustomerShowcase+"&products="+products).Header().Get("X-Cache"); got != "MISS" {
				t.Errorf("flushed customer's prices: X-Cache = %q, want MISS", got)
			}
		})
	}
}

// TestPricesPerProductCache: a page costs one ERP call for the products not
// cached; a page sharing products with an earlier one asks for the rest.
func TestPricesPerProductCache(t *testing.T) {
	ev := newEnv(t, withRedis())
	ps := ev.sim.ProductNumbers()
	first := strings.Join(ps[:20], ",")
	overlap := strings.Join(ps[10:30], ",")
	rec := ev.get(t, "/v1/prices?customer_no=10001&products="+first)
	if rec.Header().Get("X-Cache") != "MISS" || ev.sim.Calls(extendsim.OpPrices) != 1 {
		t.Fatalf("first page: X-Cache %q, %d ERP calls; want MISS, 1", rec.Header().Get("X-Cache"), ev.sim.Calls(extendsim.OpPrices))
	}
	rec = ev.get(t, "/v1/prices?customer_no=10001&products="+overlap)
	if rec.Header().Get("X-Cache") != "MISS" || ev.sim.Calls(extendsim.OpPrices) != 2 {
		t.Fatalf("overlapping page: X-Cache %q, %d ERP calls; want MISS, 2", rec.Header().Get("X-Cache"), ev.sim.Calls(extendsim.OpPrices))
	}
	got := decode[api.Prices](t, rec)
	if len(got.Prices) != 20 || got.Prices[0].Model != ps[10] || got.Prices[19].Model != ps[29] {
		t.Errorf("overlapping page = %d prices from %v, want 20 in the order asked", len(got.Prices), got.Prices)
	}
	// Any subset of what is cached is a HIT, without the ERP.
	rec = ev.get(t, "/v1/prices?customer_no=10001&products="+ps[25]+","+ps[3])
	if rec.Header().Get("X-Cache") != "HIT" || ev.sim.Calls(extendsim.OpPrices) != 2 {
		t.Errorf("subset: X-Cache %q, %d ERP calls; want HIT, 2", rec.Header().Get("X-Cache"), ev.sim.Calls(extendsim.OpPrices))
	}
}

// TestPricesCoalescing: concurrent cold requests for one page make one ERP
// call.
func TestPricesCoalescing(t *testing.T) {
	ev := newEnv(t)
	ev.sim.SetLatency(50 * time.Millisecond)
	target := "/v1/prices?customer_no=10001&products=" + pVest + "," + pDrill
	ev.getAll(t, target, 20)
	if got := ev.sim.Calls(extendsim.OpPrices); got != 1 {
		t.Errorf("ERP price calls = %d, want 1", got)
	}
}

// TestStockChanged: a balance change shows at once after StockChanged, for
// every warehouse filter, without waiting for the TTL.
func TestStockChanged(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var opts []envOption
			if store == "redis" {
				opts = append(opts, withRedis())
			}
			ev := newEnv(t, opts...)
			all := "/v1/stock?products=" + pVest + "," + pDrill
			huv := all + "&warehouse=" + extendsim.WarehouseMain
			before := decode[api.Stock](t, ev.get(t, all))
			beforeHUV := decode[api.Stock](t, ev.get(t, huv))
			calls := ev.sim.Calls(extendsim.OpAvailability)

			ev.sim.SetAvailability(pVest, extendsim.WarehouseMain, 1234)
			if got := decode[api.Stock](t, ev.get(t, all)); got.Stock[0].Available != before.Stock[0].Available {
				t.Fatalf("before StockChanged: %v, want the cached %v", got.Stock[0], before.Stock[0])
			}
			if err := ev.svc.StockChanged(ctx(), pVest); err != nil {
				t.Fatal(err)
			}
			rec := ev.get(t, all)
			got := decode[api.Stock](t, rec)
			want := before.Stock[0].Available - beforeHUV.Stock[0].Available + 1234
			if got.Stock[0].Available != want || rec.Header().Get("X-Cache") != "HIT" {
				t.Errorf("after StockChanged: %v (X-Cache %s), want available %v from the renewed entry (HIT)", got.Stock[0], rec.Header().Get("X-Cache"), want)
			}
			if got := decode[api.Stock](t, ev.get(t, huv)); got.Stock[0].Available != 1234 {
				t.Errorf("after StockChanged, warehouse %s: %v, want 1234", extendsim.WarehouseMain, got.Stock[0])
			}
			if got.Stock[1] != before.Stock[1] {
				t.Errorf("other product changed: %v, want %v", got.Stock[1], before.Stock[1])
			}
			if got := ev.sim.Calls(extendsim.OpAvailability) - calls; got != 1 {
				t.Errorf("ERP availability calls for one change = %d, want 1", got)
			}

			// The ERP fails while a change is told: the entry turns stale,
			// the old balance is shown only as STALE.
			ev.sim.SetFailing(http.StatusServiceUnavailable)
			if err := ev.svc.StockChanged(ctx(), pVest); err == nil {
				t.Errorf("StockChanged with the ERP down = nil, want an error")
			}
			if got := ev.get(t, all).Header().Get("X-Cache"); got != "STALE" {
				t.Errorf("after a failed StockChanged: X-Cache = %q, want STALE", got)
			}
		})
	}
}

// TestExtendedERPDown: with the ERP down, cached parts are served (fresh,
// then stale); what was never cached is a 503.
func TestExtendedERPDown(t *testing.T) {
	ev := newEnv(t)
	prices := "/v1/prices?customer_no=10001&products=" + pVest + "," + pDrill
	stock := "/v1/stock?products=" + pVest
	warm := map[string]string{}
	for _, target := range []string{prices, stock, "/v1/addresses?customer_no=10001"} {
		rec := ev.get(t, target)
		if rec.Code != 200 {
			t.Fatalf("warm-up %s = %d", target, rec.Code)
		}
		warm[target] = rec.Body.String()
	}
	ev.sim.SetFailing(http.StatusServiceUnavailable)

	expectError(t, ev.get(t, "/v1/backorders?customer_no=10001"), 503, "unavailable")
	expectError(t, ev.get(t, "/v1/credit-invoices?customer_no=10001"), 503, "unavailable")
	// One product never cached makes the page a 503.
	expectError(t, ev.get(t, prices+","+pCoffee), 503, "unavailable")
	expectError(t, ev.get(t, stock+","+pCoffee), 503, "unavailable")

	ev.clock.Advance(2 * time.Minute) // past CACHE_TTL_LIST
	for _, target := range []string{prices, stock} {
		rec := ev.get(t, target)
		if rec.Code != 200 || rec.Header().Get("X-Cache") != "STALE" || rec.Body.String() != warm[target] {
			t.Errorf("%s while the ERP is down = %d %q, want 200 STALE with the cached body", target, rec.Code, rec.Header().Get("X-Cache"))
		}
		if age := rec.Header().Get("Age"); age != "120" {
			t.Errorf("%s Age = %q, want 120", target, age)
		}
	}
	ev.clock.Advance(25 * time.Hour) // past CACHE_STALE_FOR
	for _, target := range []string{prices, stock} {
		expectError(t, ev.get(t, target), 503, "unavailable")
	}

	// Back up: the stale parts are fetched again.
	ev.sim.ResetFaults()
	rec := ev.get(t, prices)
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
		t.Errorf("after recovery = %d %q, want 200 MISS", rec.Code, rec.Header().Get("X-Cache"))
	}
}

// TestPricesSchemaFailure: an answer that fails its schema is a 502 and
// its parts are not cached.
func TestPricesSchemaFailure(t *testing.T) {
	ev := newEnv(t, withValidator(failing{schemas.Prices}))
	target := "/v1/prices?customer_no=10001&products=" + pVest
	for range 2 {
		expectError(t, ev.get(t, target), 502, "bad_gateway")
	}
	if got := ev.sim.Calls(extendsim.OpPrices); got != 2 {
		t.Errorf("ERP price calls = %d, want 2 (a failing answer is not cached)", got)
	}
}

// failing fails one schema and passes the rest.
type failing struct{ schema string }

func (f failing) Validate(name string, _ []byte) error {
	if name == f.schema {
		return fmt.Errorf("%s: forced failure", name)
	}
	return nil
}

// TestStockWarehouse: a named warehouse counts only its balance; a known
// product that warehouse lacks has 0; an unknown product is unknown.
func TestStockWarehouse(t *testing.T) {
	ev := newEnv(t)
	ev.sim.SetAvailability("ONLY-BUT", extendsim.WarehouseStore, 7.5)
	q := url.Values{"products": {"ONLY-BUT," + pMissing}, "warehouse": {extendsim.WarehouseMain}}
	got := decode[api.Stock](t, ev.get(t, "/v1/stock?"+q.Encode()))
	if len(got.Stock) != 1 || got.Stock[0] != (api.StockLevel{Model: "ONLY-BUT", Available: 0}) {
		t.Errorf("stock in %s = %+v, want ONLY-BUT at 0", extendsim.WarehouseMain, got.Stock)
	}
	if len(got.Unknown) != 1 || got.Unknown[0] != pMissing {
		t.Errorf("unknown = %v, want [%s]", got.Unknown, pMissing)
	}
	q.Set("warehouse", extendsim.WarehouseStore)
	got = decode[api.Stock](t, ev.get(t, "/v1/stock?"+q.Encode()))
	if len(got.Stock) != 1 || got.Stock[0].Available != 7.5 {
		t.Errorf("stock in %s = %+v, want ONLY-BUT at 7.5", extendsim.WarehouseStore, got.Stock)
	}
}

// BenchmarkCachedPrices: a page of 40 prices put together from 40 cached
// parts, through the whole echo stack.
func BenchmarkCachedPrices(b *testing.B) {
	benchHits(b, func(ev *env) string {
		return "/v1/prices?customer_no=10001&products=" + strings.Join(ev.sim.ProductNumbers()[:40], ",")
	})
}
