package cache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// TestFlushThroughDataLoss: two replicas warm an answer; Redis loses its
// data; a flush on one replica must then reach both (no replica serves
// the flushed answer), count what it retired, and leave the replicas
// sharing entries again. Each case runs on a redis-server of its own.
func TestFlushThroughDataLoss(t *testing.T) {
	tests := []struct {
		name string
		lose func(t *testing.T, srv *cachetest.Server)
		// notice: B may serve the flushed answer until it hears the
		// flush's notice (as after any flush); otherwise not even that,
		// since the loss broke its subscription.
		notice bool
	}{
		{"restart without persistence", func(t *testing.T, srv *cachetest.Server) { srv.Restart(t) }, false},
		{"FLUSHALL", func(t *testing.T, srv *cachetest.Server) {
			if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := cachetest.StartServer(t)
			clk := &clock{t: start}
			cs := replicas(t, 2, srv.Client(t), "", clk)
			a, b := cs[0], cs[1]
			e := &erp{version: 1}
			key := keys.Order("10001", "1")
			// A flush before, so that the answers carry a generation other
			// than the first: counters restarting at 0 would reach it again.
			if _, err := a.Flush(context.Background(), cache.Customer("10001")); err != nil {
				t.Fatal(err)
			}
			get(t, a, key, e)
			waitLive(t, b, key, e)
			waitLive(t, a, key, e)

			tt.lose(t, srv)
			n, err := a.Flush(context.Background(), cache.Customer("10001"))
			if err != nil || n < 1 {
				t.Errorf("Flush after the loss = %d, %v; want at least 1 (both replicas held the answer)", n, err)
			}
			e.set(2, nil)
			if body, _ := get(t, a, key, e); body != key+" v2" {
				t.Errorf("A after the flush: %q, want v2", body)
			}
			if tt.notice {
				start := time.Now()
				waitFor(t, "B hears of the flush", func() bool {
					body, _ := get(t, b, key, e)
					return body == key+" v2"
				})
				t.Logf("B heard of the flush after %v", time.Since(start))
			} else if body, _ := get(t, b, key, e); body != key+" v2" {
				t.Errorf("B after the flush: %q, want v2", body)
			}

			// The replicas share entries again: what A fills, B finds.
			calls := e.calls.Load()
			fresh := keys.Order("10001", "2")
			get(t, a, fresh, e)
			if _, o := get(t, b, fresh, e); o.Result != cache.Hit || e.calls.Load() != calls+1 {
				t.Errorf("B read of what A filled after the loss: %+v, %d fills; want a hit and 1 fill", o, e.calls.Load()-calls)
			}
		})
	}
}

// TestMissedNoticeDuringLoss: Redis restarts, and a flush comes before
// replica B has subscribed again, so B never hears it. B must not serve
// the flushed answer, neither at once nor later.
func TestMissedNoticeDuringLoss(t *testing.T) {
	srv := cachetest.StartServer(t)
	clk := &clock{t: start}
	cs := replicas(t, 2, srv.Client(t), "", clk)
	a, b := cs[0], cs[1]
	e := &erp{version: 1}
	key := keys.Order("10001", "1")
	if _, err := a.Flush(context.Background(), cache.Customer("10001")); err != nil {
		t.Fatal(err)
	}
	get(t, a, key, e)
	waitLive(t, b, key, e)

	srv.Restart(t)
	// At once: B waits at least 50 ms before it subscribes again.
	if _, err := a.Flush(context.Background(), cache.Customer("10001")); err != nil {
		t.Fatal(err)
	}
	e.set(2, nil)
	deadline := time.Now().Add(1500 * time.Millisecond) // past B's next check
	for time.Now().Before(deadline) {
		if body, _ := get(t, b, key, e); body != key+" v2" {
			t.Fatalf("B served %q after the flush, want v2", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisHealth: the one notion of Redis being down follows a Redis
// that stops and comes back, with no request made (the heartbeat), and
// meanwhile the cache answers from Memory and its fills.
func TestRedisHealth(t *testing.T) {
	srv := cachetest.StartServer(t)
	c := replicas(t, 1, srv.Client(t), "", &clock{t: start})[0]
	e := &erp{version: 1}
	key := keys.Order("10001", "1")
	get(t, c, key, e)
	waitLive(t, c, key, e)
	if c.RedisDown() {
		t.Fatal("RedisDown with Redis up")
	}
	srv.Stop(t)
	waitFor(t, "RedisDown", c.RedisDown)
	if _, o := get(t, c, key, e); o.Result != cache.Hit || o.Tier != cache.TierMemory {
		t.Errorf("warm key with Redis down: %+v, want a hit from memory", o)
	}
	t0 := time.Now()
	if body, o := get(t, c, keys.Order("10002", "1"), e); o.Result != cache.Miss || !strings.HasSuffix(body, "v1") {
		t.Errorf("cold key with Redis down: %q %+v, want a miss filled", body, o)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Errorf("cold key with Redis down took %v: Redis should be left alone", d)
	}
	if _, err := c.Flush(context.Background(), cache.Customer("10001")); err == nil {
		t.Errorf("Flush with Redis down: no error")
	}
	srv.Start(t)
	waitFor(t, "Redis back", func() bool { return !c.RedisDown() })
}
