package erpguard_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/ratelimit"
)

// budgets runs f once with the budget in process and once in Redis.
func budgets(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient, prefix string)) {
	t.Run("local", func(t *testing.T) { f(t, nil, "") })
	t.Run("redis", func(t *testing.T) {
		rdb, prefix := cachetest.Redis(t)
		if rdb == nil {
			return
		}
		f(t, rdb, prefix)
	})
}

// refused is how long a call that the budget should refuse may take: far
// less than the one-minute windows below, so a call over the budget fails
// at once (its wait would end past the deadline), and far more than an
// allowed call's round trip on a loaded machine (race detector, shared
// cores), so an allowed call is never cut short and miscounted.
const refused = 5 * time.Second

// calls makes n calls of class for key, each allowed to wait wait, and
// returns how many the ERP answered.
func calls(c *erp.Client, order string, n int, class erp.Class, key string, wait time.Duration) int {
	ok := 0
	for range n {
		ctx, cancel := context.WithTimeout(erp.WithShare(erp.WithClass(context.Background(), class), key), wait)
		if _, err := c.Order(ctx, order); err == nil {
			ok++
		}
		cancel()
	}
	return ok
}

func TestInteractiveDoesNotQueueBehindBackground(t *testing.T) {
	budgets(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		// 20 a minute: a reserve of 4, background stops at 20-4-2 = 14.
		cfg := erpguard.Config{Limit: ratelimit.Limit{N: 20, Per: time.Minute}, Redis: rdb, KeyPrefix: prefix}
		sim, _, c, order := setup(t, cfg, erp.Config{MaxRetries: -1})
		sim.ResetCalls()
		if got := calls(c, order, 30, erp.Background, "", refused); got != 14 {
			t.Errorf("background got %d calls, want 14 (the reserve and refresh's margin left free)", got)
		}
		// Had they to wait behind background, they would wait for the
		// window (a minute) and fail at their deadline.
		if got := calls(c, order, 6, erp.Interactive, "", refused); got != 6 {
			t.Errorf("interactive got %d of 6 calls after background filled its part", got)
		}
		if got := calls(c, order, 1, erp.Interactive, "", refused); got != 0 {
			t.Errorf("a 21st call in the window passed")
		}
		if n := sim.Calls(extendsim.OpOrder); n != 20 {
			t.Errorf("the ERP got %d calls, want 20", n)
		}
	})
}

func TestBackgroundFloor(t *testing.T) {
	budgets(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		// 20 a minute, floor 20 %: background may always have 4.
		cfg := erpguard.Config{Limit: ratelimit.Limit{N: 20, Per: time.Minute}, Floor: 0.2, Redis: rdb, KeyPrefix: prefix}
		_, _, c, order := setup(t, cfg, erp.Config{MaxRetries: -1})
		if got := calls(c, order, 1, erp.Background, "", refused); got != 1 {
			t.Fatalf("background's first call did not pass")
		}
		// Customers keep the ERP busy; background's unused floor stays free.
		if got := calls(c, order, 30, erp.Interactive, "", refused); got != 16 {
			t.Errorf("interactive got %d calls, want 16 (20, less background's 1 and the 3 left of its floor)", got)
		}
		if got := calls(c, order, 5, erp.Background, "", refused); got != 3 {
			t.Errorf("background got %d more calls, want the 3 left of its floor", got)
		}
	})
}

func TestRefreshBeforeBackground(t *testing.T) {
	budgets(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		cfg := erpguard.Config{Limit: ratelimit.Limit{N: 20, Per: time.Minute}, Redis: rdb, KeyPrefix: prefix}
		_, _, c, order := setup(t, cfg, erp.Config{MaxRetries: -1})
		calls(c, order, 30, erp.Background, "", refused)
		if got := calls(c, order, 5, erp.Refresh, "", refused); got != 2 {
			t.Errorf("refresh got %d calls after background stopped, want 2 (up to the interactive reserve)", got)
		}
	})
}

func TestFairShares(t *testing.T) {
	budgets(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		cfg := erpguard.Config{Limit: ratelimit.Limit{N: 20, Per: time.Minute}, Redis: rdb, KeyPrefix: prefix}
		_, _, c, order := setup(t, cfg, erp.Config{MaxRetries: -1})
		// One download link in a loop takes half the window at most ...
		if got := calls(c, order, 40, erp.Interactive, "document:x", refused); got != 10 {
			t.Errorf("one key alone got %d calls, want 10 (half of 20)", got)
		}
		// ... so the next customers find budget at once.
		for _, key := range []string{"customer:1", "customer:2"} {
			if got := calls(c, order, 3, erp.Interactive, key, refused); got != 3 {
				t.Errorf("%s got %d of 3 calls", key, got)
			}
		}
		if got := calls(c, order, 5, erp.Interactive, "document:x", refused); got != 0 {
			t.Errorf("the looping key got %d more calls while others spend", got)
		}
	})
}

// throttler answers every call 429 with a Retry-After of about 31 years.
func throttler(t *testing.T) (*httptest.Server, func() int) {
	var n int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n++
		w.Header().Set("Retry-After", "999999999")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	t.Cleanup(ts.Close)
	return ts, func() int { return n }
}

func TestPauseIsCappedAndResumedEverywhere(t *testing.T) {
	budgets(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ts, _ := throttler(t)
		u, _ := url.Parse(ts.URL)
		cfg := erpguard.Config{Host: u.Host, Redis: rdb, KeyPrefix: prefix, MaxPause: 2 * time.Minute}
		g1 := erpguard.New(http.DefaultTransport, cfg)
		g2 := erpguard.New(http.DefaultTransport, cfg)
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/CustomerOrders/1", nil)
		res, err := g1.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		p := g1.Paused(context.Background())
		if d := p[erp.RateGroupSales]; d <= time.Minute || d > 2*time.Minute {
			t.Errorf("Paused() = %v, want the sales group paused for at most EXTEND_MAX_PAUSE (2m)", p)
		}
		if rdb != nil {
			if d := g2.Paused(context.Background())[erp.RateGroupSales]; d <= time.Minute {
				t.Errorf("the other replica's Paused() = %v, want the same pause", d)
			}
		}
		if err := g2.Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
		check := []*erpguard.Guard{g2}
		if rdb != nil {
			check = append(check, g1) // lifted on the replica that paused too
		}
		for i, g := range check {
			if p := g.Paused(context.Background()); len(p) != 0 {
				t.Errorf("replica %d: Paused() = %v after Resume, want none", i, p)
			}
		}
	})
}

func TestRedisDownKeepsAShareOfTheBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every Redis call fails
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	cfg := erpguard.Config{Limit: ratelimit.Limit{N: 10, Per: time.Minute}, Redis: rdb, KeyPrefix: "x:"}
	sim, _, c, order := setup(t, cfg, erp.Config{MaxRetries: -1})
	sim.ResetCalls()
	got := calls(c, order, 20, erp.Interactive, "", refused)
	if got != 10 {
		t.Errorf("with Redis down %d calls passed, want the replica's own limit, 10", got)
	}
}

// TestWaitingForBudgetIsNotAnERPTimeout: a background call may wait for
// budget longer than one attempt may last; the attempt's timeout starts
// when the guard sends it.
func TestWaitingForBudgetIsNotAnERPTimeout(t *testing.T) {
	// The window (1s) is four attempt timeouts long, and an attempt's
	// timeout (250ms) is well above a loaded machine's round trip.
	cfg := erpguard.Config{Limit: ratelimit.Limit{N: 10, Per: time.Second}}
	_, g, c, order := setup(t, cfg, erp.Config{MaxRetries: -1, CallTimeout: 250 * time.Millisecond})
	ctx := erp.WithClass(context.Background(), erp.Background)
	for i := range 12 {
		if _, err := c.Order(ctx, order); err != nil {
			t.Fatalf("background call %d: %v", i, err)
		}
	}
	if g.Stats().LimitWaits.Load() == 0 {
		t.Error("no call waited for budget: the test proves nothing")
	}
}
