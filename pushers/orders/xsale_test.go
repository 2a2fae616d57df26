package orders

import (
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/pushers/orders/xsalesim"
)

// TestXSaleBacklog: 2,000 orders waiting in xSale, 100 a page, are each
// created in Extend once and their status changed once; orders outside the
// filters (another channel, created before XSALE_CREATED_FROM, another
// status) are not touched; an order with a product Extend does not know
// makes no create and ends in manual handling with the reason.
func TestXSaleBacklog(t *testing.T) {
	const n = 2000
	rdb, prefix := cachetest.Redis(t)
	// No ERP guard in this test: the pusher calls the simulated ERP
	// straight, so the simulator plays an Extend without a budget (the
	// budget is erpguard's, tested there and in faults budget).
	sim := extendsim.New(extendsim.Options{Customers: -1, Limit: -1})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	xs := xsalesim.New()
	for i := 1; i <= n; i++ {
		sku := "FA-8102"
		if i%2 == 0 {
			sku = "SK-3101"
		}
		xs.AddOrderOn(10000+i, sku, "PL", "2026-11-20T10:00:00Z", 1)
	}
	for i := 1; i <= 20; i++ {
		xs.AddOrderOn(20000+i, "FA-8102", "PL", "2026-11-20T10:00:00Z", 2) // another channel
		xs.AddOrderOn(30000+i, "FA-8102", "PL", "2026-09-30T10:00:00Z", 1) // before XSALE_CREATED_FROM
	}
	xs.AddOrderOn(99, "NO-SUCH-SKU", "PL", "2026-11-20T10:00:00Z", 1)
	xsSrv := httptest.NewServer(xs)
	defer xsSrv.Close()

	catalog := NewCatalog(client, 0)
	src := NewXSale(XSaleConfig{BaseURL: xsSrv.URL, Organization: xsalesim.Org, TokenURL: xsSrv.URL + "/oauth/token",
		ClientID: xsalesim.ClientID, ClientSecret: xsalesim.ClientSecret, Username: xsalesim.Username,
		Password: xsalesim.Password, Customer: "10002",
		StatusIDs: []int{1}, CreatedFrom: "2026-10-01", Channels: []int{1}, Catalog: catalog})
	p := New(rdb, client, []Source{src}, Config{Prefix: prefix})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() { defer wg.Done(); p.Run(ctx) }()

	waitFor(t, "every waiting order told its outcome", func() bool {
		return len(xs.Changes()) == n+1
	})
	waitFor(t, "backlog empty", func() bool { st, _ := p.Status(ctx); return st.Backlog == 0 })
	elapsed := time.Since(start)

	counts := sim.ExternalOrderCounts()
	changes := xs.Changes()
	for i := 1; i <= n; i++ {
		id := 10000 + i
		if c := counts["X-"+strconv.Itoa(id)]; c != 1 {
			t.Errorf("X-%d is %d times in Extend, want once", id, c)
		}
		if changes[id] != 1 || xs.Status(id) != "Zaimportowano do ERP" {
			t.Errorf("xSale order %d: %d status changes, now %q; want one, imported", id, changes[id], xs.Status(id))
		}
	}
	for i := 1; i <= 20; i++ {
		for _, id := range []int{20000 + i, 30000 + i} {
			if counts["X-"+strconv.Itoa(id)] != 0 || changes[id] != 0 {
				t.Errorf("order %d outside the filters was touched", id)
			}
		}
	}
	if counts["X-99"] != 0 || changes[99] != 1 || xs.Status(99) != "Do obsługi ręcznej" {
		t.Errorf("unknown SKU: %d creates, %d status changes, now %q; want 0, 1, manual", counts["X-99"], changes[99], xs.Status(99))
	}
	o, _, _ := p.Lookup(ctx, "X-99")
	st, _ := p.Status(ctx)
	if o.Creates != 0 || !strings.Contains(o.Reason, "NO-SUCH-SKU") || st.DeadLetters != 1 || !strings.Contains(st.Recent[0].Reason, "NO-SUCH-SKU") {
		t.Errorf("X-99 = %+v, dead letters %d %v; want no create and the reason naming NO-SUCH-SKU", o, st.DeadLetters, st.Recent)
	}
	s := p.Stats()
	t.Logf("xSale backlog of %d (+40 outside the filters, +1 unknown SKU) in %v (noisy): %d list calls (%d a page), "+
		"%d status changes; ERP: %d creates sent, %d create calls, %d product look-ups (%d by the catalog), %d order look-ups",
		n, elapsed.Round(time.Millisecond), xs.Lists(), XSalePageSize, sumChanges(changes), s.Creates,
		sim.Calls(extendsim.OpOrderCreate), sim.Calls(extendsim.OpProduct), catalog.Calls(), sim.Calls(extendsim.OpOrderList))
	cancel()
	wg.Wait()
}

// productERP is Extend's GET /Products/{n} as a func.
type productERP func(ctx context.Context, n string) (erp.Product, error)

func (f productERP) Product(ctx context.Context, n string) (erp.Product, error) { return f(ctx, n) }

func TestCatalog(t *testing.T) {
	calls := map[string]int{}
	var mu sync.Mutex
	c := NewCatalog(productERP(func(_ context.Context, n string) (erp.Product, error) {
		mu.Lock()
		calls[n]++
		mu.Unlock()
		switch n {
		case "DOWN":
			return erp.Product{}, erp.ErrTimeout
		case "NEW":
			return erp.Product{}, erp.ErrNotFound
		}
		return erp.Product{ProductNumber: n}, nil
	}), 0)
	ctx := context.Background()
	for range 3 {
		if ok, err := c.Known(ctx, "A"); !ok || err != nil {
			t.Fatalf("Known(A) = %v, %v", ok, err)
		}
		if ok, err := c.Known(ctx, "NEW"); ok || err != nil {
			t.Fatalf("Known(NEW) = %v, %v; want false, nil", ok, err)
		}
	}
	if _, err := c.Known(ctx, "DOWN"); err == nil {
		t.Error("Known(DOWN) hid the ERP's error")
	}
	if calls["A"] != 1 || calls["NEW"] != 3 {
		t.Errorf("ERP calls = %v, want A once (remembered) and NEW every time (a person may add it)", calls)
	}
	err := checkProducts(ctx, c, erp.NewOrder{Rows: []erp.NewOrderRow{{ProductNumber: "A"}, {ProductNumber: "NEW"}, {ProductNumber: "NEW"}}})
	if !errors.Is(err, ErrMapping) || !strings.HasSuffix(err.Error(), "Extend does not know product NEW") {
		t.Errorf("checkProducts = %v", err)
	}
}
