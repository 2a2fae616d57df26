package erpguard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/ratelimit"
)

// setup returns a simulated Extend Commerce, a Guard in front of it with
// cfg, and the production erp client using the Guard.
func setup(t *testing.T, cfg erpguard.Config, ecfg erp.Config) (*extendsim.Server, *erpguard.Guard, *erp.Client, string) {
	t.Helper()
	sim := extendsim.New(extendsim.Options{Customers: 2})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	if cfg.Host == "" {
		cfg.Host = u.Host
	}
	var g *erpguard.Guard
	ecfg.HTTPClient = erp.NewHTTPClient()
	g = erpguard.New(ecfg.HTTPClient.Transport, cfg)
	ecfg.HTTPClient.Transport = g
	ecfg.BaseURL, ecfg.ClientID, ecfg.ClientSecret = ts.URL, extendsim.DefaultClientID, extendsim.DefaultClientSecret
	c, err := erp.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	// One call to fetch the token, so counts below are API calls only.
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sim, g, c, sim.Cases().RegisteredOrder
}

func TestBreakerOpensOnServerErrorsAndFailsFast(t *testing.T) {
	sim, g, c, order := setup(t, erpguard.Config{Failures: 3, OpenFor: 100 * time.Millisecond}, erp.Config{MaxRetries: -1})
	sim.SetFailing(http.StatusServiceUnavailable)
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.Order(ctx, order); !errors.Is(err, erp.ErrUnavailable) {
			t.Fatalf("call %d: err = %v, want ErrUnavailable", i, err)
		}
	}
	if !g.Open() {
		t.Fatalf("after 3 failures the circuit is %s, want open", g.State())
	}
	before := sim.Calls(extendsim.OpOrder)
	start := time.Now()
	_, err := c.Order(ctx, order)
	if !errors.Is(err, erp.ErrUnavailable) || !errors.Is(err, erpguard.ErrCircuitOpen) {
		t.Fatalf("open circuit: err = %v, want ErrUnavailable and ErrCircuitOpen", err)
	}
	var ee *erp.Error
	if !errors.As(err, &ee) || ee.RetryAfter <= 0 {
		t.Errorf("open circuit: err = %v, want a RetryAfter", err)
	}
	t.Logf("refusal took %v", time.Since(start)) // fast: no ERP call, checked below
	if n := sim.Calls(extendsim.OpOrder) - before; n != 0 {
		t.Errorf("the ERP got %d calls through an open circuit", n)
	}

	// Recovery: after OpenFor one probe goes through and closes it.
	sim.ResetFaults()
	time.Sleep(120 * time.Millisecond)
	if g.Open() {
		t.Fatalf("circuit still open after OpenFor")
	}
	if _, err := c.Order(ctx, order); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if g.State() != "closed" {
		t.Errorf("after a good probe the circuit is %s, want closed", g.State())
	}
}

func TestBreakerIgnoresNotFoundAndThrottling(t *testing.T) {
	sim, g, c, _ := setup(t, erpguard.Config{Failures: 2, Limit: ratelimit.Limit{N: -1}}, erp.Config{MaxRetries: -1})
	ctx := context.Background()
	for range 10 {
		if _, err := c.Order(ctx, "does-not-exist"); !errors.Is(err, erp.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	sim.FailNext(5, http.StatusTooManyRequests)
	for range 5 {
		_, _ = c.Order(context.Background(), "does-not-exist")
	}
	if g.State() != "closed" {
		t.Errorf("after 404s and 429s the circuit is %s, want closed", g.State())
	}
}

func TestBreakerOpensOnTimeouts(t *testing.T) {
	// The call timeout is well above a loaded machine's token round trip
	// (setup's Ping must pass) and far below the ERP's latency.
	sim, g, c, order := setup(t, erpguard.Config{Failures: 2, OpenFor: time.Minute}, erp.Config{MaxRetries: -1, CallTimeout: 300 * time.Millisecond})
	sim.SetLatency(5 * time.Second)
	for range 2 {
		if _, err := c.Order(context.Background(), order); !errors.Is(err, erp.ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	}
	if !g.Open() {
		t.Errorf("after 2 timeouts the circuit is %s, want open", g.State())
	}
}

func TestCallerHangingUpIsNotAFailure(t *testing.T) {
	sim, g, c, order := setup(t, erpguard.Config{Failures: 1}, erp.Config{MaxRetries: -1})
	sim.SetLatency(200 * time.Millisecond)
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		_, _ = c.Order(ctx, order)
	}
	if g.State() != "closed" {
		t.Errorf("after callers hung up the circuit is %s, want closed", g.State())
	}
}

func TestRateLimitPerGroup(t *testing.T) {
	limit := ratelimit.Limit{N: 10, Per: time.Minute}
	sim, g, c, order := setup(t, erpguard.Config{Limit: limit, MaxConcurrent: 64}, erp.Config{MaxRetries: -1})
	sim.ResetCalls()
	var throttled atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), refused)
			defer cancel()
			_, err := c.Order(ctx, order)
			if errors.Is(err, erp.ErrThrottled) && errors.Is(err, erpguard.ErrRateLimited) {
				throttled.Add(1)
			}
		})
	}
	wg.Wait()
	if n := sim.Calls(extendsim.OpOrder); n > limit.N {
		t.Errorf("the ERP got %d calls, want at most %d", n, limit.N)
	}
	if throttled.Load() < 25 {
		t.Errorf("%d calls refused as throttled, want the rest (>= 25)", throttled.Load())
	}
	// Another group has its own budget.
	ctx, cancel := context.WithTimeout(context.Background(), refused)
	defer cancel()
	if _, err := c.ProductAvailability(ctx, nil, "", time.Time{}, 1, 10); err != nil {
		t.Errorf("products group: %v", err)
	}
	if g.Stats().RefusedLimit.Load() == 0 {
		t.Error("Stats().RefusedLimit = 0")
	}
}

func TestRateLimitSharedThroughRedis(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	if rdb == nil {
		return
	}
	limit := ratelimit.Limit{N: 10, Per: time.Minute}
	cfg := erpguard.Config{Limit: limit, Redis: rdb, KeyPrefix: prefix}
	sim, _, c1, order := setup(t, cfg, erp.Config{MaxRetries: -1})
	// A second replica: its own Guard and client, the same ERP and Redis.
	hc := erp.NewHTTPClient()
	hc.Transport = erpguard.New(hc.Transport, cfg)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	c2, _ := erp.New(erp.Config{BaseURL: ts.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret, HTTPClient: hc, MaxRetries: -1})
	_ = c2.Ping(context.Background())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, "rate:"+prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	sim.ResetCalls()
	for i := range 30 {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		ctx, cancel := context.WithTimeout(context.Background(), refused)
		_, _ = c.Order(ctx, order)
		cancel()
	}
	if n := sim.Calls(extendsim.OpOrder); n > limit.N {
		t.Errorf("two replicas made %d calls together, want at most %d", n, limit.N)
	}
}

func TestThrottlingPausesTheGroup(t *testing.T) {
	sim, _, c, order := setup(t, erpguard.Config{}, erp.Config{MaxRetries: -1})
	sim.FailNext(1, http.StatusTooManyRequests) // Retry-After: 1
	if _, err := c.Order(context.Background(), order); !errors.Is(err, erp.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	sim.ResetCalls()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Order(ctx, order)
	var ee *erp.Error
	if !errors.Is(err, erpguard.ErrRateLimited) || !errors.As(err, &ee) || ee.RetryAfter <= 0 {
		t.Fatalf("during the pause err = %v, want ErrRateLimited with a RetryAfter", err)
	}
	if n := sim.Calls(extendsim.OpOrder); n != 0 {
		t.Errorf("the ERP got %d calls while it asked us to wait", n)
	}
	// With a budget that covers the pause, the call waits and succeeds.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	if _, err := c.Order(ctx2, order); err != nil {
		t.Errorf("after the pause: %v", err)
	}
}

func TestBulkhead(t *testing.T) {
	sim, g, c, order := setup(t, erpguard.Config{MaxConcurrent: 2, QueueWait: 10 * time.Millisecond, Limit: ratelimit.Limit{N: -1}}, erp.Config{MaxRetries: -1})
	sim.SetLatency(100 * time.Millisecond)
	var busy atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 10 {
		wg.Go(func() {
			_, err := c.Order(context.Background(), order)
			if errors.Is(err, erpguard.ErrBulkheadFull) && errors.Is(err, erp.ErrUnavailable) {
				busy.Add(1)
			}
		})
	}
	wg.Wait()
	if busy.Load() != 8 {
		t.Errorf("%d calls refused as busy, want 8 (2 in flight, the rest fast)", busy.Load())
	}
	// Refused, not queued: a queued call would have got a slot after the
	// first two (100 ms) and been counted as sent below.
	t.Logf("10 calls took %v", time.Since(start))
	if g.Stats().Sent.Load() != 3 { // the token call and the two orders
		t.Errorf("Sent = %d, want 3", g.Stats().Sent.Load())
	}
}

func TestOnlyTheERPHost(t *testing.T) {
	_, _, c, _ := setup(t, erpguard.Config{}, erp.Config{})
	hc := erp.NewHTTPClient()
	hc.Transport = erpguard.New(hc.Transport, erpguard.Config{Host: "erp.example.test"})
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a request reached a host that is not the ERP")
	}))
	defer other.Close()
	_, err := hc.Get(other.URL)
	if !errors.Is(err, erpguard.ErrHostNotAllowed) {
		t.Errorf("err = %v, want ErrHostNotAllowed", err)
	}
	_ = c
}

// TestBudgetBoundsRetries: however many retries are configured, one call
// ends by its context's deadline (EXTEND_TIMEOUT for a Vendre request).
func TestBudgetBoundsRetries(t *testing.T) {
	sim, _, c, order := setup(t, erpguard.Config{Failures: 1000}, erp.Config{MaxRetries: 50, CallTimeout: time.Second})
	sim.SetFailing(http.StatusBadGateway)
	sim.SetLatency(30 * time.Millisecond)
	budget := 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	_, err := c.Order(ctx, order)
	if err == nil {
		t.Fatal("want an error")
	}
	// 50 retries of a 30 ms failure with backoff between them would take
	// seconds; a second's margin keeps a loaded machine from failing this.
	if d := time.Since(start); d > budget+time.Second {
		t.Errorf("call took %v, budget %v", d, budget)
	}
}
