package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/connectors/baselinker/baselinkersim"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

const blPassword = "e2e-baselinker-pass-0123456789"

func blOrder(id int64, sku string, qty int) baselinkersim.Order {
	return baselinkersim.Order{
		BaselinkerID: id, Email: fmt.Sprintf("kupiec%d@example.pl", id), Phone: "+48508803568", Login: fmt.Sprintf("kupiec%d", id),
		Currency: "PLN", DeliveryMethod: "InPost Kurier", DeliveryPrice: 14.99, PaymentMethod: "Przelewy24", Paid: true,
		Delivery: baselinkersim.Address{Fullname: "Anna Nowak", Address: "ul. Polna 3", Postcode: "00-001", City: "Warszawa",
			Country: "Polska", CountryCode: "PL"},
		Invoice: baselinkersim.Address{Fullname: "Anna Nowak", Address: "ul. Polna 3", Postcode: "00-001", City: "Warszawa",
			Country: "Polska", CountryCode: "PL"},
		Products: []baselinkersim.OrderProduct{{ID: sku, SKU: sku, Name: sku, Price: 249.0, Quantity: qty}},
	}
}

// TestBaselinkerOrdersExactlyOnce: Baselinker hands over marketplace
// orders one after another (every tenth twice) while 20 % of Extend's
// creates fail or time out (half of them after creating the order) and
// the gateway is SIGKILLed and restarted: every order is in Extend exactly
// once, OrdersGet lists each under the id OrderAdd answered, and after
// Extend's OrderPicked webhook it shows the tracking number. Settings are
// the defaults but for the addresses, secrets and the customer.
func TestBaselinkerOrdersExactlyOnce(t *testing.T) {
	requireE2E(t)
	n, kills := 200, 1
	redisURL, _ := startRedis(t)
	sim := extendsim.New(extendsim.Options{Customers: -1})
	sim.SetCreateFaults(extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 16})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	g := newGateway(t, map[string]string{
		"EXTEND_BASE_URL": erpSrv.URL, "PUBLIC_BASE_URL": "https://gateway.e2e.test", "EXTEND_CLIENT_ID": extendsim.DefaultClientID,
		"EXTEND_CLIENT_SECRET": extendsim.DefaultClientSecret, "REDIS_URL": redisURL,
		"VENDRE_API_KEYS": apiKey, "ADMIN_TOKEN": adminToken, "EXTEND_WEBHOOK_SECRET": webhookSecret, "DOCUMENT_SECRET": documentSecret,
		"BASELINKER_PASSWORD": blPassword, "BASELINKER_ERP_CUSTOMER": extendsim.CustomerOther, "LOG_LEVEL": "warn",
	})
	g.start()
	bl := baselinkersim.New(g.url()+"/baselinker", blPassword)
	ctx := context.Background()
	skus := []string{"VE-6101", "HA-4101", "SK-3101", "FA-8102", "PS-5103"}

	start := time.Now()
	ids := map[int64]int64{}
	attempts := 0
	for i := range n {
		blID := int64(90000 + i)
		o := blOrder(blID, skus[i%len(skus)], 1+i%3)
		var id int64
		var tries int
		var err error
		if i%(n/(kills+1)) == 0 && i > 0 && i < n*kills/(kills+1)+1 {
			time.Sleep(300 * time.Millisecond) // let creates be in flight
			g.kill()
			// Baselinker calls while the gateway is down, until it is back.
			done := make(chan struct{})
			go func() { id, tries, err = bl.AddOrder(ctx, o, 50*time.Millisecond); close(done) }()
			time.Sleep(500 * time.Millisecond)
			g.start()
			<-done
		} else {
			id, tries, err = bl.AddOrder(ctx, o, 50*time.Millisecond)
		}
		if err != nil {
			t.Fatalf("order %d: %v", blID, err)
		}
		attempts += tries
		ids[blID] = id
		if i%10 == 0 {
			again, tries, err := bl.AddOrder(ctx, o, 50*time.Millisecond)
			attempts += tries
			if err != nil || again != id {
				t.Fatalf("order %d sent again = %d, %v; want %d", blID, again, err, id)
			}
		}
	}
	answered := time.Since(start)
	waitFor(t, 5*time.Minute, "every order in Extend", func() bool {
		backlog, _, ok := pusherState(g.url(), "orders")
		return ok && backlog == 0
	})
	created := time.Since(start)

	counts := sim.ExternalOrderCounts()
	once, twice := 0, 0
	for blID := range ids {
		switch c := counts[fmt.Sprintf("B-%d", blID)]; {
		case c == 1:
			once++
		case c > 1:
			twice++
			t.Errorf("B-%d is %d times in Extend", blID, c)
		}
	}
	if once != n {
		t.Errorf("Extend holds %d of the %d orders once", once, n)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	listStart := time.Now()
	listed, err := bl.AllOrders(lctx, time.Second) // Baselinker comes back after a 503
	listTook := time.Since(listStart)
	if err != nil {
		t.Fatal(err)
	}
	registered := 0
	for blID, id := range ids {
		if v := listed[id]; v.BaselinkerID == fmt.Sprint(blID) && v.StatusID == "registered" {
			registered++
		}
	}
	if registered != n || len(listed) != n {
		t.Errorf("OrdersGet lists %d orders, %d of them registered under their ids; want %d", len(listed), registered, n)
	}

	// Extend picks the first order and tells the gateway (OrderPicked).
	first := ids[90000]
	h, ok, err := erpFind(ctx, erpSrv.URL, "B-90000")
	if err != nil || !ok {
		t.Fatalf("B-90000 in Extend: %v, %v", ok, err)
	}
	o, _ := sim.Order(h)
	o.Status, o.ChangedAt = erp.StatusPicked, ""
	o.Shipments = []erp.Shipment{{ShipmentNumber: h + "-1", Carrier: "DHL Freight", TrackingNumber: "4711000123",
		TrackingURL: "https://www.dhl.com/se-sv/home/tracking/tracking-freight.html?tracking-id=4711000123"}}
	sim.SetOrder(o)
	body := []byte(fmt.Sprintf(`{"Id":"e2e0000000000000000000000000bl01","Attempt":1,"Properties":{"NotificationId":"9d3b3c1e-0000-4000-8000-00000000b101"},`+
		`"Notifications":[{"Action":"OrderPicked","Details":{"OrderNumber":%q}}]}`, h))
	picked := time.Now()
	deliver(t, g.url(), body)
	waitFor(t, 30*time.Second, "OrdersGet to show the tracking number", func() bool {
		got, err := bl.OrdersGet(ctx, url.Values{"order_id": {fmt.Sprint(first)}})
		return err == nil && got[first].StatusID == "picked" && strings.Contains(got[first].DeliveryPackageNr, "4711000123")
	})
	t.Logf("%d Baselinker orders (every tenth sent twice; %d OrderAdd calls in all), 20%% of creates failing, gateway SIGKILLed %d times: "+
		"all answered in %v, all in Extend after %v (noisy); Extend holds %d once, %d twice; %d create calls reached Extend; "+
		"OrdersGet listed all in %v; tracking shown %v after the OrderPicked webhook",
		n, attempts, kills, answered.Round(time.Millisecond), created.Round(time.Millisecond), once, twice,
		sim.Calls(extendsim.OpOrderCreate), listTook.Round(time.Millisecond), time.Since(picked).Round(time.Millisecond))
}

// erpFind finds the Extend order of ext with the gateway's own client.
func erpFind(ctx context.Context, base, ext string) (string, bool, error) {
	c, err := erp.New(erp.Config{BaseURL: base, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		return "", false, err
	}
	h, ok, err := c.FindOrderByExternalNumber(ctx, ext)
	return h.OrderNumber, ok, err
}
