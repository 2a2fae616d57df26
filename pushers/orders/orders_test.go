package orders

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/pushers/orders/xsalesim"
	"github.com/vendre-extend/gateway/webhook"
)

const token = "vendre-token-0123456789"

func vendreBody(id, sku, country string, qty int) []byte {
	return []byte(fmt.Sprintf(`{"event":"new_order","order":{"id":%q,"created_at":"2026-11-20T23:30:00Z","currency":"sek",
"customer":{"customer_no":"10001","email":"a@example.com"},"reference":"Ref %s","comment":"","shipping_cost":49.0,
"delivery":{"name":"Anna","address":"Storgatan 1","address2":"","zipcode":"111 22","ziparea":"Stockholm","country_iso":%q},
"rows":[{"model":%q,"name":"x","quantity":%d,"price":100.5,"discount":"1 0"}]}}`, id, id, country, sku, qty))
}

func TestVendreMap(t *testing.T) {
	v := NewVendre(token, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		body    []byte
		want    erp.NewOrder
		problem string
	}{
		{"ok", vendreBody("1", "SK-3101", "SWE", 2), erp.NewOrder{
			CustomerNumber: "10001", OrderDate: "2026-11-21", YourReference: "Ref 1", Currency: "SEK", ShippingCost: 4900,
			DeliveryAddress: erp.Address{Name: "Anna", Address1: "Storgatan 1", ZipCode: "111 22", City: "Stockholm", CountryCode: "SE"},
			Rows:            []erp.NewOrderRow{{ProductNumber: "SK-3101", Quantity: 2, UnitPrice: 10050, DiscountAmount: 1000}},
		}, ""},
		{"unknown country", vendreBody("2", "SK-3101", "XYZ", 1), erp.NewOrder{}, "unknown country"},
		{"zero quantity", vendreBody("3", "SK-3101", "SWE", 0), erp.NewOrder{}, "not positive"},
		{"no product", vendreBody("4", "", "SWE", 1), erp.NewOrder{}, "no product number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h vendreHook
			if err := jsonUnmarshal(tt.body, &h); err != nil {
				t.Fatal(err)
			}
			got, err := v.Map("x", h.Order)
			if tt.problem != "" {
				if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("Map err = %v, want ErrMapping naming %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Map (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiveVendre(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	p := New(rdb, nil, []Source{NewVendre(token, nil)}, Config{Prefix: prefix})
	ctx := context.Background()
	tests := []struct {
		name    string
		body    []byte
		token   string
		wantErr error
		want    VendreReceipt
	}{
		{"wrong token", vendreBody("1", "A", "SWE", 1), "nope", webhook.ErrSignature, VendreReceipt{}},
		{"no token", vendreBody("1", "A", "SWE", 1), "", webhook.ErrSignature, VendreReceipt{}},
		{"not JSON", []byte("<xml/>"), token, webhook.ErrPayload, VendreReceipt{}},
		{"bad id", []byte(`{"event":"new_order","order":{"id":"a:b"}}`), token, webhook.ErrPayload, VendreReceipt{}},
		{"other event", []byte(`{"event":"updated_customer","customer":{}}`), token, nil, VendreReceipt{Ignored: true}},
		{"recorded", vendreBody("1", "A", "SWE", 1), token, nil, VendreReceipt{}},
		{"again", vendreBody("1", "A", "SWE", 1), token, nil, VendreReceipt{Duplicate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ReceiveVendre(ctx, tt.body, tt.token)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ReceiveVendre = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if n := rdb.ZCard(ctx, prefix+"{orders}:due").Val(); n != 1 {
		t.Errorf("due orders = %d, want 1", n)
	}
}

// TestExactlyOnce is the "Done when" run in process: orders from both
// sources, 20 % of creates failing (half of them after creating the order,
// half of those by hanging until the client gives up), two replicas, one
// of them stopped mid-run: every order is in Extend exactly once and each
// xSale order was told. E2E_FULL=1: 500 orders.
func TestExactlyOnce(t *testing.T) {
	n := 80
	if os.Getenv("E2E_FULL") == "1" {
		n = 500
	}
	rdb, prefix := cachetest.Redis(t)
	sim := extendsim.New(extendsim.Options{Customers: -1})
	sim.SetCreateFaults(extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 7})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID,
		ClientSecret: extendsim.DefaultClientSecret, CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	xs := xsalesim.New()
	xsSrv := httptest.NewServer(xs)
	defer xsSrv.Close()

	newReplica := func() *Pusher {
		return New(rdb, client, []Source{
			NewVendre(token, nil),
			NewXSale(XSaleConfig{BaseURL: xsSrv.URL, Organization: xsalesim.Org, TokenURL: xsSrv.URL + "/oauth/token",
				ClientID: xsalesim.ClientID, ClientSecret: xsalesim.ClientSecret, Username: xsalesim.Username,
				Password: xsalesim.Password, Customer: "10002", PollEvery: 50 * time.Millisecond}),
		}, Config{Prefix: prefix, Budget: 300 * time.Millisecond, Visibility: 3 * time.Second, Workers: 3,
			RetryBase: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond, Poll: 20 * time.Millisecond})
	}
	a, b := newReplica(), newReplica()
	actx, stopA := context.WithCancel(context.Background())
	bctx, stopB := context.WithCancel(context.Background())
	defer stopA()
	defer stopB()
	var wg sync.WaitGroup
	for _, r := range []struct {
		p   *Pusher
		ctx context.Context
	}{{a, actx}, {b, bctx}} {
		wg.Add(1)
		go func() { defer wg.Done(); r.p.Run(r.ctx) }()
	}

	start := time.Now()
	var want []string
	ctx := context.Background()
	for i := range n {
		if i%2 == 0 {
			id := strconv.Itoa(5000 + i)
			body := vendreBody(id, "SK-3101", "SWE", 1+i%3)
			// Every webhook arrives twice, at either replica.
			for _, r := range []*Pusher{a, b} {
				if _, err := r.ReceiveVendre(ctx, body, token); err != nil {
					t.Fatal(err)
				}
			}
			want = append(want, "V-"+id)
		} else {
			xs.AddOrder(100+i, "FA-8102", "PL")
			want = append(want, "X-"+strconv.Itoa(100+i))
		}
		if i == n/2 {
			stopA() // a replica stops mid-run; its claims and lease lapse
		}
	}
	// One order of each source needs manual handling.
	a.ReceiveVendre(ctx, vendreBody("bad", "SK-3101", "Narnia", 1), token)
	xs.AddOrder(99, "FA-8102", "ZZZ")

	waitFor(t, "every order finished", func() bool {
		st, err := b.Status(ctx)
		return err == nil && st.Backlog == 0 && len(xs.Changes()) == n/2+1
	})
	elapsed := time.Since(start)
	counts := map[string]int{}
	for ext, c := range sim.ExternalOrderCounts() {
		if strings.HasPrefix(ext, "V-") || strings.HasPrefix(ext, "X-") {
			counts[ext] = c
		}
	}
	for _, ext := range want {
		if counts[ext] != 1 {
			t.Errorf("%s is %d times in Extend, want once", ext, counts[ext])
		}
	}
	if len(counts) != len(want) {
		t.Errorf("Extend holds %d external orders, want %d", len(counts), len(want))
	}
	for i := 1; i < n; i += 2 {
		if st := xs.Status(100 + i); st != "Zaimportowano do ERP" {
			t.Errorf("xSale order %d is %q, want imported", 100+i, st)
		}
	}
	if st := xs.Status(99); st != "Do obsługi ręcznej" {
		t.Errorf("xSale order 99 is %q, want manual handling", st)
	}
	st, _ := b.Status(ctx)
	if st.DeadLetters != 2 {
		t.Errorf("dead letters = %d, want 2 (one manual order per source)", st.DeadLetters)
	}
	for _, s := range []string{"V-bad", "X-99"} {
		o, ok, _ := b.Lookup(ctx, s)
		if !ok || o.State != stateHandled || o.Reason == "" {
			t.Errorf("%s = %+v, want handled with a reason", s, o)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("%d orders in %v: creates sent %d, confirmed %d, unclear %d, found by look-up %d, manual %d; "+
		"ERP create calls %d; xSale status changes %d", n, elapsed.Round(time.Millisecond),
		sa.Creates+sb.Creates, sa.Created+sb.Created, sa.Ambiguous+sb.Ambiguous, sa.Found+sb.Found,
		sa.Manual+sb.Manual, sim.Calls(extendsim.OpOrderCreate), sumChanges(xs.Changes()))
	stopB()
	wg.Wait()
}

func sumChanges(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
