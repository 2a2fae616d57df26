package retailcrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/stock"
	"github.com/vendre-extend/gateway/retailcrm"
	"github.com/vendre-extend/gateway/retailcrm/crmsim"
)

func newClient(t *testing.T, h http.Handler) *retailcrm.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := retailcrm.New(retailcrm.Config{BaseURL: srv.URL, APIKey: crmsim.APIKey, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestModulePayload: the registration is a form field integrationModule
// holding the JSON the merchant's RetailCRM expects, word for word.
func TestModulePayload(t *testing.T) {
	var got struct {
		method, path, key, ctype string
		module                   map[string]any
	}
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.key, got.ctype = r.Method, r.URL.Path, r.Header.Get("X-API-KEY"), r.Header.Get("Content-Type")
		json.Unmarshal([]byte(r.PostFormValue("integrationModule")), &got.module)
		w.Write([]byte(`{"success":true}`))
	}))
	m := retailcrm.WarehouseModule("extend-gw", "client-0123456789abcdef", "https://gw.example.test/", true)
	if err := c.EditModule(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.path != "/api/v5/integration-modules/extend-gw/edit" ||
		got.key != crmsim.APIKey || got.ctype != "application/x-www-form-urlencoded" {
		t.Errorf("request = %s %s key %q type %q", got.method, got.path, got.key, got.ctype)
	}
	want := map[string]any{
		"code": "extend-gw", "integrationCode": "extend-gw", "active": true, "name": "Extend Commerce",
		"clientId": "client-0123456789abcdef", "baseUrl": "https://gw.example.test/retailcrm", "actions": map[string]any{},
		"integrations": map[string]any{"store": map[string]any{"actions": []any{map[string]any{
			"code": "inventoriesUpload", "url": "/inventories-upload", "callPoints": []any{"order_create", "order_edit"}}}}},
	}
	if d := cmp.Diff(want, got.module); d != "" {
		t.Errorf("integrationModule (-want +got):\n%s", d)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
		msg    string
	}{
		{"validation", 400, `{"success":false,"errorMsg":"Errors in the entity format","errors":{"code":"is too long"}}`, retailcrm.ErrRejected, "Errors in the entity format (code: is too long)"},
		{"wrong key", 403, `{"success":false,"errorMsg":"Wrong \"apiKey\" value."}`, retailcrm.ErrRejected, "apiKey"},
		{"throttled", 429, `{"success":false,"errorMsg":"Limit exceeded"}`, retailcrm.ErrUnavailable, "Limit"},
		{"down", 503, `<html>down</html>`, retailcrm.ErrUnavailable, "try again later"},
		{"html 200", 200, `<html>account does not exist</html>`, retailcrm.ErrUnavailable, "not RetailCRM's JSON"},
		{"success false", 200, `{"success":false,"errorMsg":"Access denied"}`, retailcrm.ErrRejected, "Access denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			_, err := c.UploadInventories(context.Background(), []retailcrm.Offer{{ExternalID: "A"}})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("UploadInventories error = %v, want %v with %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), crmsim.APIKey) {
				t.Errorf("error %q holds the API key", err)
			}
		})
	}
}

func TestUploadInventories(t *testing.T) {
	sim := crmsim.New()
	sim.SetKnownOffers("A")
	c := newClient(t, sim)
	up, err := c.UploadInventories(context.Background(), []retailcrm.Offer{
		{ExternalID: "A", Stores: []retailcrm.OfferStore{{Code: "main", Available: 3}}},
		{ExternalID: "B", Stores: []retailcrm.OfferStore{{Code: "main", Available: 0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Processed != 1 || len(up.NotFound) != 1 || up.NotFound[0] != "B" {
		t.Errorf("Upload = %+v, want 1 processed and B not found", up)
	}
	if _, err := c.UploadInventories(context.Background(), make([]retailcrm.Offer, 251)); !errors.Is(err, retailcrm.ErrRejected) {
		t.Errorf("251 offers: error = %v, want ErrRejected before any call", err)
	}
	if n := len(sim.Uploads()); n != 1 {
		t.Errorf("uploads received = %d, want 1", n)
	}
}

func TestOrdersAndEdit(t *testing.T) {
	sim := crmsim.New()
	for id := 1; id <= 130; id++ {
		sim.AddOrder(id, "new", "SKU-1")
	}
	sim.AddOrder(500, "complete", "SKU-1")
	c := newClient(t, sim)
	ctx := context.Background()
	seen := 0
	for page := 1; ; page++ {
		pg, err := c.Orders(ctx, []string{"new"}, page)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(pg.Orders)
		if page >= pg.TotalPages {
			break
		}
	}
	if seen != 130 {
		t.Errorf("orders in status new = %d, want 130", seen)
	}
	if err := c.EditOrder(ctx, "7", map[string]string{"status": "imported-to-erp"}); err != nil {
		t.Fatal(err)
	}
	if st := sim.Status(7); st != "imported-to-erp" {
		t.Errorf("status after edit = %q", st)
	}
	if err := c.EditOrder(ctx, "99999", map[string]string{"status": "x"}); !errors.Is(err, retailcrm.ErrRejected) {
		t.Errorf("edit of an unknown order: %v, want ErrRejected", err)
	}
}

func TestClientIDConstantTime(t *testing.T) {
	cb := retailcrm.NewCallbacks("the-client-id-0123456789", nil)
	for _, tt := range []struct {
		id   string
		want bool
	}{{"the-client-id-0123456789", true}, {"the-client-id-012345678", false}, {"", false}, {"x", false}} {
		if got := cb.ClientIDOK(tt.id); got != tt.want {
			t.Errorf("ClientIDOK(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if retailcrm.NewCallbacks("", nil).ClientIDOK("") {
		t.Error("an unset clientId accepts an empty one")
	}
	if err := cb.InventoriesUpload(context.Background()); !errors.Is(err, retailcrm.ErrNoStock) {
		t.Errorf("InventoriesUpload without stock = %v, want ErrNoStock", err)
	}
}

// TestRegistrarRetries: RetailCRM fails the first attempts; the registrar
// shows failing on /admin/pushers, retries, and ends registered (idle).
func TestRegistrarRetries(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	sim := crmsim.New()
	sim.FailNext(2, http.StatusServiceUnavailable)
	c := newClient(t, sim)
	m := retailcrm.WarehouseModule("gw", "client-id-0123456789", "http://gw.test", false)
	r := retailcrm.NewRegistrar(rdb, c, m, retailcrm.RegistrarConfig{Prefix: prefix,
		RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond}) // short waits: a test, not a deployment
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	var st pushers.Status
	for {
		st, _ = r.Status(ctx)
		if st.State == pushers.StateIdle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not registered: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	raw, edits := sim.Module("gw")
	if edits != 1 || len(raw) == 0 {
		t.Errorf("registrations that reached the CRM = %d, want 1 (2 failed before)", edits)
	}
	if st.Backlog != 0 || st.LastError == "" || !strings.Contains(st.LastError, "503") {
		t.Errorf("status = %+v, want backlog 0 and the last error kept", st)
	}
	r.Replay(ctx)
	for _, n := sim.Module("gw"); n < 2; _, n = sim.Module("gw") {
		if time.Now().After(deadline) {
			t.Fatal("Replay did not register again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestCallbackLeadsToUpload: the module is registered with the simulated
// RetailCRM, which calls the gateway's inventoriesUpload back over HTTP:
// a right clientId is answered 200 {"success":true} at once and every
// product is uploaded, 250 offers at most a request; a wrong or missing
// one gets 401 and nothing is pushed.
func TestCallbackLeadsToUpload(t *testing.T) {
	const products = 600
	rdb, prefix := cachetest.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := extendsim.New(extendsim.Options{Customers: -1})
	for i := range products {
		sim.SetAvailability(fmt.Sprintf("CB-%04d", i), extendsim.WarehouseMain, float64(i%7))
	}
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	client, _ := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	crm := crmsim.New()
	crm.SetKnownOffers() // the CRM knows none of them: all reported not found
	c := newClient(t, crm)
	sp := stock.New(rdb, client, []stock.Sink{stock.NewRetailCRM(c, map[string]string{extendsim.WarehouseMain: "main"})},
		stock.Config{Prefix: prefix})
	// The first sweep is not due: only the callback asks for a push.
	rdb.Set(ctx, prefix+"{stock}:swept", time.Now().UnixMilli(), 0)
	go sp.Run(ctx)

	const clientID = "client-id-0123456789abcdef"
	gw := httptest.NewServer(handlers.New(handlers.Deps{RetailCRM: retailcrm.NewCallbacks(clientID, sp)}))
	defer gw.Close()
	m := retailcrm.WarehouseModule("extend-gw", clientID, gw.URL, true)
	if err := retailcrm.NewRegistrar(rdb, c, m, retailcrm.RegistrarConfig{Prefix: prefix}).Register(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _ := crm.Module("extend-gw")
	if !strings.Contains(string(raw), `"baseUrl":"`+gw.URL+`/retailcrm"`) {
		t.Fatalf("registered module = %s", raw)
	}

	wrong, empty := "not-the-client-id", ""
	for _, id := range []*string{&wrong, &empty} {
		status, body, err := crm.Callback(ctx, "extend-gw", id)
		if err != nil || status != http.StatusUnauthorized || !strings.Contains(body, `"success":false`) {
			t.Errorf("callback with clientId %q = %d %s, %v; want 401", *id, status, body, err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // more than the stock pusher's Poll
	if n := len(crm.Uploads()); n != 0 {
		t.Fatalf("uploads after a wrong clientId = %d, want 0", n)
	}

	status, body, err := crm.Callback(ctx, "extend-gw", nil)
	if err != nil || status != http.StatusOK || strings.TrimSpace(body) != `{"success":true}` {
		t.Fatalf("callback = %d %s, %v; want 200 {\"success\":true}", status, body, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[string]bool{}
		for _, up := range crm.Uploads() {
			if len(up) > retailcrm.MaxOffers {
				t.Fatalf("an upload of %d offers", len(up))
			}
			for _, o := range up {
				seen[o.ExternalID] = true
			}
		}
		if len(seen) >= products {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploaded %d of %d products", len(seen), products)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The double has the last upload before the pusher has read its
	// answer's notFoundOffers: wait for the status to catch up.
	st, _ := sp.Status(ctx)
	for st.NotFound < products && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st, _ = sp.Status(ctx)
	}
	if st.NotFound < products || len(st.NotFoundRecent) != pushers.RecentDeadLetters || !strings.HasPrefix(st.NotFoundRecent[0], "retailcrm: ") {
		t.Errorf("status: not found %d %v, want >= %d with the newest 20", st.NotFound, st.NotFoundRecent, products)
	}
	t.Logf("callback: %d uploads for %d products (sample data included); %d reported not found", len(crm.Uploads()), products, st.NotFound)
}
