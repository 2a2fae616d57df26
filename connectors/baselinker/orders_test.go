package baselinker_test

import (
	"context"
	"fmt"
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

// marketOrder is an Allegro order as Baselinker hands it over: gross
// prices in PLN, a parcel locker on some.
func marketOrder(id int64, products ...baselinkersim.OrderProduct) baselinkersim.Order {
	o := baselinkersim.Order{
		BaselinkerID: id, Email: fmt.Sprintf("buyer%d@example.pl", id), Phone: "+48508803568", Login: fmt.Sprintf("kupiec%d", id),
		Currency: "PLN", DeliveryMethod: "InPost Paczkomaty 24/7", DeliveryPrice: 12.5, PaymentMethod: "Przelewy24", Paid: true,
		Comments: "[Allegro] Proszę o szybką wysyłkę",
		Delivery: baselinkersim.Address{Fullname: "Józef Kępiński", Address: "Ulicowa 8", Postcode: "23-763", City: "Miastowo",
			Country: "Polska", CountryCode: "PL"},
		Invoice: baselinkersim.Address{Fullname: "Józef Kępiński", Address: "Ulicowa 3A", Postcode: "23-763", City: "Miastowo",
			Country: "Polska", CountryCode: "PL"},
		Products: products,
	}
	if id%3 == 0 {
		o.PointName, o.PointAddress, o.PointPostcode, o.PointCity = "KRA01M", "ul. Długa 1", "31-147", "Kraków"
	}
	return o
}

func item(sku string, qty int, gross float64) baselinkersim.OrderProduct {
	return baselinkersim.OrderProduct{ID: sku, SKU: sku, Name: "Artykuł " + sku, Price: gross, Quantity: qty, AuctionID: "10629760154"}
}

// findExt returns the Extend order created for ext.
func findExt(t *testing.T, e *env, ext string) (erp.Order, bool) {
	t.Helper()
	h, ok, err := e.client.FindOrderByExternalNumber(context.Background(), ext)
	if err != nil || !ok {
		return erp.Order{}, false
	}
	o, _ := e.sim.Order(h.OrderNumber)
	return o, true
}

// TestOrderAdd: an order is recorded, answered with an id (the same for a
// repeat), created in Extend once at net prices, and shown by OrdersGet.
func TestOrderAdd(t *testing.T) {
	e := setup(t, options{})
	ctx := context.Background()
	o := marketOrder(49473472, item("VE-6101", 1, 3556.56), item("HA-4101", 3, 199.99))
	id, err := e.bl.OrderAdd(ctx, o)
	if err != nil {
		t.Fatalf("OrderAdd: %v", err)
	}
	again, err := e.bl.OrderAdd(ctx, o)
	if err != nil || again != id {
		t.Fatalf("OrderAdd again = %d, %v; want %d", again, err, id)
	}
	var made erp.Order
	waitFor(t, 10*time.Second, "the order in Extend", func() bool {
		var ok bool
		made, ok = findExt(t, e, "B-49473472")
		return ok
	})
	if again, _ := e.bl.OrderAdd(ctx, o); again != id {
		t.Errorf("OrderAdd after the create = %d, want %d", again, id)
	}
	if n := e.sim.ExternalOrderCounts()["B-49473472"]; n != 1 {
		t.Errorf("B-49473472 is %d times in Extend", n)
	}
	// Net prices at Extend's VAT rate (25 %): Extend's total including
	// VAT is what the buyer paid.
	if made.CustomerNumber != extendsim.CustomerOther || made.Currency != "PLN" || len(made.Rows) != 2 ||
		made.Rows[0].UnitPrice != 284525 || made.Rows[1].UnitPrice != 15999 || made.ShippingCost != 1000 ||
		!strings.Contains(made.Comment, "Baselinker order 49473472") || made.DeliveryAddress.CountryCode != "PL" {
		t.Errorf("the order in Extend = %+v", made)
	}
	if got, want := made.TotalInclVat.Float(), 3556.56+3*199.99+12.5; math.Abs(got-want) > 0.05 {
		t.Errorf("Extend's total incl. VAT = %.2f, want the buyer's %.2f", got, want)
	}

	waitFor(t, 10*time.Second, "OrdersGet to show it registered", func() bool {
		got, err := e.bl.OrdersGet(ctx, url.Values{"order_id": {fmt.Sprint(id)}})
		return err == nil && got[id].StatusID == baselinker.StatusRegistered
	})
	got, _ := e.bl.OrdersGet(ctx, url.Values{"id_from": {"1"}})
	v := got[id]
	if v.BaselinkerID != "49473472" || v.ERPOrder != made.OrderNumber || v.Paid != 1 || v.Email != o.Email ||
		len(v.Products) != 2 || v.Products[0].Price != 3556.56 || v.DeliveryPrice != 12.5 {
		t.Errorf("OrdersGet = %+v", v)
	}
	// A pick-up point becomes the delivery address.
	p, err := e.bl.OrderAdd(ctx, marketOrder(3, item("PS-5101", 1, 99)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the locker order", func() bool { _, ok := findExt(t, e, "B-3"); return ok })
	if m, _ := findExt(t, e, "B-3"); m.DeliveryAddress.Address1 != "ul. Długa 1" || !strings.Contains(m.DeliveryAddress.Address2, "KRA01M") ||
		m.DeliveryAddress.Reference != "Józef Kępiński" || p == id {
		t.Errorf("locker order delivery = %+v (id %d)", m.DeliveryAddress, p)
	}
}

// TestOrderAddRefused: a malformed order and one naming a product Extend
// does not have get the documented errors; nothing is created; a refused
// order with a baselinker_id is a dead letter, once however often it
// comes, and goes through once corrected.
func TestOrderAddRefused(t *testing.T) {
	e := setup(t, options{})
	ctx := context.Background()

	form := marketOrder(700, item("VE-6101", 1, 100)).Form()
	form.Del("baselinker_id")
	_, err := e.bl.Call(ctx, "OrderAdd", form)
	wantError(t, "no baselinker_id", err, 422, baselinker.CodeInvalidOrder)
	form = marketOrder(701, item("VE-6101", 1, 100)).Form()
	form.Set("products", `[{"id":"VE-6101","quantity":`)
	_, err = e.bl.Call(ctx, "OrderAdd", form)
	wantError(t, "products not JSON", err, 422, baselinker.CodeInvalidOrder)

	bad := marketOrder(702, item("VE-6101", 0, 100))
	bad.Delivery.CountryCode = "Narnia"
	_, err = e.bl.OrderAdd(ctx, bad)
	wantError(t, "bad data", err, 422, baselinker.CodeInvalidOrder)
	var be *baselinkersim.Error
	if errorAs(err, &be) && (!strings.Contains(be.Text, "country") || !strings.Contains(be.Text, "quantity")) {
		t.Errorf("bad data text = %q, want the country and the quantity named", be.Text)
	}
	unknown := marketOrder(703, item("VE-6101", 1, 100), item("NOPE-1", 1, 10))
	for range 3 { // Baselinker tries again
		_, err = e.bl.OrderAdd(ctx, unknown)
		wantError(t, "unknown product", err, 422, baselinker.CodeUnknownProduct)
	}
	time.Sleep(300 * time.Millisecond) // the pusher would have created anything it could
	if n := e.sim.Calls(extendsim.OpOrderCreate); n != 0 {
		t.Errorf("refused orders made %d creates", n)
	}
	st, err := e.pusher.Status(ctx)
	if err != nil || st.DeadLetters != 3 {
		t.Fatalf("dead letters = %d, %v; want 3 (B-701, B-702, B-703: not B-700, which has no id), whatever the repeats: %+v",
			st.DeadLetters, err, st.Recent)
	}
	for _, dl := range st.Recent {
		if dl.ID == "B-703" && !strings.Contains(dl.Reason, "NOPE-1") {
			t.Errorf("dead letter of B-703 = %q, want NOPE-1 named", dl.Reason)
		}
	}
	// Replayed unchanged, it stays refused; corrected, it is created once.
	if err := e.pusher.Replay(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := e.sim.Calls(extendsim.OpOrderCreate); n != 0 {
		t.Errorf("a replay of refused orders made %d creates", n)
	}
	unknown.Products = unknown.Products[:1]
	id, err := e.bl.OrderAdd(ctx, unknown)
	if err != nil || id < 1 {
		t.Fatalf("corrected OrderAdd = %d, %v", id, err)
	}
	waitFor(t, 10*time.Second, "the corrected order", func() bool { _, ok := findExt(t, e, "B-703"); return ok })
	if n := e.sim.ExternalOrderCounts(); n["B-703"] != 1 || n["B-702"] != 0 || n["B-700"] != 0 || n["B-701"] != 0 {
		t.Errorf("orders in Extend = %v, want B-703 once", n)
	}
}

// TestTrackingAndUpdates: Extend picking an order shows its tracking
// number in OrdersGet; OrderUpdate with either spelling of the ids records
// status, payment and delivery numbers, which OrdersGet shows.
func TestTrackingAndUpdates(t *testing.T) {
	e := setup(t, options{})
	ctx := context.Background()
	a, _ := e.bl.OrderAdd(ctx, marketOrder(801, item("SK-3101", 1, 1300.31)))
	b, _ := e.bl.OrderAdd(ctx, func() baselinkersim.Order {
		o := marketOrder(802, item("HV-7101", 2, 361.25))
		o.Paid = false
		return o
	}())
	var made erp.Order
	waitFor(t, 10*time.Second, "both orders in Extend", func() bool {
		_, ok := findExt(t, e, "B-802")
		var ok2 bool
		made, ok2 = findExt(t, e, "B-801")
		return ok && ok2
	})
	got, err := e.bl.OrdersGet(ctx, url.Values{"id_from": {fmt.Sprint(a)}})
	if err != nil || got[a].StatusID != baselinker.StatusRegistered || got[a].DeliveryPackageNr != "" || got[b].Paid != 0 {
		t.Fatalf("OrdersGet before picking = %+v, %v", got, err)
	}

	// Extend picks B-801 and books a PostNord parcel.
	made.Status, made.ChangedAt = erp.StatusPicked, ""
	made.Shipments = []erp.Shipment{{ShipmentNumber: made.OrderNumber + "-1", Carrier: "PostNord",
		TrackingNumber: "00373500123456789012", TrackingURL: "https://tracking.postnord.com/se/?id=00373500123456789012"}}
	e.clock.Add(30 * time.Second) // past the connector's pause between reads of Extend's change lists
	e.sim.SetOrder(made)
	got, err = e.bl.OrdersGet(ctx, url.Values{"order_id": {fmt.Sprint(a)}})
	if err != nil || got[a].StatusID != baselinker.StatusPicked || got[a].DeliveryPackageNr != "00373500123456789012" ||
		got[a].DeliveryPackageModule != "PostNord" {
		t.Errorf("OrdersGet after picking = %+v, %v; want picked with the tracking number", got[a], err)
	}

	// OrderUpdate, both spellings; an unknown id is not counted.
	n, err := e.bl.OrderUpdate(ctx, "order_ids", []int64{b, 999999}, "paid", "1", nil)
	if err != nil || n != 1 {
		t.Errorf("OrderUpdate paid = %d, %v; want 1", n, err)
	}
	n, err = e.bl.OrderUpdate(ctx, "orders_ids", []int64{a, b}, "delivery_number", "INPOST-123456",
		url.Values{"delivery_method_name": {"InPost"}, "tracking_url": {"https://inpost.pl/sledzenie?n=INPOST-123456"}})
	if err != nil || n != 2 {
		t.Errorf("OrderUpdate delivery_number = %d, %v; want 2", n, err)
	}
	n, err = e.bl.OrderUpdate(ctx, "", []int64{b}, "status", baselinker.StatusDelivered, nil)
	if err != nil || n != 1 {
		t.Errorf("OrderUpdate status = %d, %v; want 1", n, err)
	}
	_, err = e.bl.OrderUpdate(ctx, "", []int64{b}, "status", "teleported", nil)
	wantError(t, "unknown status", err, 422, baselinker.CodeInvalidRequest)
	_, err = e.bl.OrderUpdate(ctx, "", []int64{b}, "colour", "red", nil)
	wantError(t, "unknown update_type", err, 422, baselinker.CodeInvalidRequest)

	got, err = e.bl.OrdersGet(ctx, url.Values{"id_from": {"1"}, "only_paid": {"1"}})
	if err != nil || len(got) != 2 {
		t.Fatalf("OrdersGet only_paid = %d orders, %v; want both (one paid on the marketplace, one marked)", len(got), err)
	}
	if v := got[b]; v.Paid != 1 || v.DeliveryPackageNr != "INPOST-123456" || v.DeliveryTrackingURL == "" ||
		!strings.Contains(v.AdminComments, "status delivered") || v.StatusID != baselinker.StatusRegistered {
		t.Errorf("OrdersGet of %d = %+v", b, v)
	}
	if v := got[a]; v.DeliveryPackageNr != "00373500123456789012,INPOST-123456" {
		t.Errorf("OrdersGet of %d tracking = %q, want Extend's then Baselinker's", a, v.DeliveryPackageNr)
	}
	if n := e.sim.ExternalOrderCounts(); n["B-801"] != 1 || n["B-802"] != 1 {
		t.Errorf("orders in Extend = %v", n)
	}
}

func errorAs(err error, target **baselinkersim.Error) bool {
	e, ok := err.(*baselinkersim.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestOrdersExactlyOnce: 200 marketplace orders while 20 % of Extend's
// creates fail or time out (half of them after creating the order), with
// a second replica that stops halfway, and Baselinker sending some orders
// twice: every order is in Extend exactly once, and OrdersGet lists the
// 200 under the ids OrderAdd gave.
func TestOrdersExactlyOnce(t *testing.T) {
	e := setup(t, options{faults: extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 16}})
	ctx := context.Background()
	rctx, stopReplica := context.WithCancel(ctx)
	defer stopReplica()
	e.replica(rctx)
	const n = 200
	skus := []string{"VE-6101", "HA-4101", "SK-3101", "FA-8102", "PS-5103"}
	ids := map[int64]int64{} // baselinker id -> our id
	started := time.Now()
	for i := range n {
		blID := int64(60000 + i)
		o := marketOrder(blID, item(skus[i%len(skus)], 1+i%3, 99.5), item(skus[(i+2)%len(skus)], 1, 12))
		id, _, err := e.bl.AddOrder(ctx, o, 10*time.Millisecond)
		if err != nil {
			t.Fatalf("order %d: %v", blID, err)
		}
		ids[blID] = id
		if i%10 == 0 { // Baselinker sends it again
			if again, _, err := e.bl.AddOrder(ctx, o, 10*time.Millisecond); err != nil || again != id {
				t.Fatalf("order %d again = %d, %v; want %d", blID, again, err, id)
			}
		}
		if i == n/2 {
			stopReplica()
		}
	}
	waitFor(t, 2*time.Minute, "every order created", func() bool {
		st, err := e.pusher.Status(ctx)
		return err == nil && st.Backlog == 0
	})
	elapsed := time.Since(started)
	counts := e.sim.ExternalOrderCounts()
	inExtend, twice := 0, 0
	for blID := range ids {
		switch c := counts[fmt.Sprintf("B-%d", blID)]; {
		case c == 1:
			inExtend++
		case c > 1:
			twice++
		}
	}
	if inExtend != n || twice != 0 {
		t.Errorf("Extend holds %d of the %d orders once, %d twice", inExtend, n, twice)
	}
	e.clock.Add(time.Minute)
	listed, err := e.bl.AllOrders(ctx, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	registered := 0
	for blID, id := range ids {
		v, ok := listed[id]
		if ok && v.BaselinkerID == fmt.Sprint(blID) && v.StatusID == baselinker.StatusRegistered {
			registered++
		}
	}
	if registered != n || len(listed) != n {
		t.Errorf("OrdersGet lists %d orders, %d of ours registered; want %d", len(listed), registered, n)
	}
	st := e.pusher.Stats()
	t.Logf("%d orders (every tenth sent twice), 20%% of creates failing: done in %v (noisy); %d create calls reached Extend; "+
		"this replica sent %d creates, %d unclear, %d found by look-up; Extend holds %d once, %d twice",
		n, elapsed.Round(time.Millisecond), e.sim.Calls(extendsim.OpOrderCreate), st.Creates, st.Ambiguous, st.Found, inExtend, twice)
}
