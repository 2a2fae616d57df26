package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/pushers/orders"
	"github.com/vendre-extend/gateway/webhook"
)

const vendreToken = "vendre-webhook-token-1"

// newWebhookRouter is the real router with the webhook intake, the order
// pusher (vendre-webhook) and the pusher registry on a test Redis prefix.
func newWebhookRouter(t *testing.T, admin string) (*echo.Echo, *orders.Pusher, string) {
	t.Helper()
	rdb, prefix := cachetest.Redis(t)
	intake := webhook.NewIntake(rdb, []string{"old", "whsec"}, webhook.Options{Prefix: prefix})
	op := orders.New(rdb, nil, []orders.Source{orders.NewVendre(vendreToken, nil)}, orders.Config{Prefix: prefix})
	consumer := webhook.NewConsumer(rdb, nil, nil, webhook.ConsumerOptions{Options: webhook.Options{Prefix: prefix}})
	e := handlers.New(handlers.Deps{
		AdminToken: admin, ExtendWebhooks: intake, VendreOrders: op,
		Pushers: pushers.NewRegistry(op, consumer),
	})
	return e, op, prefix
}

func TestExtendWebhookRoute(t *testing.T) {
	e, _, _ := newWebhookRouter(t, testAdmin)
	good := `{"Id":"0123456789abcdef0123456789abcdef","Attempt":1,"Properties":{"NotificationId":"7b4c"},"Notifications":[{"Action":"OrderPicked","Details":{"OrderNumber":"1"}}]}`
	tests := []struct {
		name   string
		body   string
		sig    string
		status int
		want   string // code or status in the body
	}{
		{"recorded", good, webhook.Sign([]byte(good), "whsec"), http.StatusAccepted, `"recorded"`},
		{"redelivered", good, strings.ToLower(webhook.Sign([]byte(good), "old")), http.StatusAccepted, `"duplicate"`},
		{"bad signature", good, webhook.Sign([]byte(good), "nope"), http.StatusUnauthorized, `"unauthorized"`},
		{"no signature", good, "", http.StatusUnauthorized, `"unauthorized"`},
		{"signed non-JSON", "hello", webhook.Sign([]byte("hello"), "whsec"), http.StatusBadRequest, `"invalid_request"`},
		{"too large", strings.Repeat(" ", webhook.MaxBody+1), "", http.StatusRequestEntityTooLarge, `"invalid_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/extend", strings.NewReader(tt.body))
			req.Header.Set("ms-signature", tt.sig)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("POST /webhooks/extend = %d %s, want %d with %s", rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
}

func TestWebhookRoutesOff(t *testing.T) {
	e := handlers.New(handlers.Deps{})
	for _, path := range []string{"/webhooks/extend", "/webhooks/vendre"} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
		if rec.Code != http.StatusNotFound {
			t.Errorf("POST %s without configuration = %d, want 404", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/pushers", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /admin/pushers without ADMIN_TOKEN = %d, want 404", rec.Code)
	}
}

func TestVendreWebhookAndPushers(t *testing.T) {
	e, op, _ := newWebhookRouter(t, testAdmin)
	order := `{"event":"new_order","order":{"id":"5512","customer":{"customer_no":"10001"},"rows":[]}}`
	post := func(body, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/vendre", strings.NewReader(body))
		req.Header.Set("X-Webhook-Token", token)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name, body, token string
		status            int
		want              string
	}{
		{"wrong token", order, "x", http.StatusUnauthorized, `"unauthorized"`},
		{"recorded", order, vendreToken, http.StatusAccepted, `"recorded"`},
		{"again", order, vendreToken, http.StatusAccepted, `"duplicate"`},
		{"other event", `{"event":"new_customer"}`, vendreToken, http.StatusAccepted, `"ignored"`},
		{"not JSON", `nope`, vendreToken, http.StatusBadRequest, `"invalid_request"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := post(tt.body, tt.token); rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("POST /webhooks/vendre = %d %s, want %d with %s", rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
	if _, ok, _ := op.Lookup(context.Background(), "V-5512"); !ok {
		t.Error("order V-5512 not recorded")
	}

	admin := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if rec := admin(http.MethodGet, "/admin/pushers", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /admin/pushers without token = %d, want 401", rec.Code)
	}
	rec := admin(http.MethodGet, "/admin/pushers", testAdmin)
	var got struct {
		Pushers []map[string]any `json:"pushers"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got.Pushers) != 2 {
		t.Fatalf("GET /admin/pushers = %d %s", rec.Code, rec.Body)
	}
	if p := got.Pushers[0]; p["name"] != "orders" || p["backlog"] != float64(1) || p["state"] != "off" {
		t.Errorf("orders pusher = %v, want backlog 1, state off (not running here)", p)
	}
	if rec := admin(http.MethodPost, "/admin/pushers/orders/replay", testAdmin); rec.Code != http.StatusAccepted {
		t.Errorf("replay orders = %d %s, want 202", rec.Code, rec.Body)
	}
	if rec := admin(http.MethodPost, "/admin/pushers/nope/replay", testAdmin); rec.Code != http.StatusNotFound {
		t.Errorf("replay of an unknown pusher = %d, want 404", rec.Code)
	}
}
