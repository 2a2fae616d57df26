package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/erpguard"
)

// expectError checks an error answer's status and code.
func expectError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status || decode[api.Error](t, rec).Error.Code != code {
		t.Errorf("answer = %d %s, want %d %s", rec.Code, rec.Body, status, code)
	}
}

func TestERPDown(t *testing.T) {
	ev := newEnv(t)
	warm := "/v1/orders?customer_no=10001"
	first := ev.get(t, warm)
	if first.Code != 200 {
		t.Fatalf("warm-up = %d", first.Code)
	}
	ev.sim.SetFailing(http.StatusServiceUnavailable)

	// A key never seen: 503.
	rec := ev.get(t, "/v1/invoices?customer_no=10001")
	expectError(t, rec, 503, "unavailable")

	// A cached key, still fresh: HIT, the ERP not asked.
	if got := ev.get(t, warm).Header().Get("X-Cache"); got != "HIT" {
		t.Errorf("fresh key while ERP down: X-Cache = %q, want HIT", got)
	}
	// Past its freshness: the stale answer, at once.
	ev.clock.Advance(2 * time.Minute)
	rec = ev.get(t, warm)
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "STALE" || rec.Body.String() != first.Body.String() {
		t.Errorf("stale key while ERP down = %d X-Cache %q, want 200 STALE with the cached body", rec.Code, rec.Header().Get("X-Cache"))
	}
	// Past the stale window: nothing usable, 503.
	ev.clock.Advance(25 * time.Hour)
	rec = ev.get(t, warm)
	expectError(t, rec, 503, "unavailable")
}

func TestERPThrottling(t *testing.T) {
	ev := newEnv(t, withBudget(300*time.Millisecond))
	ev.sim.SetFailing(http.StatusTooManyRequests)
	rec := ev.get(t, "/v1/orders?customer_no=10001")
	expectError(t, rec, 503, "unavailable")
	if rec.Header().Get("Retry-After") == "" {
		t.Errorf("throttled 503 has no Retry-After")
	}
}

func TestERPSlow(t *testing.T) {
	ev := newEnv(t, withBudget(200*time.Millisecond))
	ev.sim.SetLatency(time.Second)
	rec := ev.get(t, "/v1/orders/"+ev.sim.Cases().DeliveredOrder+"?customer_no=10001")
	expectError(t, rec, 504, "timeout")
}

func TestERPGarbage(t *testing.T) {
	ev := newEnv(t)
	n := ev.sim.Cases().DeliveredOrder
	ev.sim.SetGarbage(n)
	rec := ev.get(t, "/v1/orders/"+n+"?customer_no=10001")
	expectError(t, rec, 502, "bad_gateway")
}

// TestSchemaFailure: an answer that fails its schema is a 502 and is never
// cached.
func TestSchemaFailure(t *testing.T) {
	ev := newEnv(t)
	o, _ := ev.sim.Order(ev.sim.Cases().DeliveredOrder)
	o.Status = "Teleported" // no such status: "teleported" fails the enum
	ev.sim.SetOrder(o)
	target := "/v1/orders?customer_no=10001&per_page=100"
	for i := 0; i < 2; i++ {
		rec := ev.get(t, target)
		expectError(t, rec, 502, "bad_gateway")
	}
	if got := ev.sim.Calls(extendsim.OpOrderList); got != 2 {
		t.Errorf("ERP order list calls = %d, want 2 (a failing answer is not cached)", got)
	}
}

// TestCoalescing: concurrent cold requests for one key make one ERP fetch.
func TestCoalescing(t *testing.T) {
	ev := newEnv(t)
	ev.sim.SetLatency(100 * time.Millisecond)
	target := "/v1/orders/" + ev.sim.Cases().MultiVATOrder + "?customer_no=10001"
	ev.getAll(t, target, 50)
	if got := ev.sim.Calls(extendsim.OpOrder); got != 1 {
		t.Errorf("ERP order calls = %d, want 1", got)
	}
}

// TestStaleWhileRevalidate: past freshness the old answer is served at once
// and one background refresh brings the new one.
func TestStaleWhileRevalidate(t *testing.T) {
	ev := newEnv(t)
	o, _ := ev.sim.Order(ev.sim.Cases().DeliveredOrder)
	target := "/v1/orders/" + o.OrderNumber + "?customer_no=10001"
	before := ev.get(t, target).Body.String()
	o.Comment = "Levereras till baksidan"
	ev.sim.SetOrder(o)
	ev.clock.Advance(6 * time.Minute)
	rec := ev.get(t, target)
	if rec.Header().Get("X-Cache") != "STALE" || rec.Body.String() != before {
		t.Fatalf("past freshness: X-Cache %q, want STALE with the old body", rec.Header().Get("X-Cache"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec = ev.get(t, target)
		if rec.Header().Get("X-Cache") == "HIT" && strings.Contains(rec.Body.String(), "baksidan") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refresh never landed: X-Cache %q body %s", rec.Header().Get("X-Cache"), rec.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecordReuse: a list refresh costs the list call and only the records
// whose ChangedAt moved.
func TestRecordReuse(t *testing.T) {
	ev := newEnv(t)
	target := "/v1/orders?customer_no=10001"
	list := decode[api.OrderList](t, ev.get(t, target))
	if len(list.Orders) < 2 {
		t.Fatalf("want a list of several orders, got %d", len(list.Orders))
	}
	ev.clock.Advance(2 * time.Minute)
	ev.sim.Touch(list.Orders[1].ID)
	ev.sim.ResetCalls()
	if _, err := ev.svc.FlushCustomer(ctx(), "10001"); err != nil {
		t.Fatal(err)
	}
	if rec := ev.get(t, target); rec.Code != 200 {
		t.Fatalf("refresh = %d", rec.Code)
	}
	if l, o := ev.sim.Calls(extendsim.OpOrderList), ev.sim.Calls(extendsim.OpOrder); l != 1 || o != 1 {
		t.Errorf("refresh made %d list and %d record calls, want 1 and 1", l, o)
	}
}

// TestReadyzERPDown: with the ERP failing, its circuit opens and /readyz
// names the ERP; once the ERP is back, the next request after the
// circuit's pause (erpguard.DefaultOpenFor) closes it, and /readyz is 200.
func TestReadyzERPDown(t *testing.T) {
	ev := newEnv(t, withGuard(), withBudget(200*time.Millisecond))
	ev.sim.SetFailing(http.StatusServiceUnavailable)
	for i := 0; i < 3; i++ {
		ev.get(t, "/v1/orders?customer_no=10001&page="+string(rune('1'+i)))
	}
	rec := ev.do(t, "GET", "/readyz", nil)
	if rec.Code != 503 || decode[api.Health](t, rec).Checks["erp"] != "down" {
		t.Errorf("readyz with ERP down = %d %s, want 503 naming erp", rec.Code, rec.Body)
	}
	ev.sim.ResetFaults()
	deadline := time.Now().Add(erpguard.DefaultOpenFor + 5*time.Second)
	for ev.get(t, "/v1/orders?customer_no=10001").Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the ERP is back, but requests still fail")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec := ev.do(t, "GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("readyz after recovery = %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestSharedRedis: a second replica on the same Redis serves what the first
// cached.
func TestSharedRedis(t *testing.T) {
	a := newEnv(t, withRedis())
	b := newEnv(t, withShared(a.redis))
	target := "/v1/invoices/" + a.sim.Cases().TwoOrdersInvoice + "?customer_no=10001"
	if got := a.get(t, target).Header().Get("X-Cache"); got != "MISS" {
		t.Fatalf("replica a X-Cache = %q, want MISS", got)
	}
	rec := b.get(t, target)
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "HIT" {
		t.Errorf("replica b = %d X-Cache %q, want 200 HIT", rec.Code, rec.Header().Get("X-Cache"))
	}
	if got := b.sim.Calls(extendsim.OpInvoice); got != 0 {
		t.Errorf("replica b made %d ERP calls, want 0", got)
	}
}

// TestRedisDown: with Redis unreachable the gateway still answers from the
// ERP, and readiness names Redis.
func TestRedisDown(t *testing.T) {
	cachetest.Redis(t) // Redis tests run only where Redis does
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	r := cache.NewRedis(rdb, "")
	ev := newEnv(t, withShared(r))
	rec := ev.get(t, "/v1/orders?customer_no=10001")
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
		t.Errorf("with Redis down = %d X-Cache %q, want 200 MISS", rec.Code, rec.Header().Get("X-Cache"))
	}
	rec = ev.do(t, "GET", "/readyz", nil)
	if rec.Code != 503 || decode[api.Health](t, rec).Checks["redis"] != "down" {
		t.Errorf("readyz = %d %s, want 503 naming redis", rec.Code, rec.Body)
	}
}
