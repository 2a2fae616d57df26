package cache_test

import (
	"context"
	"fmt"
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
	}{
		{"restart without persistence", func(t *testing.T, srv *cachetest.Server) { srv.Restart(t) }},
		{"FLUSHALL", func(t *testing.T, srv *cachetest.Server) {
			if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, a, b, e, key := warmPair(t)
			tt.lose(t, srv)
			n, err := a.Flush(context.Background(), cache.Customer("10001"))
			if err != nil || n < 1 {
				t.Errorf("Flush after the loss = %d, %v; want at least 1 (both replicas held the answer)", n, err)
			}
			e.set(2, nil)
			if body, _ := get(t, a, key, e); body != key+" v2" {
				t.Errorf("A after the flush: %q, want v2", body)
			}
			servesOnly(t, b, key, e, key+" v2", time.Second)

			// The replicas share entries again: what A fills, B finds.
			i := 1
			waitFor(t, "B finds what A filled", func() bool {
				i++
				fresh := keys.Order("10001", fmt.Sprint(i))
				get(t, a, fresh, e)
				calls := e.calls.Load()
				_, o := get(t, b, fresh, e)
				return o.Result == cache.Hit && e.calls.Load() == calls
			})
		})
	}
}

// servesOnly checks that c serves want for key within flushLag, the time
// a replica takes to hear of a flush (a notice, or its subscription
// breaking), and nothing else for the rest of d.
func servesOnly(t *testing.T, c *cache.Cache, key string, e *erp, want string, d time.Duration) {
	t.Helper()
	const flushLag = 250 * time.Millisecond
	start := time.Now()
	heard := false
	for time.Since(start) < d {
		body, _ := get(t, c, key, e)
		switch {
		case body == want && !heard:
			heard = true
			t.Logf("the replica served the flushed answer's successor after %v", time.Since(start))
		case body != want && (heard || time.Since(start) > flushLag):
			t.Fatalf("after %v the replica served %q, want %q", time.Since(start), body, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// warmPair starts two replicas on a redis-server of the test's own, both
// holding one answer of customer 10001 in Memory (key, filled by e).
func warmPair(t *testing.T) (srv *cachetest.Server, a, b *cache.Cache, e *erp, key string) {
	t.Helper()
	srv = cachetest.StartServer(t)
	cs := replicas(t, 2, srv.Client(t), "", &clock{t: start})
	a, b = cs[0], cs[1]
	e = &erp{version: 1}
	key = keys.Order("10001", "1")
	// A flush before, so that the answer carries a generation other than
	// the first: counters restarting at 0 would reach it again.
	if _, err := a.Flush(context.Background(), cache.Customer("10001")); err != nil {
		t.Fatal(err)
	}
	get(t, a, key, e)
	waitLive(t, b, key, e)
	waitLive(t, a, key, e)
	return srv, a, b, e, key
}

// TestMissedNoticeDuringLoss: Redis restarts, and a flush comes before
// replica B has subscribed again, so B never hears it. B must stop
// serving the flushed answer as soon as it sees its subscription break,
// and never serve it again.
func TestMissedNoticeDuringLoss(t *testing.T) {
	srv, a, b, e, key := warmPair(t)
	srv.Restart(t)
	// At once: B waits at least 50 ms before it subscribes again.
	if _, err := a.Flush(context.Background(), cache.Customer("10001")); err != nil {
		t.Fatal(err)
	}
	e.set(2, nil)
	servesOnly(t, b, key, e, key+" v2", 1500*time.Millisecond) // past B's next check
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
