package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/pushers/orders/xsalesim"
)

const vendreToken = "e2e-vendre-token-0123456789"

func vendreOrder(id string) []byte {
	return []byte(fmt.Sprintf(`{"event":"new_order","order":{"id":%q,"created_at":"2026-11-20T10:00:00Z","currency":"SEK",`+
		`"customer":{"customer_no":"10001","email":"a@example.com"},"reference":"Web %s","comment":"","shipping_cost":49.0,`+
		`"delivery":{"name":"Anna","address":"Storgatan 1","address2":"","zipcode":"111 22","ziparea":"Stockholm","country_iso":"SWE"},`+
		`"rows":[{"model":"SK-3101","name":"Skyddssko","quantity":2,"price":100.0,"discount":0.0}]}}`, id, id))
}

// postVendre sends one order webhook until it is answered 202.
func postVendre(t *testing.T, url string, body []byte) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/vendre", bytes.NewReader(body))
		req.Header.Set("X-Webhook-Token", vendreToken)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusAccepted {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("order webhook never accepted: %v", err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pusherState reads GET /admin/pushers.
func pusherState(url, name string) (backlog, dead int64, ok bool) {
	req, _ := http.NewRequest(http.MethodGet, url+"/admin/pushers", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false
	}
	defer res.Body.Close()
	var out struct {
		Pushers []struct {
			Name        string `json:"name"`
			Backlog     int64  `json:"backlog"`
			DeadLetters int64  `json:"dead_letters"`
		} `json:"pushers"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&out) != nil {
		return 0, 0, false
	}
	for _, p := range out.Pushers {
		if p.Name == name {
			return p.Backlog, p.DeadLetters, true
		}
	}
	return 0, 0, false
}

// TestOrdersExactlyOnce: shop orders from Vendre's webhook (each sent
// twice) and from xSale while 20 % of ERP creates fail or time out (half of
// them after creating the order) and the gateway is SIGKILLed and
// restarted: every order is in the ERP exactly once and xSale is told.
func TestOrdersExactlyOnce(t *testing.T) {
	requireE2E(t)
	n, kills := 60, 1
	if full() {
		n, kills = 500, 2
	}
	redisURL, _ := startRedis(t)
	// The simulated ERP plays an Extend with a larger agreement than the
	// standard 300 a minute, so that hundreds of imports finish within the
	// test; a merchant with such an agreement sets EXTEND_RATE_LIMIT to
	// it, as below.
	sim := extendsim.New(extendsim.Options{Customers: -1, Limit: 100000, Window: time.Minute})
	sim.SetCreateFaults(extendsim.CreateFaults{Rate: 0.2, After: 0.5, Hang: 0.5, Seed: 11})
	erpSrv := httptest.NewServer(sim)
	defer erpSrv.Close()
	xs := xsalesim.New()
	xsSrv := httptest.NewServer(xs)
	defer xsSrv.Close()

	g := newGateway(t, map[string]string{
		"EXTEND_BASE_URL": erpSrv.URL, "PUBLIC_BASE_URL": "https://gateway.e2e.test", "EXTEND_CLIENT_ID": extendsim.DefaultClientID,
		"EXTEND_CLIENT_SECRET": extendsim.DefaultClientSecret, "EXTEND_TIMEOUT": "1s",
		"REDIS_URL": redisURL, "VENDRE_API_KEYS": apiKey, "ADMIN_TOKEN": adminToken,
		"DOCUMENT_SECRET":   documentSecret,
		"EXTEND_RATE_LIMIT": "100000/1m", "LOG_LEVEL": "warn",
		"ORDER_SOURCES": "vendre-webhook,xsale", "VENDRE_WEBHOOK_TOKEN": vendreToken,
		"XSALE_URL": xsSrv.URL, "XSALE_ORGANIZATION": xsalesim.Org, "XSALE_TOKEN_URL": xsSrv.URL + "/oauth/token",
		"XSALE_CLIENT_ID": xsalesim.ClientID, "XSALE_CLIENT_SECRET": xsalesim.ClientSecret,
		"XSALE_USERNAME": xsalesim.Username, "XSALE_PASSWORD": xsalesim.Password,
		"XSALE_POLL_EVERY": "200ms", "XSALE_ERP_CUSTOMER": "10002",
	})
	g.start()
	start := time.Now()
	var want []string
	for i := range n {
		for k := 1; k <= kills; k++ {
			if i == n*k/(kills+1) {
				time.Sleep(300 * time.Millisecond) // let creates be in flight
				g.kill()
				g.start()
			}
		}
		if i%2 == 0 {
			id := strconv.Itoa(7000 + i)
			postVendre(t, g.url(), vendreOrder(id))
			postVendre(t, g.url(), vendreOrder(id)) // Vendre sends it again
			want = append(want, "V-"+id)
		} else {
			xs.AddOrder(100+i, "FA-8102", "PL")
			want = append(want, "X-"+strconv.Itoa(100+i))
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, 3*time.Minute, "every order created and every xSale order told", func() bool {
		backlog, _, ok := pusherState(g.url(), "orders")
		return ok && backlog == 0 && len(xs.Changes()) == n/2
	})
	elapsed := time.Since(start)

	counts := map[string]int{}
	for ext, c := range sim.ExternalOrderCounts() {
		if strings.HasPrefix(ext, "V-") || strings.HasPrefix(ext, "X-") {
			counts[ext] = c
		}
	}
	twice := 0
	for _, ext := range want {
		switch counts[ext] {
		case 1:
		case 0:
			t.Errorf("%s is not in the ERP", ext)
		default:
			twice++
			t.Errorf("%s is %d times in the ERP", ext, counts[ext])
		}
	}
	if len(counts) != len(want) {
		t.Errorf("the ERP holds %d shop orders, want %d", len(counts), len(want))
	}
	notImported := 0
	for i := 1; i < n; i += 2 {
		if xs.Status(100+i) != "Zaimportowano do ERP" {
			notImported++
		}
	}
	if notImported > 0 {
		t.Errorf("%d xSale orders were not set to imported", notImported)
	}
	_, dead, _ := pusherState(g.url(), "orders")
	t.Logf("%d shop orders (%d Vendre, each sent twice; %d xSale), 20%% of creates failing, gateway SIGKILLed %d times: "+
		"done in %v; ERP holds %d shop orders, %d twice; %d create calls reached the ERP; %d xSale status changes; dead letters %d",
		n, (n+1)/2, n/2, kills, elapsed.Round(time.Millisecond), len(counts), twice,
		sim.Calls(extendsim.OpOrderCreate), sumChanges(xs.Changes()), dead)
}

func sumChanges(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
