package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/retailcrm/crmsim"
)

const crmClientID = "e2e-crm-client-id-0123456789"

// TestRetailCRMWarehouse drives the built binary as RetailCRM would: the
// module registration arrives with the right payload; a callback with a
// wrong clientId gets 401 and asks for nothing, the right one leads to an
// upload of every product; 200 orders waiting in RetailCRM reach Extend
// exactly once through 20 % failing creates and one SIGKILL, and are set
// to imported; after Extend's OrderPicked each is edited once with
// shipped, store and date.
func TestRetailCRMWarehouse(t *testing.T) {
	requireE2E(t)
	const n = 200
	redisURL, rdb := startRedis(t)
	// The simulated ERP plays an Extend with a larger agreement than the
	// standard 300 a minute, and the gateway is told the same below, as a
	// merchant with such an agreement would.
	sim := extendsim.New(extendsim.Options{Customers: -1, Limit: 100000, Window: time.Minute})
	sim.SetCreateFaults(extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 17})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	crm := crmsim.New()
	for i := 1; i <= n; i++ {
		crm.AddOrder(i, "new", "SK-3101")
	}
	crmSrv := httptest.NewServer(crm)
	defer crmSrv.Close()

	g := newGateway(t, map[string]string{
		"EXTEND_BASE_URL": erpSrv.URL, "EXTEND_CLIENT_ID": extendsim.DefaultClientID,
		"EXTEND_CLIENT_SECRET": extendsim.DefaultClientSecret, "EXTEND_TIMEOUT": "1s",
		"REDIS_URL": redisURL, "VENDRE_API_KEYS": apiKey, "ADMIN_TOKEN": adminToken, "DOCUMENT_SECRET": documentSecret,
		"EXTEND_WEBHOOK_SECRET": webhookSecret, "LOG_LEVEL": "warn",
		"EXTEND_RATE_LIMIT": "100000/1m", "ERP_MAX_CONCURRENCY": "64", // the simulated ERP's agreement (above); more calls in flight for 200 orders at once
		"RETAILCRM_URL": crmSrv.URL, "RETAILCRM_API_KEY": crmsim.APIKey, "RETAILCRM_STORES": "HUV:main,BUT:store",
		"STOCK_SINKS": "retailcrm", "ORDER_SOURCES": "retailcrm", "RETAILCRM_ERP_CUSTOMER": "10002",
		"RETAILCRM_MODULE_CODE": "extend-gw", "RETAILCRM_CLIENT_ID": crmClientID,
	})
	// RetailCRM calls https://gateway.e2e.test; the double routes that to
	// the gateway as the merchant's TLS proxy would.
	g.env = append(g.env, "PUBLIC_BASE_URL=https://gateway.e2e.test")
	crm.Route("https://gateway.e2e.test", g.url())
	g.start()
	start := time.Now()
	ctx := context.Background()

	// The registration.
	waitFor(t, 30*time.Second, "module registered", func() bool { raw, _ := crm.Module("extend-gw"); return raw != nil })
	raw, _ := crm.Module("extend-gw")
	var module map[string]any
	json.Unmarshal(raw, &module)
	want := map[string]any{
		"code": "extend-gw", "integrationCode": "extend-gw", "active": true, "name": "Extend Commerce",
		"clientId": crmClientID, "baseUrl": "https://gateway.e2e.test/retailcrm", "actions": map[string]any{},
		"integrations": map[string]any{"store": map[string]any{"actions": []any{map[string]any{
			"code": "inventoriesUpload", "url": "/inventories-upload", "callPoints": []any{"order_create", "order_edit"}}}}},
	}
	if d := cmp.Diff(want, module); d != "" {
		t.Errorf("registered module (-want +got):\n%s", d)
	}

	// The callbacks: first let the start-up sweep finish.
	products := len(sim.ProductNumbers())
	waitFor(t, 60*time.Second, "start-up stock upload", func() bool { return uploaded(crm.Uploads()) >= products })
	time.Sleep(time.Second)
	before := len(crm.Uploads())
	wrong := "not-the-client-id"
	status, body, err := crm.Callback(ctx, "extend-gw", &wrong)
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("callback with a wrong clientId = %d %s, %v; want 401", status, body, err)
	}
	time.Sleep(2 * time.Second)
	if after := len(crm.Uploads()); after != before || rdb.Exists(ctx, "gwq:{stock}:full").Val() != 0 {
		t.Errorf("a wrong clientId led to %d uploads (full sweep asked: %d)", after-before, rdb.Exists(ctx, "gwq:{stock}:full").Val())
	}
	status, body, err = crm.Callback(ctx, "extend-gw", nil)
	if err != nil || status != http.StatusOK || strings.TrimSpace(body) != `{"success":true}` {
		t.Errorf("callback = %d %s, %v; want 200 {\"success\":true}", status, body, err)
	}
	waitFor(t, 60*time.Second, "upload after the callback", func() bool { return uploaded(crm.Uploads()[before:]) >= products })
	callbackUploads := len(crm.Uploads()) - before

	// The orders, with a SIGKILL while they are being created.
	waitFor(t, 60*time.Second, "imports under way", func() bool { return len(sim.ExternalOrderCounts()) >= n/3 })
	g.kill()
	g.start()
	waitFor(t, 3*time.Minute, "every order imported", func() bool {
		for i := 1; i <= n; i++ {
			if crm.Status(i) != "imported-to-erp" {
				return false
			}
		}
		return true
	})
	imported := time.Since(start)
	counts := sim.ExternalOrderCounts()
	twice := 0
	for i := 1; i <= n; i++ {
		if c := counts["R-"+strconv.Itoa(i)]; c != 1 {
			twice++
			t.Errorf("R-%d is %d times in Extend, want once", i, c)
		}
	}

	// Extend picks every order.
	erpOrder := map[string]int{}
	for _, c := range sim.CustomerNumbers() {
		for _, num := range sim.OrderNumbers(c) {
			if o, ok := sim.Order(num); ok && strings.HasPrefix(o.ExternalOrderNumber, "R-") {
				id, _ := strconv.Atoi(strings.TrimPrefix(o.ExternalOrderNumber, "R-"))
				erpOrder[num] = id
			}
		}
	}
	k := 0
	for num := range erpOrder {
		k++
		d := []byte(fmt.Sprintf(`{"Id":"%032x","Attempt":1,"Properties":{"NotificationId":"crm-pick-%s"},`+
			`"Notifications":[{"Action":"OrderPicked","Details":{"OrderNumber":%q}}]}`, k, num, num))
		deliver(t, g.url(), d)
	}
	picked := time.Now().In(stockholm(t)).Format(time.DateOnly)
	waitFor(t, 2*time.Minute, "every shipment reported", func() bool {
		edits := crm.Edits()
		for i := 1; i <= n; i++ {
			if len(edits[i]) < 2 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // a second report would come now
	edits := crm.Edits()
	statusEdits, shipEdits := 0, 0
	for i := 1; i <= n; i++ {
		var ships []map[string]any
		for _, e := range edits[i] {
			if _, ok := e["shipped"]; ok {
				ships = append(ships, e)
			} else {
				statusEdits++
			}
		}
		shipEdits += len(ships)
		w := []map[string]any{{"shipped": true, "shipmentStore": "main", "shipmentDate": picked}}
		if d := cmp.Diff(w, ships); d != "" {
			t.Errorf("order %d shipment edits (-want +got):\n%s", i, d)
		}
	}
	_, dead, _ := pusherState(g.url(), "orders")
	_, registrations := crm.Module("extend-gw")
	t.Logf("RetailCRM: module registrations %d (one per start); callback: %d uploads of %d products (<= 250 offers each); "+
		"%d orders, 20%% of creates failing, 1 SIGKILL: imported in %v (noisy); Extend holds %d R- orders, %d not exactly once; "+
		"%d ERP create calls; CRM edits: %d status, %d shipment (%d OrderPicked deliveries); dead letters %d",
		registrations, callbackUploads, products, n, imported.Round(time.Millisecond), len(erpOrder), twice,
		sim.Calls(extendsim.OpOrderCreate), statusEdits, shipEdits, len(erpOrder), dead)
}

// uploaded counts the distinct offers in ups.
func uploaded(ups [][]crmsim.UploadedOffer) int {
	seen := map[string]bool{}
	for _, up := range ups {
		for _, o := range up {
			seen[o.ExternalID] = true
		}
	}
	return len(seen)
}

func stockholm(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm") // TIMEZONE's default
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
