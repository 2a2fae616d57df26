package orders

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/retailcrm"
	"github.com/vendre-extend/gateway/retailcrm/crmsim"
)

func TestRetailCRMMap(t *testing.T) {
	r := NewRetailCRM(nil, RetailCRMConfig{Customer: "10002", Location: time.UTC})
	order := func(country, sku, qty string) []byte {
		return []byte(`{"id":17,"number":"17C","createdAt":"2026-11-20 23:30:00","currency":"sek","firstName":"Anna",
"lastName":"Berg","customerComment":"ring","delivery":{"cost":49,"address":{"countryIso":"` + country + `","index":"111 22",
"city":"Stockholm","street":"Storgatan","building":"1"}},"items":[{"offer":{"externalId":"` + sku + `"},"quantity":` + qty + `,
"initialPrice":"1 100.50","discountTotal":5}]}`)
	}
	got, err := r.Map("17", order("SE", "SK-3101", "2"))
	if err != nil {
		t.Fatal(err)
	}
	want := erp.NewOrder{CustomerNumber: "10002", OrderDate: "2026-11-20", YourReference: "17C", Comment: "ring",
		Currency: "SEK", ShippingCost: 4900,
		DeliveryAddress: erp.Address{Name: "Anna Berg", Address1: "Storgatan 1", ZipCode: "111 22", City: "Stockholm", CountryCode: "SE"},
		Rows:            []erp.NewOrderRow{{ProductNumber: "SK-3101", Quantity: 2, UnitPrice: 110050, DiscountAmount: 1000}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Map (-want +got):\n%s", d)
	}
	for _, tt := range []struct{ name, body, problem string }{
		{"country", string(order("XX", "A", "1")), "countryIso"},
		{"no sku", string(order("SE", "", "1")), "no product number"},
		{"quantity", string(order("SE", "A", "0")), "not positive"},
		{"no address", `{"id":1,"items":[{"offer":{"externalId":"A"},"quantity":1}]}`, "delivery.address"},
	} {
		if _, err := r.Map("1", []byte(tt.body)); !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("%s: Map err = %v, want ErrMapping naming %q", tt.name, err, tt.problem)
		}
	}
}

// TestRetailCRMOrdersAndShipments: 110 orders waiting in RetailCRM (two
// pages) reach Extend once each through 20 % failing creates, and are set
// to imported; then Extend picks each (some twice) and each is edited once
// with shipped, store and date, through RetailCRM failing meanwhile. An
// order of another source, and an unknown one, are not reported.
func TestRetailCRMOrdersAndShipments(t *testing.T) {
	const n = 110
	rdb, prefix := cachetest.Redis(t)
	sim := extendsim.New(extendsim.Options{Customers: -1})
	sim.SetCreateFaults(extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 3})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	// A create that hangs is given up after 200 ms, not EXTEND_TIMEOUT's
	// 3 s, so that the run takes seconds; the order of events is the same.
	client, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID,
		ClientSecret: extendsim.DefaultClientSecret, CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	crm := crmsim.New()
	for i := 1; i <= n; i++ {
		crm.AddOrder(i, "new", "SK-3101")
	}
	crm.AddOrder(999, "complete", "SK-3101") // not waiting: never imported
	crmSrv := httptest.NewServer(crm)
	defer crmSrv.Close()
	cc, _ := retailcrm.New(retailcrm.Config{BaseURL: crmSrv.URL, APIKey: crmsim.APIKey})
	src := NewRetailCRM(cc, RetailCRMConfig{Customer: "10002", PollEvery: 100 * time.Millisecond,
		Shipments: true, ShipmentStore: "main", Location: time.UTC})
	p := New(rdb, client, []Source{src, NewVendre(token, nil)}, Config{Prefix: prefix,
		Budget: 300 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond}) // as CallTimeout above
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()

	waitFor(t, "every RetailCRM order imported", func() bool {
		for i := 1; i <= n; i++ {
			if crm.Status(i) != "imported-to-erp" {
				return false
			}
		}
		st, _ := p.Status(ctx)
		return st.Backlog == 0
	})
	counts := sim.ExternalOrderCounts()
	for i := 1; i <= n; i++ {
		if c := counts["R-"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("R-%d is %d times in Extend, want once", i, c)
		}
	}
	if counts["R-999"] != 0 {
		t.Error("an order not in the new status was imported")
	}

	// Extend picks every order; a third of the events come twice.
	crm.FailEdits(5, http.StatusServiceUnavailable)
	if _, err := p.ReceiveVendre(ctx, vendreBody("77", "SK-3101", "SWE", 1), token); err != nil {
		t.Fatal(err)
	}
	picked := time.Now().UTC().Format(time.DateOnly)
	for i := 1; i <= n; i++ {
		o, _, _ := p.Lookup(ctx, "R-"+strconv.Itoa(i))
		for k := 0; k <= i%3/2; k++ {
			if err := p.OrderPicked(ctx, o.ERPOrder); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.OrderPicked(ctx, "no-such-order")
	waitFor(t, "every shipment reported", func() bool {
		st, _ := p.Status(ctx)
		o, _, _ := p.Lookup(ctx, "V-77")
		return st.Backlog == 0 && o.State == stateImported
	})
	o, _, _ := p.Lookup(ctx, "V-77")
	p.OrderPicked(ctx, o.ERPOrder) // not a Shipper's order: ignored

	edits := crm.Edits()
	for i := 1; i <= n; i++ {
		var ships []map[string]any
		for _, e := range edits[i] {
			if _, ok := e["shipped"]; ok {
				ships = append(ships, e)
			}
		}
		want := []map[string]any{{"shipped": true, "shipmentStore": "main", "shipmentDate": picked}}
		if d := cmp.Diff(want, ships); d != "" {
			t.Errorf("order %d shipment edits (-want +got):\n%s", i, d)
		}
	}
	if s := p.Stats(); s.Shipped != n || s.Picked != n {
		t.Errorf("stats = %+v, want %d picked and shipped", s, n)
	}
	s := p.Stats()
	t.Logf("%d RetailCRM orders: creates sent %d, confirmed %d, unclear %d, found by look-up %d; ERP create calls %d; "+
		"CRM edits %d (status + shipment); picks %d (a third sent twice), shipments %d", n, s.Creates, s.Created,
		s.Ambiguous, s.Found, sim.Calls(extendsim.OpOrderCreate), sumEdits(edits), s.Picked, s.Shipped)
	cancel()
	wg.Wait()
}

// TestShipmentDeadLetter: a shipment RetailCRM keeps refusing ends in the
// dead letters, and Replay reports it once RetailCRM takes it.
func TestShipmentDeadLetter(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	sim := extendsim.New(extendsim.Options{Customers: -1})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, _ := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	crm := crmsim.New()
	crm.AddOrder(5, "new", "SK-3101")
	crmSrv := httptest.NewServer(crm)
	defer crmSrv.Close()
	cc, _ := retailcrm.New(retailcrm.Config{BaseURL: crmSrv.URL, APIKey: crmsim.APIKey})
	src := NewRetailCRM(cc, RetailCRMConfig{Customer: "10002", PollEvery: 50 * time.Millisecond, Shipments: true, ShipmentStore: "main"})
	// Three tries 10 ms apart instead of 50 over hours: the same path to
	// the dead letters, in a test's time.
	p := New(rdb, client, []Source{src}, Config{Prefix: prefix, MaxTries: 3, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, "imported", func() bool { return crm.Status(5) == "imported-to-erp" })
	o, _, _ := p.Lookup(ctx, "R-5")
	crm.FailEdits(3, http.StatusBadGateway)
	if err := p.OrderPicked(ctx, o.ERPOrder); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "parked", func() bool { st, _ := p.Status(ctx); return st.DeadLetters == 1 && st.Backlog == 0 })
	st, _ := p.Status(ctx)
	if !strings.Contains(st.Recent[0].Reason, "shipment") || st.Recent[0].ID != "R-5" {
		t.Errorf("dead letter = %+v, want R-5 with the shipment's error", st.Recent[0])
	}
	if err := p.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shipped after replay", func() bool { o, _, _ := p.Lookup(ctx, "R-5"); return o.Ship == shipDone })
	if got := len(crm.Edits()[5]); got != 2 {
		t.Errorf("edits of order 5 = %d, want 2 (status, shipment)", got)
	}
}

func sumEdits(m map[int][]map[string]any) int {
	n := 0
	for _, e := range m {
		n += len(e)
	}
	return n
}
