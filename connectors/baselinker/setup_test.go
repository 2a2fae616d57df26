package baselinker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/connectors/baselinker"
	"github.com/vendre-extend/gateway/connectors/baselinker/baselinkersim"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/pushers/orders"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const password = "bl-test-pass-0123456789"

// start is the fixed start of the tests' clock.
var start = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// env is the connector behind a real HTTP server, against a simulated
// Extend behind another, with the order pusher running on real Redis, and
// the Baselinker double calling it.
type env struct {
	sim    *extendsim.Server
	client *erp.Client
	conn   *baselinker.Connector
	pusher *orders.Pusher
	bl     *baselinkersim.Client
	url    string
	clock  *clock
	stop   func() // stops the pusher
	// replica starts another order pusher on the same Redis (another
	// replica of the gateway) until ctx ends.
	replica func(ctx context.Context)
	// another is a second connector on the same store and Redis (another
	// replica of the gateway), and its Baselinker double.
	another func() *baselinkersim.Client
}

type options struct {
	products   int // articles in the simulated catalogue (default: the fixed 41)
	warehouses []string
	faults     extendsim.CreateFaults
	noRedis    bool // no Redis at all: the order actions are off
	realClock  bool
	vendre     bool
	wait       time.Duration // Config.Wait; default the connector's
	customer   string        // BASELINKER_ERP_CUSTOMER; default 10002
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	clk := newClock(start)
	now := clk.Now
	if o.realClock {
		now = time.Now
	}
	// No ERP guard in these tests: the connector calls the simulated ERP
	// straight, so the simulator plays an Extend without a budget (the
	// budget is erpguard's, tested there and in faults budget).
	sim := extendsim.New(extendsim.Options{Customers: -1, Products: o.products, Now: now, Limit: -1})
	sim.SetCreateFaults(o.faults)
	erpSrv := httptest.NewServer(sim)
	t.Cleanup(erpSrv.Close)
	client, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID,
		ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	bg, cancel := context.WithCancel(context.Background())
	e := &env{sim: sim, client: client, clock: clk}
	var wg sync.WaitGroup
	e.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(e.stop)

	var store baselinker.Store = cache.NewMemory(64 << 20)
	if o.customer == "" {
		o.customer = extendsim.CustomerOther
	}
	cfg := baselinker.Config{Password: password, Customer: o.customer, Warehouses: o.warehouses,
		Location: time.UTC, VendreOrders: o.vendre, Now: now, Wait: o.wait}
	if o.noRedis {
		e.conn = baselinker.New(bg, cfg, client, store, nil)
		e.serve(t, nil)
		return e
	}
	rdb, prefix := cachetest.Redis(t)
	store = cache.NewRedis(rdb, prefix)
	cfg.Prefix = prefix
	e.conn = baselinker.New(bg, cfg, client, store, rdb)
	sources := []orders.Source{e.conn.Source()}
	if o.vendre {
		v := orders.NewVendre("vendre-token-0123456789", time.UTC)
		v.OnImported(e.conn.VendreImported)
		sources = append(sources, v)
	}
	newPusher := func() *orders.Pusher {
		return orders.New(rdb, client, sources, orders.Config{Prefix: prefix, Budget: time.Second,
			Visibility: 5 * time.Second, Workers: 4, RetryBase: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond,
			Poll: 10 * time.Millisecond})
	}
	e.another = func() *baselinkersim.Client {
		srv := httptest.NewServer(baselinker.New(bg, cfg, client, store, rdb).Handler(nil))
		t.Cleanup(srv.Close)
		return baselinkersim.New(srv.URL, password)
	}
	e.pusher = newPusher()
	wg.Add(1)
	go func() { defer wg.Done(); e.pusher.Run(bg) }()
	e.replica = func(ctx context.Context) {
		wg.Add(1)
		go func() { defer wg.Done(); newPusher().Run(ctx) }()
	}
	e.serve(t, e.pusher)
	return e
}

func (e *env) serve(t *testing.T, op baselinker.Orders) {
	srv := httptest.NewServer(e.conn.Handler(op))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.bl = baselinkersim.New(srv.URL, password)
}

// erpCalls is how many calls reached the simulated Extend, token calls
// left out.
func (e *env) erpCalls() int {
	n := 0
	for _, op := range []string{extendsim.OpOrderList, extendsim.OpOrder, extendsim.OpOrderCreate, extendsim.OpInvoiceList,
		extendsim.OpInvoice, extendsim.OpAvailability, extendsim.OpPrices, extendsim.OpProductList, extendsim.OpProduct,
		extendsim.OpProductGroups, extendsim.OpCustomer} {
		n += e.sim.Calls(op)
	}
	return n
}

// waitFor polls cond until it holds, or fails the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// golden compares got (JSON) with testdata/name.golden.json, or rewrites
// it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(json.RawMessage(got)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./connectors/baselinker -update)", err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("%s differs from %s:\n got: %s", name, path, b.String())
	}
}
