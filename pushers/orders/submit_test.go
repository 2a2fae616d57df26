package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// checked is a source that answers synchronously: its orders are one
// product number, and Verify refuses products it is told are unknown
// and fails (transiently) while erpDown is set.
type checked struct {
	unknown  map[string]bool
	erpDown  atomic.Bool
	verifies atomic.Int32
}

func (c *checked) Name() string                                  { return "checked" }
func (c *checked) External(id string) string                     { return "C-" + id }
func (c *checked) Notify(context.Context, string, Outcome) error { return nil }
func (c *checked) Map(id string, payload []byte) (erp.NewOrder, error) {
	var sku string
	if json.Unmarshal(payload, &sku) != nil || sku == "" {
		return erp.NewOrder{}, fmt.Errorf("%w: no product", ErrMapping)
	}
	return erp.NewOrder{CustomerNumber: "10001", Rows: []erp.NewOrderRow{{ProductNumber: sku, Quantity: 1, UnitPrice: 100}}}, nil
}
func (c *checked) Verify(ctx context.Context, o *erp.NewOrder) error {
	c.verifies.Add(1)
	if c.erpDown.Load() {
		return erp.ErrUnavailable
	}
	for _, r := range o.Rows {
		if c.unknown[r.ProductNumber] {
			return fmt.Errorf("%w: unknown product %s", ErrMapping, r.ProductNumber)
		}
	}
	o.Comment = "verified"
	return nil
}

func TestSubmitAndVerify(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	sim := extendsim.New(extendsim.Options{Customers: -1})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	client, err := erp.New(erp.Config{BaseURL: srv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	src := &checked{unknown: map[string]bool{"NOPE-1": true}}
	p := New(rdb, client, []Source{src}, Config{Prefix: prefix, Budget: time.Second, Workers: 2,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, Poll: 10 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go p.Run(ctx)
	bg := context.Background()
	state := func(ext string) State {
		st, _, err := p.Lookup(bg, ext)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	payload := func(s string) []byte { b, _ := json.Marshal(s); return b }

	// A good order is recorded and created once, however often it comes.
	// A worker may claim it before Submit reads its state back: any state
	// on the way to imported is right, manual handling is not.
	if st, err := p.Submit(bg, "checked", "1", payload("SK-3101"), ""); err != nil || st.State == stateManual || st.State == stateHandled {
		t.Fatalf("Submit(1) = %+v, %v; want on its way to Extend", st, err)
	}
	waitFor(t, "order 1 imported", func() bool { return state("C-1").State == stateImported })
	if st, err := p.Submit(bg, "checked", "1", payload("SK-3101"), ""); err != nil || st.State != stateImported {
		t.Fatalf("Submit(1) again = %+v, %v; want imported, untouched", st, err)
	}
	if o, ok := sim.Order(state("C-1").ERPOrder); !ok || o.Comment != "verified" {
		t.Errorf("order in Extend = %+v, want the comment Verify wrote", o)
	}

	// A refused order goes straight to manual handling, one dead letter
	// however often the shop sends it.
	for range 3 {
		if st, err := p.Submit(bg, "checked", "2", payload("NOPE-1"), "unknown product NOPE-1"); err != nil || st.Reason != "unknown product NOPE-1" {
			t.Fatalf("Submit(2, reason) = %+v, %v; want manual with the reason", st, err)
		}
	}
	waitFor(t, "order 2 handled", func() bool { return state("C-2").State == stateHandled })
	st, err := p.Status(bg)
	if err != nil || st.DeadLetters != 1 || len(st.Recent) != 1 || !strings.Contains(st.Recent[0].Reason, "NOPE-1") {
		t.Fatalf("Status = %+v, %v; want one dead letter naming NOPE-1", st, err)
	}
	// Replayed unchanged, Verify refuses it again.
	if err := p.Replay(bg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "order 2 handled again", func() bool {
		s := state("C-2")
		return s.State == stateHandled && strings.Contains(s.Reason, "unknown product NOPE-1")
	})
	// The shop sends a corrected order under the same id: it is created.
	// (A worker may claim it before Submit reads it back.)
	if st, err := p.Submit(bg, "checked", "2", payload("SK-3102"), ""); err != nil || st.State == stateManual || st.State == stateHandled || st.Reason != "" {
		t.Fatalf("Submit(2, corrected) = %+v, %v; want on its way to Extend", st, err)
	}
	waitFor(t, "order 2 imported", func() bool { return state("C-2").State == stateImported })

	// Verify failing for a transient reason is retried, not parked.
	src.erpDown.Store(true)
	n := src.verifies.Load()
	p.Submit(bg, "checked", "3", payload("SK-3101"), "")
	waitFor(t, "a few verifies", func() bool { return src.verifies.Load() >= n+3 })
	if s := state("C-3"); s.State != statePending {
		t.Errorf("order 3 while the ERP is down = %+v, want pending", s)
	}
	src.erpDown.Store(false)
	waitFor(t, "order 3 imported", func() bool { return state("C-3").State == stateImported })

	counts := sim.ExternalOrderCounts()
	for _, ext := range []string{"C-1", "C-2", "C-3"} {
		if counts[ext] != 1 {
			t.Errorf("%s is %d times in Extend, want once", ext, counts[ext])
		}
	}
	if _, err := p.Submit(bg, "nope", "1", nil, ""); err == nil {
		t.Errorf("Submit(unknown source) = nil error")
	}
	if _, err := p.Submit(bg, "checked", "a b", nil, ""); err == nil || errors.Is(err, ErrMapping) {
		t.Errorf("Submit(bad id) = %v, want an id error", err)
	}
}
