package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

var (
	start = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	kind  = cache.Kind{Name: "orders", TTL: time.Minute}
)

// clock is a settable clock for build times and freshness.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// erp stands for the ERP behind a fill: it counts its calls, answers
// "{key} v{version}", and fails while err is set.
type erp struct {
	mu      sync.Mutex
	version int
	err     error
	delay   time.Duration
	calls   atomic.Int64
	asked   [][]string
}

func (e *erp) set(version int, err error) {
	e.mu.Lock()
	e.version, e.err = version, err
	e.mu.Unlock()
}

func (e *erp) fill(key string) cache.Fill {
	return func(ctx context.Context) ([]byte, error) {
		m, err := e.fillMany(ctx, []string{key})
		return m[key], err
	}
}

func (e *erp) fillMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	e.calls.Add(1)
	e.mu.Lock()
	v, err, delay := e.version, e.err, e.delay
	e.asked = append(e.asked, slices.Clone(keys))
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, k := range keys {
		out[k] = fmt.Appendf(nil, "%s v%d", k, v)
	}
	return out, nil
}

// newCache returns a cache on r (nil: Memory alone) following clk, with
// its listener running until the test ends.
func newCache(t testing.TB, r *cache.Redis, clk *clock) *cache.Cache {
	t.Helper()
	c := cache.New(cache.Config{Memory: cache.NewMemory(1 << 20), Redis: r, StaleFor: time.Hour, Budget: time.Second, Now: clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// get reads key through c and fails the test on an error.
func get(t testing.TB, c *cache.Cache, key string, e *erp) (string, cache.Outcome) {
	t.Helper()
	ent, o, err := c.Get(context.Background(), kind, key, e.fill(key))
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return string(ent.Body), o
}

// TestPolicy walks one key through its life: a miss, hits, a stale serve
// with one renewal, a miss once too old to serve, and a stale serve while
// the ERP is down.
func TestPolicy(t *testing.T) {
	clk := &clock{t: start}
	c := newCache(t, nil, clk)
	e := &erp{version: 1}
	key := keys.Order("10001", "1")
	type want struct {
		body, result string
		calls        int64
	}
	steps := []struct {
		name    string
		advance time.Duration
		version int
		err     error
		want    want
		renewed string // the body a renewal lands, "" for none
	}{
		{"cold", 0, 1, nil, want{key + " v1", cache.Miss, 1}, ""},
		{"fresh", 30 * time.Second, 2, nil, want{key + " v1", cache.Hit, 1}, ""},
		{"stale: served, renewed", 31 * time.Second, 2, nil, want{key + " v1", cache.Stale, 2}, key + " v2"},
		{"renewed", 0, 3, nil, want{key + " v2", cache.Hit, 2}, ""},
		{"too old to serve", 2 * time.Hour, 4, nil, want{key + " v4", cache.Miss, 3}, ""},
		{"stale, ERP down: served", 2 * time.Minute, 5, errors.New("down"), want{key + " v4", cache.Stale, 4}, ""},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		e.set(s.version, s.err)
		body, o := get(t, c, key, e)
		if s.want.result == cache.Stale {
			waitFor(t, s.name+": the renewal", func() bool { return e.calls.Load() == s.want.calls })
		}
		if s.renewed != "" {
			waitFor(t, s.name+": the renewal lands", func() bool {
				got, _ := c.Peek(context.Background(), kind, key)
				return string(got.Body) == s.renewed
			})
		}
		if got := (want{body, o.Result, e.calls.Load()}); got != s.want {
			t.Errorf("%s: got %+v, want %+v", s.name, got, s.want)
		}
	}
	clk.Advance(2 * time.Hour)
	if _, _, err := c.Get(context.Background(), kind, key, e.fill(key)); err == nil {
		t.Errorf("too old, ERP down: no error; want the fill's")
	}
}

// TestGetMany: parts already cached are not asked for again; stale parts
// with none missing are served, and only they are renewed.
func TestGetMany(t *testing.T) {
	clk := &clock{t: start}
	c := newCache(t, nil, clk)
	e := &erp{version: 1}
	ctx := context.Background()
	parts := func(names ...string) []string {
		var ks []string
		for _, n := range names {
			ks = append(ks, keys.Price("10001", n))
		}
		return ks
	}
	if _, o, err := c.GetMany(ctx, kind, parts("a", "b"), e.fillMany); err != nil || o.Result != cache.Miss {
		t.Fatalf("first = %+v, %v; want a miss", o, err)
	}
	clk.Advance(45 * time.Second)
	ents, o, err := c.GetMany(ctx, kind, parts("b", "c", "a"), e.fillMany)
	if err != nil || o.Result != cache.Miss || string(ents[1].Body) != keys.Price("10001", "c")+" v1" || string(ents[2].Body) != keys.Price("10001", "a")+" v1" {
		t.Fatalf("second = %q %+v, %v", ents, o, err)
	}
	clk.Advance(30 * time.Second) // a and b stale, c fresh
	if _, o, err := c.GetMany(ctx, kind, parts("a", "b", "c"), e.fillMany); err != nil || o.Result != cache.Stale {
		t.Fatalf("third = %+v, %v; want stale", o, err)
	}
	waitFor(t, "the renewal", func() bool { return e.calls.Load() == 3 })
	e.mu.Lock()
	defer e.mu.Unlock()
	if want := [][]string{parts("a", "b"), parts("c"), parts("a", "b")}; !slices.EqualFunc(e.asked, want, slices.Equal) {
		t.Errorf("asked %v, want %v", e.asked, want)
	}
}

// TestCoalescing: concurrent requests for one missing key make one fill,
// which a caller who hangs up does not cancel.
func TestCoalescing(t *testing.T) {
	c := newCache(t, nil, &clock{t: start})
	e := &erp{version: 1, delay: 50 * time.Millisecond}
	key := keys.Order("10001", "1")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := c.Get(gone, kind, key, e.fill(key)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context = %v", err)
	}
	var wg sync.WaitGroup
	var collapsed atomic.Int64
	for range 50 {
		wg.Go(func() {
			if _, o := get(t, c, key, e); o.Collapsed {
				collapsed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := e.calls.Load(); n != 1 {
		t.Errorf("%d fills, want 1", n)
	}
	if collapsed.Load() == 0 {
		t.Errorf("no request says it waited on another's fill")
	}
}

// replicas are n caches sharing the Redis behind rdb under prefix, each
// with its own Memory tier and listener.
func replicas(t *testing.T, n int, rdb redis.UniversalClient, prefix string, clk *clock) []*cache.Cache {
	var cs []*cache.Cache
	for range n {
		cs = append(cs, newCache(t, cache.NewRedis(rdb, prefix), clk))
	}
	return cs
}

// waitLive reads k on c until it is a hit from Memory: c's listener is up
// and its table stands for Redis.
func waitLive(t *testing.T, c *cache.Cache, k string, e *erp) {
	t.Helper()
	waitFor(t, "a hit from memory", func() bool {
		_, o := get(t, c, k, e)
		return o.Tier == cache.TierMemory
	})
}

// TestFlushDuringFill: an entry whose fill began before a flush is stored
// under the generations it began with, so the flush retires it too.
func TestFlushDuringFill(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	c := replicas(t, 1, rdb, prefix, &clock{t: start})[0]
	key := keys.Order("10001", "1")
	waitLive(t, c, keys.Order("10002", "1"), &erp{})
	release := make(chan struct{})
	filling := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Get(context.Background(), kind, key, func(context.Context) ([]byte, error) {
			close(filling)
			<-release
			return []byte("read before the flush"), nil
		})
	}()
	<-filling
	if _, err := c.Flush(context.Background(), cache.Customer("10001")); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	if body, o := get(t, c, key, &erp{version: 2}); o.Result != cache.Miss {
		t.Errorf("after the flush: %q %+v, want a miss", body, o)
	}
}

// waitFor polls cond until it holds, for at most 3 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTracked: an entry of a tracked kind stays fresh past its TTL while
// the change feed is confirmed within FeedLag and reaches back to before
// the entry; a Retire of its family makes it a miss, others stay.
func TestTracked(t *testing.T) {
	clk := &clock{t: start}
	c := cache.New(cache.Config{Memory: cache.NewMemory(1 << 20), StaleFor: time.Hour, Budget: time.Second,
		FeedLag: 5 * time.Minute, KeepFor: 48 * time.Hour, Now: clk.Now})
	tracked := cache.Kind{Name: "orders", TTL: time.Minute, Tracked: true}
	e := &erp{version: 1}
	ctx := context.Background()
	orders, invoices := keys.OrderList("10001", "a", "b", 1, 25), keys.InvoiceList("10001", "d", "a", "b", 1, 25)
	result := func(key string) string {
		t.Helper()
		_, o, err := c.Get(ctx, tracked, key, e.fill(key))
		if err != nil {
			t.Fatal(err)
		}
		return o.Result
	}
	confirm := func(from, through time.Time) {
		t.Helper()
		if err := c.Confirm(ctx, from, through); err != nil {
			t.Fatal(err)
		}
	}
	confirm(start.Add(-time.Minute), start)
	result(orders)
	result(invoices)
	steps := []struct {
		name string
		do   func()
		key  string
		want string
	}{
		{"past its TTL, the feed current", func() { clk.Advance(4 * time.Minute) }, orders, cache.Hit},
		{"the feed kept up", func() {
			clk.Advance(3 * time.Minute)
			confirm(c.Confirmed().Add(-time.Minute), clk.Now()) // a sweep from the last one's start
		}, orders, cache.Hit},
		{"its family retired", func() {
			if err := c.Retire(ctx, cache.Family("10001", cache.FamilyOrders)); err != nil {
				t.Fatal(err)
			}
		}, orders, cache.Miss},
		{"another family of the customer", func() {}, invoices, cache.Hit},
		{"the feed behind", func() { clk.Advance(6 * time.Minute) }, invoices, cache.Stale},
		{"a feed that starts after the entry", func() {
			clk.Advance(time.Hour)
			confirm(clk.Now().Add(-time.Minute), clk.Now())
		}, invoices, cache.Stale},
	}
	for _, s := range steps {
		s.do()
		if got := result(s.key); got != s.want {
			t.Errorf("%s: %s, want %s", s.name, got, s.want)
		}
	}
}

// TestFlushFamilies: a customer flush retires every family of the
// customer and counts what it retired; other customers stay.
func TestFlushFamilies(t *testing.T) {
	c := newCache(t, nil, &clock{t: start})
	e := &erp{version: 1}
	mine := []string{keys.Order("10001", "1"), keys.Invoice("10001", "d", "2"), keys.Addresses("10001"), keys.Price("10001", "P")}
	other := keys.Order("10002", "1")
	for _, k := range append(mine, other) {
		get(t, c, k, e)
	}
	if n, err := c.Flush(context.Background(), cache.Customer("10001")); err != nil || n != len(mine) {
		t.Errorf("Flush = %d, %v; want %d", n, err, len(mine))
	}
	for _, k := range mine {
		if _, o := get(t, c, k, e); o.Result != cache.Miss {
			t.Errorf("%s after the flush: %s, want a miss", k, o.Result)
		}
	}
	if _, o := get(t, c, other, e); o.Result != cache.Hit {
		t.Errorf("another customer after the flush: %s, want a hit", o.Result)
	}
}

// TestFeedShared: a feed one replica confirms, the other learns from
// Redis, at once when it asks (Feed) and within a second when it does not.
func TestFeedShared(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	clk := &clock{t: start}
	cs := replicas(t, 2, rdb, prefix, clk)
	ctx := context.Background()
	if f, err := cs[1].Feed(ctx); err != nil || !f.Through.IsZero() {
		t.Fatalf("Feed before any = %+v, %v; want none", f, err)
	}
	if err := cs[0].Confirm(ctx, start.Add(-time.Minute), start); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B learns the feed", func() bool { return cs[1].Confirmed().Equal(start) })
	// A later sweep that overlaps extends it; one with a gap starts anew.
	cs[1].Confirm(ctx, start.Add(-10*time.Second), start.Add(5*time.Minute))
	if f, _ := cs[0].Feed(ctx); !f.From.Equal(start.Add(-time.Minute)) || !f.Through.Equal(start.Add(5*time.Minute)) {
		t.Errorf("after an overlapping sweep: %+v", f)
	}
	cs[1].Confirm(ctx, start.Add(time.Hour), start.Add(time.Hour+time.Minute))
	if f, _ := cs[0].Feed(ctx); !f.From.Equal(start.Add(time.Hour)) {
		t.Errorf("after a sweep with a gap: %+v, want it to start anew", f)
	}
}
