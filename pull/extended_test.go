package pull_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/schemas"
)

var extNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// recorder passes requests on to the simulated ERP and keeps the query of
// each, by path.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string][]url.Values
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen[req.URL.Path] = append(r.seen[req.URL.Path], req.URL.Query())
	r.mu.Unlock()
	r.next.ServeHTTP(w, req)
}

// queries returns the queries sent to path so far.
func (r *recorder) queries(path string) []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[path])
}

type extEnv struct {
	svc *pull.Service
	sim *extendsim.Server
	rec *recorder
	erp *erp.Client
}

// newExtEnv wires a Service as production does, over HTTP to a simulated
// Extend Commerce, with an in-memory cache.
func newExtEnv(t *testing.T) *extEnv {
	t.Helper()
	clock := func() time.Time { return extNow }
	sim := extendsim.New(extendsim.Options{ClientID: "gw", ClientSecret: "s", Now: clock, Customers: 2})
	rec := &recorder{next: sim, seen: map[string][]url.Values{}}
	ts := httptest.NewServer(rec)
	t.Cleanup(ts.Close)
	client, err := erp.New(erp.Config{BaseURL: ts.URL, ClientID: "gw", ClientSecret: "s", CallTimeout: time.Second, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	set, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.New(mapping.Options{Locale: "sv-SE", Currency: "SEK", Location: loc, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	links := doclink.New(doclink.DeriveKey("s"), "https://gw.example.test", clock)
	c := cache.New(cache.Config{Memory: cache.NewMemory(16 << 20), StaleFor: time.Hour, Budget: 2 * time.Second, Now: clock})
	cfg := pull.Config{TTLList: time.Minute, TTLDetail: 5 * time.Minute, Budget: 2 * time.Second, Now: clock}
	svc := pull.New(client, c, set, m, links, cfg, nil)
	return &extEnv{svc: svc, sim: sim, rec: rec, erp: client}
}

func decodeAnswer[T any](t *testing.T, a pull.Answer, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, a.Body)
	}
	return v
}

// asked returns the product numbers of each call to path.
func (ev *extEnv) asked(path string) [][]string {
	var out [][]string
	for _, q := range ev.rec.queries(path) {
		out = append(out, strings.Split(q.Get("productNumbers"), ","))
	}
	return out
}

// TestPricesAskOnlyMissing: 50 products cost one ERP call; a later page
// sharing 40 of them asks for the other 10 only.
func TestPricesAskOnlyMissing(t *testing.T) {
	ev := newExtEnv(t)
	ctx := context.Background()
	var ps []string
	ps = append(ps, ev.sim.ProductNumbers()...)
	for i := 0; len(ps) < 60; i++ {
		ps = append(ps, fmt.Sprintf("NONE-%d", i))
	}
	first, second := ps[:50], ps[10:60]

	a, err := ev.svc.Prices(ctx, extendsim.CustomerShowcase, first)
	got := decodeAnswer[api.Prices](t, a, err)
	if a.Result != cache.Miss || len(got.Prices)+len(got.Unknown) != 50 {
		t.Fatalf("first page: %s with %d prices and %d unknown, want MISS with 50", a.Result, len(got.Prices), len(got.Unknown))
	}
	calls := ev.asked("/ProductPrices")
	if len(calls) != 1 || !cmp.Equal(sorted(calls[0]), sorted(first)) {
		t.Fatalf("first page asked %v, want one call for the 50", calls)
	}

	a, err = ev.svc.Prices(ctx, extendsim.CustomerShowcase, second)
	got = decodeAnswer[api.Prices](t, a, err)
	calls = ev.asked("/ProductPrices")
	if len(calls) != 2 || !cmp.Equal(sorted(calls[1]), sorted(ps[50:60])) {
		t.Fatalf("second page asked %v, want one more call for %v", calls, ps[50:60])
	}
	// The answer keeps the order asked: known ones in prices, the others
	// in unknown.
	var order []string
	for _, p := range got.Prices {
		order = append(order, p.Model)
	}
	for _, p := range second {
		if !slices.Contains(order, p) && !slices.Contains(got.Unknown, p) {
			t.Errorf("%s is in neither prices nor unknown", p)
		}
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return slices.Index(second, a) - slices.Index(second, b) }) {
		t.Errorf("prices %v are not in the order asked", order)
	}
	if want := ps[len(ev.sim.ProductNumbers()):60]; !cmp.Equal(got.Unknown, want) {
		t.Errorf("unknown = %v, want %v", got.Unknown, want)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestStockPaging: the balances of 100 products in two warehouses take
// two pages of the ERP's list, and are summed per product.
func TestStockPaging(t *testing.T) {
	ev := newExtEnv(t)
	var ps []string
	for i := range 100 {
		p := fmt.Sprintf("ST-%03d", i)
		ps = append(ps, p)
		ev.sim.SetAvailability(p, extendsim.WarehouseMain, float64(i))
		ev.sim.SetAvailability(p, extendsim.WarehouseStore, 0.5)
	}
	a, err := ev.svc.Stock(context.Background(), ps, "")
	got := decodeAnswer[api.Stock](t, a, err)
	if n := len(ev.rec.queries("/ProductAvailability")); n != 2 {
		t.Errorf("availability calls = %d, want 2 (200 rows, 100 a page)", n)
	}
	if len(got.Stock) != 100 || len(got.Unknown) != 0 {
		t.Fatalf("stock = %d, unknown %v; want 100 and none", len(got.Stock), got.Unknown)
	}
	for i, s := range got.Stock {
		if s.Model != ps[i] || s.Available != float64(i)+0.5 {
			t.Errorf("stock[%d] = %+v, want %s %v", i, s, ps[i], float64(i)+0.5)
		}
	}
}

// TestStockChanged_noBalance: a product the ERP has no balance of becomes
// unknown; StockChanged of a product never read just stores it.
func TestStockChanged_noBalance(t *testing.T) {
	ev := newExtEnv(t)
	ctx := context.Background()
	if err := ev.svc.StockChanged(ctx, "NEW-1"); err != nil {
		t.Fatal(err)
	}
	a, err := ev.svc.Stock(ctx, []string{"NEW-1"}, "")
	got := decodeAnswer[api.Stock](t, a, err)
	if a.Result != cache.Hit || !cmp.Equal(got.Unknown, []string{"NEW-1"}) {
		t.Errorf("after StockChanged of a product without balance: %s %s, want HIT with it unknown", a.Result, a.Body)
	}
	ev.sim.SetAvailability("NEW-1", extendsim.WarehouseStore, 3)
	if err := ev.svc.StockChanged(ctx, "NEW-1"); err != nil {
		t.Fatal(err)
	}
	a, err = ev.svc.Stock(ctx, []string{"NEW-1"}, extendsim.WarehouseStore)
	got = decodeAnswer[api.Stock](t, a, err)
	if len(got.Stock) != 1 || got.Stock[0].Available != 3 {
		t.Errorf("after the balance arrived: %s, want 3", a.Body)
	}
	if err := ev.svc.StockChanged(ctx, "A,B"); !errors.Is(err, erp.ErrValidation) {
		t.Errorf("StockChanged(%q) = %v, want erp.ErrValidation", "A,B", err)
	}
}

// addOrders gives customer n orders, daysAgo days old each, with one
// backordered row on every open one.
func addOrders(sim *extendsim.Server, customer string, n, daysAgo int, status string) []string {
	var nums []string
	for i := range n {
		o := erp.Order{
			CustomerNumber: customer, Status: status, Currency: "SEK",
			OrderDate: extNow.AddDate(0, 0, -daysAgo).Format(time.DateOnly),
			Rows: []erp.Row{
				{RowNumber: 1, ProductNumber: "HV-1101", Description: "Varselbyxa", Quantity: 3, DeliveredQuantity: 3},
				{RowNumber: 2, ProductNumber: "VE-6101", Description: "Borrmaskin", Quantity: erp.Number(i + 2), DeliveredQuantity: 1, BackorderQuantity: erp.Number(i + 1)},
			},
		}
		nums = append(nums, sim.SetOrder(o))
	}
	return nums
}

// TestBackordersPaging: backorders read every page of the last year's
// orders, leave out closed and older orders, and reuse unchanged records.
func TestBackordersPaging(t *testing.T) {
	ev := newExtEnv(t)
	ctx := context.Background()
	const cust = "20001"
	beforeA, err := ev.svc.Backorders(ctx, cust)
	before := decodeAnswer[api.Backorders](t, beforeA, err)
	open := addOrders(ev.sim, cust, 120, 10, erp.StatusReserved)
	addOrders(ev.sim, cust, 5, 10, erp.StatusDelivered)
	addOrders(ev.sim, cust, 5, 20, erp.StatusCancelled)
	addOrders(ev.sim, cust, 3, 400, erp.StatusRegistered) // older than a year
	if _, err := ev.svc.FlushCustomer(ctx, cust); err != nil {
		t.Fatal(err)
	}
	ev.sim.ResetCalls()

	gotA, err := ev.svc.Backorders(ctx, cust)
	got := decodeAnswer[api.Backorders](t, gotA, err)
	if want := len(before.Backorders) + len(open); len(got.Backorders) != want {
		t.Errorf("backorders = %d rows, want %d", len(got.Backorders), want)
	}
	for _, b := range got.Backorders {
		if b.OrderDate < extNow.AddDate(-1, 0, 0).Format(time.DateOnly) {
			t.Errorf("order %s of %s is older than a year", b.OrderNo, b.OrderDate)
		}
	}
	lists := ev.rec.queries("/CustomerOrders")
	if len(lists) < 2 || lists[0].Get("orderDateFrom") != "2025-11-20" {
		t.Errorf("order list calls = %v, want every page from 2025-11-20", lists)
	}

	// Read again after a flush: the unchanged records are reused.
	if _, err := ev.svc.FlushCustomer(ctx, cust); err != nil {
		t.Fatal(err)
	}
	ev.sim.ResetCalls()
	againA, err := ev.svc.Backorders(ctx, cust)
	again := decodeAnswer[api.Backorders](t, againA, err)
	if n := ev.sim.Calls(extendsim.OpOrder); n != 0 {
		t.Errorf("order record fetches after a flush = %d, want 0 (reused)", n)
	}
	if !cmp.Equal(again, got) {
		t.Errorf("answer changed on reuse")
	}
}

// TestCreditInvoicesPaging: credit notes are found over several pages of
// the ERP's invoice list, and paged and counted by themselves.
func TestCreditInvoicesPaging(t *testing.T) {
	ev := newExtEnv(t)
	ctx := context.Background()
	const cust = "20002"
	var credits []string
	for i := range 150 {
		inv := erp.Invoice{
			CustomerNumber: cust, Currency: "SEK", TotalInclVat: -100,
			InvoiceDate: extNow.AddDate(0, 0, -(i + 1)).Format(time.DateOnly),
			DueDate:     extNow.AddDate(0, 0, -(i + 1)).Format(time.DateOnly),
			IsCredit:    i%50 == 7,
		}
		n := ev.sim.SetInvoice(inv)
		if inv.IsCredit {
			credits = append(credits, n)
		}
	}
	q := pull.ListQuery{From: extNow.AddDate(0, 0, -365).Format(time.DateOnly), To: extNow.Format(time.DateOnly), Page: 2, PerPage: 2}
	gotA, err := ev.svc.CreditInvoiceList(ctx, cust, q)
	got := decodeAnswer[api.InvoiceList](t, gotA, err)
	if got.Total != len(credits) || len(got.Invoices) != 1 || got.Invoices[0].ID != credits[2] {
		t.Errorf("page 2 of 2 = %+v, want %s of %d", got, credits[2], len(credits))
	}
	if n := len(ev.rec.queries("/CustomerInvoices")); n < 2 {
		t.Errorf("invoice list calls = %d, want every page", n)
	}
}

// TestCreditInvoicesCostBoundedByPage: page 1 of a customer's credit
// notes costs the same ERP calls over a ten-year window as over one year:
// the walk stops once it has the page and one credit note more.
func TestCreditInvoicesCostBoundedByPage(t *testing.T) {
	ev := newExtEnv(t)
	ctx := context.Background()
	const cust = "20002"
	var credits []string
	for i := range 1200 { // one invoice every third day for ten years; every tenth a credit note
		inv := erp.Invoice{
			CustomerNumber: cust, Currency: "SEK", TotalInclVat: 100,
			InvoiceDate: extNow.AddDate(0, 0, -3*(i+1)).Format(time.DateOnly),
			DueDate:     extNow.AddDate(0, 0, -3*(i+1)).Format(time.DateOnly),
			IsCredit:    i%10 == 4,
		}
		if n := ev.sim.SetInvoice(inv); inv.IsCredit {
			credits = append(credits, n)
		}
	}
	calls := func(years int) (lists, records int, got api.InvoiceList) {
		ev.sim.ResetCalls()
		q := pull.ListQuery{From: extNow.AddDate(-years, 0, 0).Format(time.DateOnly), To: extNow.Format(time.DateOnly), Page: 1, PerPage: 5}
		a, err := ev.svc.CreditInvoiceList(ctx, cust, q)
		got = decodeAnswer[api.InvoiceList](t, a, err)
		return ev.sim.Calls(extendsim.OpInvoiceList), ev.sim.Calls(extendsim.OpInvoice), got
	}
	lists1, records1, got1 := calls(1)
	lists10, records10, got10 := calls(10)
	t.Logf("page 1 of 5 credit notes: 1 year %d list + %d record calls; then 10 years %d + %d (records reused)", lists1, records1, lists10, records10)
	if lists1 != 1 || records1 != 64 || lists10 != 1 || records10 != 0 {
		t.Errorf("1 year: %d list and %d record calls, want 1 and 64 (6 credit notes in the newest 60 invoices: four chunks of 16); "+
			"then 10 years: %d and %d, want 1 and 0 (the same records, kept)", lists1, records1, lists10, records10)
	}
	for _, got := range []api.InvoiceList{got1, got10} {
		if len(got.Invoices) != 5 || got.Invoices[0].ID != credits[0] || got.Total != 6 {
			t.Errorf("page 1 = %d rows from %s, total %d; want 5 from %s, total 6 (another page follows)", len(got.Invoices), got.Invoices[0].ID, got.Total, credits[0])
		}
	}
	// Cold, over ten years: the 64 newest records (four chunks of 16), not 1,200.
	ev2 := newExtEnv(t)
	for i := range 1200 {
		ev2.sim.SetInvoice(erp.Invoice{CustomerNumber: cust, Currency: "SEK",
			InvoiceDate: extNow.AddDate(0, 0, -3*(i+1)).Format(time.DateOnly), IsCredit: i%10 == 4})
	}
	ev2.sim.ResetCalls()
	q := pull.ListQuery{From: extNow.AddDate(-10, 0, 0).Format(time.DateOnly), To: extNow.Format(time.DateOnly), Page: 1, PerPage: 5}
	if _, err := ev2.svc.CreditInvoiceList(ctx, cust, q); err != nil {
		t.Fatal(err)
	}
	if l, r := ev2.sim.Calls(extendsim.OpInvoiceList), ev2.sim.Calls(extendsim.OpInvoice); l != 1 || r != 64 {
		t.Errorf("cold 10-year window: %d list and %d record calls, want 1 and 64", l, r)
	}
}
