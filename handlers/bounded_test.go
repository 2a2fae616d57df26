package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/orders"
)

// hugeBadOrder is a Vendre order of about 200 kB whose 7,500 rows are all
// wrong (no quantity), as the hostile pass sent it.
func hugeBadOrder(id string) string {
	var rows []string
	for i := range 7500 {
		rows = append(rows, fmt.Sprintf(`{"model":"%d","quantity":0}`, i))
	}
	return `{"event":"new_order","order":{"id":"` + id + `","created_at":"2026-11-20T10:00:00Z","currency":"SEK",` +
		`"customer":{"customer_no":"10001"},"delivery":{"address":"Storgatan 1","zipcode":"111 22","ziparea":"Stockholm","country_iso":"SWE"},` +
		`"rows":[` + strings.Join(rows, ",") + `]}}`
}

// TestHugeBadOrderStaysSmall: what the gateway builds from a huge bad
// order (its log lines, its dead letter, the /admin/pushers answer) stays
// small, however many problems the order has.
func TestHugeBadOrderStaysSmall(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	ts := httptest.NewServer(extendsim.New(extendsim.Options{Customers: -1}))
	t.Cleanup(ts.Close)
	client, err := erp.New(erp.Config{BaseURL: ts.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	logs := &records{}
	log := slog.New(logs)
	op := orders.New(rdb, client, []orders.Source{orders.NewVendre(vendreToken, nil)},
		orders.Config{Prefix: prefix, Logger: log, Poll: 20 * time.Millisecond}) // polled often: the test waits on it
	e := handlers.New(handlers.Deps{AdminToken: testAdmin, VendreOrders: op, Pushers: pushers.NewRegistry(op), Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = op.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	body := hugeBadOrder("7500")
	if len(body) < 180<<10 || len(body) > 256<<10 {
		t.Fatalf("the order is %d bytes, want about 200 kB", len(body))
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/vendre", strings.NewReader(body))
	req.Header.Set("X-Webhook-Token", vendreToken)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /webhooks/vendre = %d %s", rec.Code, rec.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if o, ok, _ := op.Lookup(ctx, "V-7500"); ok && o.State == "handled" {
			if len(o.Reason) > 2<<10 || !strings.Contains(o.Reason, "rows[0]") {
				t.Errorf("reason is %d bytes, want at most 2 KiB naming rows[0]: %.200s", len(o.Reason), o.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the order did not reach manual handling")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, r := range logs.all() {
		if n := len(r.Message) + len(r.attrs); n > 4<<10 {
			t.Errorf("log line %q is %d bytes, want at most 4 KiB", r.Message, n)
		}
	}
	for _, raw := range rdb.LRange(ctx, prefix+"{orders}:dead", 0, -1).Val() {
		if len(raw) > 4<<10 {
			t.Errorf("dead letter is %d bytes, want at most 4 KiB", len(raw))
		}
	}
	req = httptest.NewRequest(http.MethodGet, "/admin/pushers", nil)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() > 32<<10 {
		t.Errorf("GET /admin/pushers = %d, %d bytes; want 200 and at most 32 KiB", rec.Code, rec.Body.Len())
	}
}

// TestDeadLettersPaged: GET /admin/pushers/{name}/dead-letters pages
// through every dead letter, newest first.
func TestDeadLettersPaged(t *testing.T) {
	e, _, prefix := newWebhookRouter(t, testAdmin)
	rdb, _ := cachetest.Redis(t)
	d := pushers.NewDeadLetters(rdb, prefix+"{orders}:dead", 0)
	now := time.Now().UTC()
	for i := range 25 {
		if err := d.Add(context.Background(), pushers.DeadLetter{ID: fmt.Sprint(i), At: now.Add(time.Duration(i) * time.Second), Reason: "why"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(target string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+testAdmin)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		target          string
		first, n, total int
	}{
		{"/admin/pushers/orders/dead-letters", 24, 25, 25},
		{"/admin/pushers/orders/dead-letters?page=2&per_page=10", 14, 10, 25},
		{"/admin/pushers/orders/dead-letters?page=3&per_page=10", 4, 5, 25},
		{"/admin/pushers/orders/dead-letters?page=4&per_page=10", -1, 0, 25},
	}
	for _, tt := range tests {
		rec := get(tt.target)
		var got api.DeadLetterPage
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
			t.Fatalf("GET %s = %d %s", tt.target, rec.Code, rec.Body)
		}
		if len(got.DeadLetters) != tt.n || got.Total != int64(tt.total) || (tt.n > 0 && got.DeadLetters[0].ID != fmt.Sprint(tt.first)) {
			t.Errorf("GET %s = %d letters from %v, total %d; want %d from %d, total %d", tt.target, len(got.DeadLetters), got.DeadLetters, got.Total, tt.n, tt.first, tt.total)
		}
	}
	for target, want := range map[string]int{
		"/admin/pushers/orders/dead-letters?per_page=101": http.StatusBadRequest,
		"/admin/pushers/orders/dead-letters?page=0":       http.StatusBadRequest,
		"/admin/pushers/nope/dead-letters":                http.StatusNotFound,
	} {
		if rec := get(target); rec.Code != want {
			t.Errorf("GET %s = %d %s, want %d", target, rec.Code, rec.Body, want)
		}
	}
}
