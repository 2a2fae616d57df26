package baselinker_test

import (
	"context"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/connectors/baselinker"
	"github.com/vendre-extend/gateway/connectors/baselinker/baselinkersim"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// truth is what Extend says of every article, read with the gateway's own
// client outside the connector: stock summed over warehouses (all when
// none are named) and the customer's gross price.
func truth(t *testing.T, e *env, warehouses ...string) (map[string]int, map[string]float64) {
	t.Helper()
	ctx := context.Background()
	count := map[string]bool{}
	for _, w := range warehouses {
		count[w] = true
	}
	sums := map[string]float64{}
	for page := 1; ; page++ {
		p, err := e.client.ProductAvailability(ctx, nil, "", time.Time{}, page, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Items {
			if len(count) == 0 || count[a.Warehouse] {
				sums[a.ProductNumber] += float64(a.AvailableBalance)
			}
		}
		if len(p.Items) < 100 {
			break
		}
	}
	numbers := e.sim.ProductNumbers()
	prices, err := e.client.ProductPrices(ctx, extendsim.CustomerOther, numbers)
	if err != nil {
		t.Fatal(err)
	}
	qty, gross := map[string]int{}, map[string]float64{}
	for _, n := range numbers {
		qty[n] = int(math.Max(0, math.Floor(sums[n])))
	}
	for _, p := range prices {
		rec, err := e.client.Product(ctx, p.ProductNumber)
		if err != nil {
			t.Fatal(err)
		}
		gross[p.ProductNumber] = math.Round(float64(p.Price)*(1+float64(*rec.VatRate)/100)) / 100
	}
	e.sim.ResetCalls()
	return qty, gross
}

// TestProducts: categories, a page of the list, full data and the values,
// against the fixed catalogue; the shapes in golden files, the figures
// against Extend's own.
func TestProducts(t *testing.T) {
	e := setup(t, options{noRedis: true, warehouses: []string{extendsim.WarehouseMain}})
	qty, gross := truth(t, e, extendsim.WarehouseMain)
	ctx := context.Background()

	for _, c := range []struct {
		name, action string
		params       url.Values
	}{
		{"ProductsCategories", "ProductsCategories", nil},
		{"ProductsList_page", "ProductsList", url.Values{"filter_limit": {"4"}, "page": {"2"}}},
		{"ProductsList_category", "ProductsList", url.Values{"category_id": {"VER-EL"}, "filter_sort": {"price DESC"}}},
		{"ProductsData", "ProductsData", url.Values{"products_id": {"VE-6101,PK-0500,LI-9401,NOPE"}}},
	} {
		raw, err := e.bl.Call(ctx, c.action, c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		golden(t, c.name, raw)
	}

	all, requests, err := e.bl.ListAll(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(gross) || requests != 1 {
		t.Errorf("ListAll: %d products in %d requests, want %d in 1", len(all), requests, len(gross))
	}
	for n, p := range all {
		if p.Quantity != qty[n] || p.Price != gross[n] || p.SKU != n || p.Name == "" {
			t.Errorf("ProductsList %s = %+v, want quantity %d, price %v", n, p, qty[n], gross[n])
		}
	}
	prices, err := baselinkersim.Values[float64](ctx, e.bl, "ProductsPrices")
	if err != nil || len(prices) != len(gross) {
		t.Fatalf("ProductsPrices: %d, %v", len(prices), err)
	}
	quantities, err := baselinkersim.Values[int](ctx, e.bl, "ProductsQuantity")
	if err != nil || len(quantities) != len(gross) {
		t.Fatalf("ProductsQuantity: %d, %v", len(quantities), err)
	}
	for n := range gross {
		if prices[n] != gross[n] || quantities[n] != qty[n] {
			t.Errorf("%s: price %v quantity %d, want %v %d", n, prices[n], quantities[n], gross[n], qty[n])
		}
	}
	// Filters Baselinker uses.
	got, _, err := e.bl.ProductsList(ctx, url.Values{"filter_name": {"handske"}, "filter_available": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	for n, p := range got {
		if p.Quantity <= 0 || qty[n] != p.Quantity {
			t.Errorf("filter_available=1 listed %s with %d", n, p.Quantity)
		}
	}
	if len(got) == 0 {
		t.Errorf("filter_name=handske listed nothing")
	}
}

// TestCatalogueAtVolume lists 2,000 articles with stock and price, as
// Baselinker imports a catalogue, and counts the ERP calls: the first
// listing reads every record once; a repeat reads nothing; a refresh reads
// the lists again but only the records that changed.
func TestCatalogueAtVolume(t *testing.T) {
	e := setup(t, options{noRedis: true, products: 2000})
	qty, gross := truth(t, e)
	ctx := context.Background()

	began := time.Now()
	all, requests, err := e.bl.ListAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	first, took := e.erpCalls(), time.Since(began)
	if len(all) != 2000 || requests != 20 {
		t.Fatalf("first listing: %d products in %d requests, want 2000 in 20", len(all), requests)
	}
	bad := 0
	for n, p := range all {
		if p.Quantity != qty[n] || p.Price != gross[n] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of 2000 products differ from Extend's stock or price", bad)
	}
	byOp := func() map[string]int {
		m := map[string]int{}
		for _, op := range []string{extendsim.OpProductList, extendsim.OpProduct, extendsim.OpProductGroups, extendsim.OpAvailability, extendsim.OpPrices} {
			m[op] = e.sim.Calls(op)
		}
		return m
	}
	firstByOp := byOp()
	// 20 list pages, 2,000 records, 1 group list, 40 balance pages (two
	// warehouses), 20 price calls.
	if firstByOp[extendsim.OpProduct] != 2000 || first > 2100 {
		t.Errorf("first listing: %d ERP calls %v, want 2,000 records and about 80 more", first, firstByOp)
	}

	e.sim.ResetCalls()
	if _, _, err := e.bl.ListAll(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := baselinkersim.Values[int](ctx, e.bl, "ProductsQuantity"); err != nil {
		t.Fatal(err)
	}
	if _, err := baselinkersim.Values[float64](ctx, e.bl, "ProductsPrices"); err != nil {
		t.Fatal(err)
	}
	repeat := e.erpCalls()
	if repeat != 0 {
		t.Errorf("repeat listing, quantities and prices: %d ERP calls, want 0", repeat)
	}

	// A minute later the stock is stale: served, and refreshed from the
	// changes alone.
	e.sim.ResetCalls()
	e.clock.Add(2 * time.Minute)
	e.sim.SetAvailability("HV-1101-001", extendsim.WarehouseMain, 999)
	if _, err := baselinkersim.Values[int](ctx, e.bl, "ProductsQuantity"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stock refreshed", func() bool {
		q, err := baselinkersim.Values[int](ctx, e.bl, "ProductsQuantity")
		return err == nil && q["HV-1101-001"] >= 999
	})
	stockRefresh := e.erpCalls()

	// Past the catalogue's freshness, one article changed: the refresh
	// lists everything again and reads that one record.
	e.sim.ResetCalls()
	e.clock.Add(20 * time.Minute)
	e.sim.TouchProduct("VE-6101-002")
	if _, _, err := e.bl.ListAll(ctx, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the catalogue refreshed", func() bool { return e.sim.Calls(extendsim.OpPrices) >= 20 })
	time.Sleep(100 * time.Millisecond)
	refreshByOp := byOp()
	if refreshByOp[extendsim.OpProduct] != 1 {
		t.Errorf("refresh read %d records, want 1 (the changed one)", refreshByOp[extendsim.OpProduct])
	}
	t.Logf("2,000 articles: first listing %d ERP calls %v in %v (noisy); repeat listing with quantities and prices %d calls; "+
		"stock refresh after a minute %d calls; catalogue refresh with one changed article %d calls %v",
		first, firstByOp, took.Round(time.Millisecond), repeat, stockRefresh, e.erpCalls(), refreshByOp)
	_ = baselinker.CodeCatalogueLoading
	_ = erp.MaxPageSize
}

// TestCatalogueLoading: while the first read of a large catalogue runs
// longer than a request may wait, Baselinker is told to come back, with
// the progress; the read goes on and a later request gets the products.
func TestCatalogueLoading(t *testing.T) {
	e := setup(t, options{noRedis: true, products: 300, wait: 300 * time.Millisecond})
	e.sim.SetLatency(30 * time.Millisecond) // 300 records, 8 at a time: longer than the wait
	_, _, err := e.bl.ProductsList(context.Background(), nil)
	if err == nil {
		t.Skip("the catalogue was read within the wait on this machine")
	}
	wantError(t, "first listing", err, 503, baselinker.CodeCatalogueLoading)
	waitFor(t, 30*time.Second, "the catalogue read", func() bool {
		got, _, err := e.bl.ProductsList(context.Background(), url.Values{"filter_limit": {"1000"}})
		return err == nil && len(got) == 300
	})
}

// TestCatalogueSharedByReplicas: two replicas on one Redis asked for the
// catalogue at the same moment read each record from Extend once, and
// the second serves what the first built.
func TestCatalogueSharedByReplicas(t *testing.T) {
	e := setup(t, options{products: 300})
	other := e.another()
	ctx := context.Background()
	done := make(chan error, 2)
	for _, c := range []*baselinkersim.Client{e.bl, other} {
		go func() { _, _, err := c.ListAll(ctx, ""); done <- err }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sim.Calls(extendsim.OpProduct); n != 300 {
		t.Errorf("two replicas read %d records, want 300 (each once)", n)
	}
	e.sim.ResetCalls()
	third := e.another() // a replica started later
	all, _, err := third.ListAll(ctx, "")
	if err != nil || len(all) != 300 {
		t.Fatalf("a later replica listed %d, %v", len(all), err)
	}
	if n := e.erpCalls(); n != 0 {
		t.Errorf("a later replica made %d ERP calls, want 0 (the catalogue is in Redis)", n)
	}
}

// TestUnknownCustomer: a BASELINKER_ERP_CUSTOMER Extend does not know is
// named in the answer.
func TestUnknownCustomer(t *testing.T) {
	e := setup(t, options{noRedis: true, customer: "99999"})
	_, _, err := e.bl.ProductsList(context.Background(), nil)
	wantError(t, "unknown customer", err, 502, baselinker.CodeERPError)
	if err == nil || !strings.Contains(err.Error(), "99999") {
		t.Errorf("error %v does not name the customer", err)
	}
}
