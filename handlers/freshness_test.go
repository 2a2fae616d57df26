package handlers_test

import (
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// calls is the ERP calls of a test, by operation.
type calls struct{ orderList, order, invoiceList, invoice int }

func callsOf(ev *env) calls {
	return calls{ev.sim.Calls(extendsim.OpOrderList), ev.sim.Calls(extendsim.OpOrder),
		ev.sim.Calls(extendsim.OpInvoiceList), ev.sim.Calls(extendsim.OpInvoice)}
}

// sweep runs the change sweep as RunSweeps would, at the env's clock, and
// returns the ERP calls it made.
func sweep(t *testing.T, ev *env) calls {
	t.Helper()
	ev.sim.ResetCalls()
	if err := ev.svc.Sweep(ctx()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	c := callsOf(ev)
	ev.sim.ResetCalls()
	return c
}

// change edits order n in the ERP, as a clerk would: a new reference, a
// later ChangedAt.
func change(t *testing.T, ev *env, n, reference string) {
	t.Helper()
	o, ok := ev.sim.Order(n)
	if !ok {
		t.Fatalf("no order %s", n)
	}
	o.YourReference = reference
	o.ChangedAt = ev.clock.Now().UTC().Format(time.RFC3339)
	ev.sim.SetOrder(o)
}

// TestFreshUntilChanged: with the sweep running, a customer's lists stay
// fresh past their TTL, at no ERP call, until one of their records
// changes; then only that family is read again (the list, and the one
// record), and opening an order after its list costs nothing.
func TestFreshUntilChanged(t *testing.T) {
	ev := newEnv(t)
	orders, invoices := "/v1/orders?customer_no=10001", "/v1/invoices?customer_no=10001"
	sweep(t, ev) // the feed begins
	rows := decode[api.OrderList](t, ev.get(t, orders)).Orders
	ev.get(t, invoices)
	ev.sim.ResetCalls()

	// An hour on, a sweep a minute: nothing changed, nothing is read.
	for range 60 {
		ev.clock.Advance(time.Minute)
		if c := sweep(t, ev); c.order != 0 || c.invoice != 0 || c.orderList == 0 || c.invoiceList == 0 {
			t.Fatalf("a sweep made %+v, want list calls of both types and no record", c)
		}
	}
	for _, target := range []string{orders, invoices} {
		if rec := ev.get(t, target); rec.Header().Get("X-Cache") != "HIT" {
			t.Errorf("%s an hour on, nothing changed: X-Cache %q, want HIT", target, rec.Header().Get("X-Cache"))
		}
	}
	// An order first opened now is built from the record its list kept.
	if rec := ev.get(t, "/v1/orders/"+rows[0].ID+"?customer_no=10001"); rec.Code != 200 {
		t.Errorf("order %s = %d", rows[0].ID, rec.Code)
	}
	if c := callsOf(ev); c != (calls{}) {
		t.Errorf("an hour of unchanged answers made %+v, want no call", c)
	}

	// A record changes, and its webhook comes.
	change(t, ev, rows[3].ID, "changed by the clerk")
	if err := ev.svc.OrderChanged(ctx(), rows[3].ID, false); err != nil {
		t.Fatal(err)
	}
	if c := callsOf(ev); c != (calls{}) {
		t.Errorf("the webhook made %+v, want no call: nothing is read until asked", c)
	}
	got := decode[api.OrderList](t, ev.get(t, orders)).Orders
	if got[3].Reference != "changed by the clerk" {
		t.Errorf("order %s after its webhook: reference %q", rows[3].ID, got[3].Reference)
	}
	if rec := ev.get(t, invoices); rec.Header().Get("X-Cache") != "HIT" {
		t.Errorf("invoices after an order changed: X-Cache %q, want HIT", rec.Header().Get("X-Cache"))
	}
	ev.get(t, "/v1/orders/"+rows[3].ID+"?customer_no=10001")
	if c := callsOf(ev); c != (calls{orderList: 1, order: 1}) {
		t.Errorf("after one change: %+v, want one list call and one record", c)
	}
}

// TestLostWebhookHealedBySweep: a change whose webhook never came shows
// after the next sweep, and not before the sweep period is over.
func TestLostWebhookHealedBySweep(t *testing.T) {
	ev := newEnv(t)
	orders := "/v1/orders?customer_no=10001"
	sweep(t, ev)
	rows := decode[api.OrderList](t, ev.get(t, orders)).Orders
	ev.clock.Advance(2 * time.Minute)
	sweep(t, ev)

	ev.clock.Advance(10 * time.Second)
	change(t, ev, rows[0].ID, "webhook lost")
	if got := decode[api.OrderList](t, ev.get(t, orders)).Orders[0].Reference; got == "webhook lost" {
		t.Fatalf("the change showed before any signal: the list was read again")
	}
	ev.clock.Advance(50 * time.Second)
	if c := sweep(t, ev); c.order != 0 {
		t.Errorf("the sweep fetched %d orders, want none: the record is known", c.order)
	}
	if got := decode[api.OrderList](t, ev.get(t, orders)).Orders[0].Reference; got != "webhook lost" {
		t.Errorf("after the sweep: reference %q, want the change", got)
	}
}

// TestSweepFindsNewOrder: an order created without its webhook reaches the
// customer's list with the next sweep, which fetches it once to learn
// whose it is; the list read after costs one list call and no record.
func TestSweepFindsNewOrder(t *testing.T) {
	ev := newEnv(t)
	orders := "/v1/orders?customer_no=10001"
	sweep(t, ev)
	before := decode[api.OrderList](t, ev.get(t, orders))
	ev.clock.Advance(30 * time.Second)
	o, _ := ev.sim.Order(before.Orders[0].ID)
	o.OrderNumber, o.ChangedAt = "", ""
	o.OrderDate = ev.clock.Now().UTC().Format(time.DateOnly)
	o.Status = erp.StatusRegistered
	n := ev.sim.SetOrder(o)
	ev.clock.Advance(30 * time.Second)
	if c := sweep(t, ev); c.order != 1 {
		t.Errorf("the sweep fetched %d orders, want the new one", c.order)
	}
	after := decode[api.OrderList](t, ev.get(t, orders))
	if after.Total != before.Total+1 || after.Orders[0].ID != n {
		t.Errorf("after the sweep: %d orders, first %s; want %d, first %s", after.Total, after.Orders[0].ID, before.Total+1, n)
	}
	if c := callsOf(ev); c != (calls{orderList: 1}) {
		t.Errorf("the list read after: %+v, want one list call (the new record is kept)", c)
	}
}

// TestSweepStopped: while the sweep fails, answers fall back to their TTL:
// past it they are served stale while they are read again.
func TestSweepStopped(t *testing.T) {
	ev := newEnv(t)
	orders := "/v1/orders?customer_no=10001"
	sweep(t, ev)
	ev.get(t, orders)
	ev.clock.Advance(sweepEvery + 11*time.Second) // the period, and the slack for the sweep itself
	if rec := ev.get(t, orders); rec.Header().Get("X-Cache") != "STALE" {
		t.Errorf("with no sweep for a period: X-Cache %q, want STALE", rec.Header().Get("X-Cache"))
	}
}
