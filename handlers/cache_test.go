package handlers_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/schemas"
)

// cluster is several gateway replicas as production runs them: each with
// its own in-process tier, all sharing one Redis (one key prefix) and one
// ERP, each running its flush listener (Service.Run).
type cluster struct {
	sim      *extendsim.Server
	clock    *clock
	rdb      redis.UniversalClient
	prefix   string
	replicas []*replica
}

type replica struct {
	e     *echo.Echo
	svc   *pull.Service
	cache *cache.Cache
}

// newCluster starts n replicas on rdb (nil: the test Redis, cachetest)
// under prefix.
func newCluster(t testing.TB, n int, rdb redis.UniversalClient, prefix string) *cluster {
	t.Helper()
	if rdb == nil {
		rdb, prefix = cachetest.Redis(t)
	}
	clk := &clock{t: testNow}
	sim := extendsim.New(extendsim.Options{ClientID: "gw", ClientSecret: secret, Now: clk.Now, Customers: 5})
	ts := newServer(t, sim)
	set, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Stockholm")
	c := &cluster{sim: sim, clock: clk, rdb: rdb, prefix: prefix}
	for range n {
		client, err := erp.New(erp.Config{BaseURL: ts, ClientID: "gw", ClientSecret: secret, CallTimeout: time.Second, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		mapper, err := mapping.New(mapping.Options{Locale: "sv-SE", Currency: "SEK", Location: loc, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		engine := cache.New(cache.Config{Memory: cache.NewMemory(16 << 20), Redis: cache.NewRedis(rdb, prefix),
			StaleFor: staleFor, Budget: 2 * time.Second, Now: clk.Now})
		svc := pull.New(client, engine, set, mapper, doclink.New(doclink.DeriveKey(secret), "https://gw.example.test", clk.Now),
			pull.Config{TTLList: ttlList, TTLDetail: ttlDetail, Budget: 2 * time.Second, Now: clk.Now}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { engine.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		e := handlers.New(handlers.Deps{Pull: svc, Redis: engine, APIKeys: []string{testKey}, AdminToken: testAdmin, Location: loc, Now: clk.Now})
		c.replicas = append(c.replicas, &replica{e: e, svc: svc, cache: engine})
	}
	return c
}

// newServer serves h on a loopback port until the test ends.
func newServer(t testing.TB, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func (r *replica) get(t testing.TB, target string) *httptest.ResponseRecorder {
	t.Helper()
	return do(r.e, http.MethodGet, target, map[string]string{"X-Api-Key": testKey})
}

func (r *replica) flush(t testing.TB, customerNo string) int {
	t.Helper()
	target := "/admin/cache/flush"
	if customerNo != "" {
		target += "?customer_no=" + customerNo
	}
	rec := do(r.e, http.MethodPost, target, map[string]string{"Authorization": "Bearer " + testAdmin})
	if rec.Code != 200 {
		t.Fatalf("flush %q = %d %s", customerNo, rec.Code, rec.Body)
	}
	var f api.Flushed
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	return f.Flushed
}

// waitFor polls cond every 5 ms until it holds or max has passed, and
// returns how long it took.
func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > max {
			t.Fatalf("%s: not within %v", what, max)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReplicaCoalescing: 200 concurrent cold requests for one answer,
// spread over two replicas, with a 50 ms ERP, make one ERP fetch per
// record in total.
func TestReplicaCoalescing(t *testing.T) {
	tests := []struct {
		name     string
		target   func(c *cluster) string
		wantList int // ERP list calls
		wantRecs func(c *cluster, body []byte) int
	}{
		{"order", func(c *cluster) string { return "/v1/orders/" + c.sim.Cases().MultiVATOrder + "?customer_no=10001" }, 0,
			func(*cluster, []byte) int { return 1 }},
		{"order list", func(*cluster) string { return "/v1/orders?customer_no=10001" }, 1,
			func(_ *cluster, body []byte) int {
				var l api.OrderList
				json.Unmarshal(body, &l)
				return len(l.Orders)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, 2, nil, "")
			// Each replica's OAuth token first, so that only the fill is timed.
			for _, r := range c.replicas {
				r.get(t, "/v1/invoices?customer_no=10002")
			}
			c.sim.ResetCalls()
			for _, r := range c.replicas {
				r.svc.Stats().Fetches.Store(0)
			}
			c.sim.SetLatency(50 * time.Millisecond)
			target := tt.target(c)
			const n = 200
			var wg sync.WaitGroup
			lat := make([]time.Duration, n)
			recs := make([]*httptest.ResponseRecorder, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					t0 := time.Now()
					recs[i] = c.replicas[i%2].get(t, target)
					lat[i] = time.Since(t0)
				})
			}
			close(start)
			wg.Wait()
			for i, rec := range recs {
				if rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
					t.Fatalf("request %d = %d X-Cache %q, want 200 MISS", i, rec.Code, rec.Header().Get("X-Cache"))
				}
			}
			wantRecs := tt.wantRecs(c, recs[0].Body.Bytes())
			if got := c.sim.Calls(extendsim.OpOrderList); got != tt.wantList {
				t.Errorf("ERP list calls = %d, want %d", got, tt.wantList)
			}
			if got := c.sim.Calls(extendsim.OpOrder); got != wantRecs {
				t.Errorf("ERP record calls = %d, want %d (one per record)", got, wantRecs)
			}
			var replicaWaits, fetches int64
			for _, r := range c.replicas {
				replicaWaits += r.svc.Stats().ReplicaWaits.Load()
				fetches += r.svc.Stats().Fetches.Load()
			}
			if fetches != 1 || replicaWaits != 1 {
				t.Errorf("fills: %d fetches and %d waits on the other replica, want 1 and 1", fetches, replicaWaits)
			}
			slices.Sort(lat)
			t.Logf("%d cold requests over 2 replicas, 50 ms ERP: p50 %v p99 %v max %v", n, lat[n/2], lat[n*99/100], lat[n-1])
			statuses := map[string]int{}
			for _, rec := range recs {
				statuses[rec.Header().Get("Cache-Status")]++
			}
			for s := range statuses {
				if !strings.HasPrefix(s, "gateway; fwd=uri-miss; fwd-status=200") {
					t.Errorf("Cache-Status %q of a cold request", s)
				}
			}
			if _, ok := statuses["gateway; fwd=uri-miss; fwd-status=200; collapsed; detail=replica"]; !ok {
				t.Errorf("no answer says it waited on the other replica: %v", statuses)
			}
		})
	}
}

// TestReplicaFlush: a flush on replica A makes the customer's next read a
// MISS on replica B too, in B's in-process tier, at once (pub/sub), while
// other customers stay HIT.
func TestReplicaFlush(t *testing.T) {
	c := newCluster(t, 2, nil, "")
	a, b := c.replicas[0], c.replicas[1]
	mine, other := "/v1/orders?customer_no=10001", "/v1/orders?customer_no=10002"
	for _, target := range []string{mine, other} {
		a.get(t, target)
		if rec := b.get(t, target); rec.Header().Get("Cache-Status") != "gateway; hit; ttl=60; detail=redis" {
			t.Fatalf("B first read: Cache-Status %q, want a hit from redis", rec.Header().Get("Cache-Status"))
		}
		if rec := b.get(t, target); rec.Header().Get("Cache-Status") != "gateway; hit; ttl=60; detail=memory" {
			t.Fatalf("B second read: Cache-Status %q, want a hit from memory", rec.Header().Get("Cache-Status"))
		}
	}
	if n := a.flush(t, "10001"); n != 1 {
		t.Errorf("flush of 10001 = %d, want 1 (one answer was written for it)", n)
	}
	// B hears of it through pub/sub, within milliseconds; until then
	// its in-process copy still serves.
	var status string
	took := waitFor(t, time.Second, "B hears of the flush", func() bool {
		status = b.get(t, mine).Header().Get("Cache-Status")
		return !strings.HasSuffix(status, "detail=memory")
	})
	t.Logf("B heard of the flush after %v", took)
	if status != "gateway; fwd=uri-miss; fwd-status=200; stored" {
		t.Errorf("B after the flush: Cache-Status %q, want a miss", status)
	}
	if got := a.get(t, mine).Header().Get("Cache-Status"); got != "gateway; hit; ttl=60; detail=redis" {
		t.Errorf("A after the flush: Cache-Status %q, want a hit on what B stored", got)
	}
	if got := b.get(t, other).Header().Get("Cache-Status"); got != "gateway; hit; ttl=60; detail=memory" {
		t.Errorf("other customer on B: Cache-Status %q, want a hit from memory", got)
	}

	// Flush-all, from B this time.
	if n := b.flush(t, ""); n < 2 {
		t.Errorf("flush-all = %d, want at least 2", n)
	}
	waitFor(t, time.Second, "A hears of the flush-all", func() bool {
		return a.get(t, other).Header().Get("X-Cache") == "MISS"
	})
}

// TestReplicaMissedNotice: a flush whose notice never came (here: a
// generation replaced in Redis behind the replicas' backs) still reaches
// every in-process tier within about a second.
func TestReplicaMissedNotice(t *testing.T) {
	c := newCluster(t, 1, nil, "")
	r := c.replicas[0]
	target := "/v1/orders?customer_no=10001"
	r.get(t, target)
	if got := r.get(t, target).Header().Get("Cache-Status"); !strings.HasSuffix(got, "detail=memory") {
		t.Fatalf("warm read: Cache-Status %q", got)
	}
	var k cache.Keys
	ctx := context.Background()
	c.rdb.Set(ctx, c.prefix+k.GenScope(k.FamilyScope("10001", cache.FamilyOrders)), "abc", 0)
	c.rdb.Incr(ctx, c.prefix+k.GenSeq())
	took := waitFor(t, 2500*time.Millisecond, "the replica notices the silent flush", func() bool {
		return r.get(t, target).Header().Get("X-Cache") == "MISS"
	})
	t.Logf("silent flush noticed after %v", took)
}

// TestHitCostsNoRedisCall: with the answer in the in-process tier, a hit
// sends nothing to Redis.
func TestHitCostsNoRedisCall(t *testing.T) {
	rdb, prefix := cachetest.Redis(t)
	var cmds atomic.Int64
	rdb.AddHook(countHook{&cmds})
	c := newCluster(t, 1, rdb, prefix)
	r := c.replicas[0]
	target := "/v1/orders/" + c.sim.Cases().MultiVATOrder + "?customer_no=10001"
	r.get(t, target)
	// Once the replica's listener is up, its table of generations stands
	// for Redis.
	waitFor(t, 2*time.Second, "a hit without a Redis call", func() bool {
		before := cmds.Load()
		r.get(t, target)
		return cmds.Load() == before
	})
	before := cmds.Load()
	for range 100 {
		if rec := r.get(t, target); rec.Header().Get("X-Cache") != "HIT" {
			t.Fatalf("X-Cache %q", rec.Header().Get("X-Cache"))
		}
	}
	if got := cmds.Load() - before; got > 0 {
		t.Errorf("100 in-process hits sent %d commands to Redis, want 0", got)
	}
}

type countHook struct{ n *atomic.Int64 }

func (countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() != "subscribe" && cmd.Name() != "ping" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestListRefreshReusesRecords: a 25-row list refreshed after one record
// changed costs one list call and one record call, also on a replica that
// never saw the records (they come from Redis).
func TestListRefreshReusesRecords(t *testing.T) {
	c := newCluster(t, 2, nil, "")
	a, b := c.replicas[0], c.replicas[1]
	target := "/v1/orders?customer_no=10001&per_page=25"
	rec := a.get(t, target)
	var list api.OrderList
	json.Unmarshal(rec.Body.Bytes(), &list)
	if len(list.Orders) != 25 {
		t.Fatalf("list = %d with %d rows, want 25: %.200s", rec.Code, len(list.Orders), rec.Body)
	}
	c.sim.Touch(list.Orders[7].ID)
	c.sim.ResetCalls()
	a.flush(t, "10001") // as the webhook of the change would
	if rec := b.get(t, target); rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("refresh on B = %d X-Cache %q, want 200 MISS", rec.Code, rec.Header().Get("X-Cache"))
	}
	if l, o := c.sim.Calls(extendsim.OpOrderList), c.sim.Calls(extendsim.OpOrder); l != 1 || o != 1 {
		t.Errorf("refresh made %d list and %d record calls, want 1 and 1", l, o)
	}
}

// TestRedisOutage stops Redis under a replica and starts it again: the
// replica keeps answering (in-process tier, then the ERP), fast, never
// with a 500; /readyz names Redis; and once Redis is back it is used
// again without a restart.
func TestRedisOutage(t *testing.T) {
	srv := cachetest.StartServer(t)
	c := newCluster(t, 2, srv.Client(t), "outage:")
	a, b := c.replicas[0], c.replicas[1]
	warm := "/v1/orders/" + c.sim.Cases().DeliveredOrder + "?customer_no=10001"
	a.get(t, warm)

	srv.Stop(t)
	if rec := a.get(t, warm); rec.Code != 200 || rec.Header().Get("Cache-Status") != "gateway; hit; ttl=300; detail=memory" {
		t.Errorf("warm key with Redis down = %d %q, want 200 and a hit from memory", rec.Code, rec.Header().Get("Cache-Status"))
	}
	for i, target := range []string{"/v1/orders?customer_no=10001", "/v1/invoices?customer_no=10001", "/v1/orders?customer_no=10002"} {
		t0 := time.Now()
		rec := a.get(t, target)
		if rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
			t.Errorf("cold key %d with Redis down = %d %s, want 200 MISS", i, rec.Code, rec.Body)
		}
		// After the first miss the circuit is open: later keys skip Redis
		// instead of waiting on it. Checked by state, not by time, so a
		// loaded machine cannot fail it; the time is logged.
		if !a.cache.RedisDown() {
			t.Errorf("cold key %d with Redis down: the circuit is not open, so the next key waits on Redis", i)
		}
		t.Logf("cold key %d with Redis down took %v", i, time.Since(t0))
	}
	if rec := a.get(t, "/v1/orders?customer_no=10001"); rec.Header().Get("X-Cache") != "HIT" {
		t.Errorf("a key filled while Redis was down is not kept in memory: X-Cache %q", rec.Header().Get("X-Cache"))
	}
	rec := do(a.e, http.MethodGet, "/readyz", nil)
	var h api.Health
	json.Unmarshal(rec.Body.Bytes(), &h)
	if rec.Code != 503 || h.Checks["redis"] != "down" {
		t.Errorf("readyz with Redis down = %d %s, want 503 naming redis", rec.Code, rec.Body)
	}
	if n := do(a.e, http.MethodPost, "/admin/cache/flush?customer_no=10001", map[string]string{"Authorization": "Bearer " + testAdmin}); n.Code != 503 {
		t.Errorf("flush with Redis down = %d %s, want 503", n.Code, n.Body)
	}

	srv.Start(t)
	page := 0
	took := waitFor(t, 3*time.Second, "Redis used again", func() bool {
		// A new key each time: what A stores in Redis, B finds there.
		page++
		fresh := "/v1/invoices?customer_no=10001&page=" + strconv.Itoa(page)
		a.get(t, fresh)
		return b.get(t, fresh).Header().Get("Cache-Status") == "gateway; hit; ttl=60; detail=redis"
	})
	t.Logf("Redis used again %v after it came back", took)
	if rec := do(a.e, http.MethodGet, "/readyz", nil); rec.Code != 200 {
		t.Errorf("readyz after Redis came back = %d %s", rec.Code, rec.Body)
	}
}

// do sends a request through e.
func do(e *echo.Echo, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// BenchmarkTwoTierHit: one order read through the whole echo stack, served
// from the in-process tier in front of Redis (no Redis call).
func BenchmarkTwoTierHit(b *testing.B) {
	rdb, prefix := cachetest.Redis(b)
	c := newCluster(b, 1, rdb, prefix)
	r := c.replicas[0]
	target := "/v1/orders/" + c.sim.Cases().MultiVATOrder + "?customer_no=10001"
	r.get(b, target)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Api-Key", testKey)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		r.e.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("X-Cache") != "HIT" {
			b.Fatalf("status %d X-Cache %q", rec.Code, rec.Header().Get("X-Cache"))
		}
	}
}

// TestWebhookRefreshAcrossDataLoss: an order changes in the ERP while Redis
// loses its data (a restart without persistence), and its webhook is
// applied on one replica after the loss: both replicas show the change, in
// the order and in the list.
func TestWebhookRefreshAcrossDataLoss(t *testing.T) {
	srv := cachetest.StartServer(t)
	c := newCluster(t, 2, srv.Client(t), "")
	a, b := c.replicas[0], c.replicas[1]
	list := "/v1/orders?customer_no=10001"
	rows := decode[api.OrderList](t, a.get(t, list)).Orders
	if len(rows) == 0 {
		t.Fatal("no orders listed")
	}
	n := rows[0].ID
	detail := "/v1/orders/" + n + "?customer_no=10001"
	// A refresh before, so that the answers carry a generation other than
	// the first: counters restarting at 0 would reach it again.
	if err := a.svc.OrderChanged(ctx(), n, false); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{list, detail} {
		for _, r := range c.replicas {
			waitFor(t, 2*time.Second, "a replica holds "+target, func() bool {
				return strings.HasSuffix(r.get(t, target).Header().Get("Cache-Status"), "detail=memory")
			})
		}
	}

	o, _ := c.sim.Order(n)
	o.YourReference = "changed during the loss"
	o.ChangedAt = c.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	c.sim.SetOrder(o)
	srv.Restart(t)
	if err := a.svc.OrderChanged(ctx(), n, false); err != nil {
		t.Fatal(err)
	}
	// Each replica shows the change as soon as it hears of the flush (or
	// sees its subscription break): within milliseconds.
	for _, r := range []*replica{a, b} {
		waitFor(t, 250*time.Millisecond, "the change shows", func() bool {
			return decode[api.Order](t, r.get(t, detail)).Reference == o.YourReference &&
				decode[api.OrderList](t, r.get(t, list)).Orders[0].Reference == o.YourReference
		})
	}
}
