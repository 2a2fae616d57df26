package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/schemas"
	"github.com/vendre-extend/gateway/telemetry"
)

const (
	apiKey = "telemetry-key"
	admin  = "telemetry-admin"
)

var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stack is the gateway wired as cmd/gateway wires it: telemetry around
// the real router, pull service, ERP client (over HTTP to extendsim) and
// cache store.
type stack struct {
	h     http.Handler // what the HTTP server serves
	tel   *telemetry.Telemetry
	sim   *extendsim.Server
	clock *clock
	spans *tracetest.SpanRecorder
}

type stackOptions struct {
	redis     bool
	unsampled bool // no span recorder: as in production without OTLP
	pushers   func() []telemetry.PusherStat
}

func newStack(t testing.TB, so stackOptions) *stack {
	t.Helper()
	clk := &clock{t: testNow}
	st := &stack{clock: clk, spans: tracetest.NewSpanRecorder()}
	var engine *cache.Cache // set below; scrapes come later
	var redisDown func() bool
	if so.redis {
		redisDown = func() bool { return engine.RedisDown() }
	}
	var sp sdktrace.SpanProcessor = st.spans
	if so.unsampled {
		sp = nil
	}
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Getenv:        func(string) string { return "" },
		SpanProcessor: sp,
		CircuitOpen:   func() bool { return false },
		RedisDown:     redisDown,
		Pushers:       so.pushers,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	st.tel = tel

	st.sim = extendsim.New(extendsim.Options{ClientID: "gw", ClientSecret: "s", Now: clk.Now, Customers: 3})
	ts := httptest.NewServer(st.sim)
	t.Cleanup(ts.Close)
	hc := erp.NewHTTPClient()
	hc.Transport = tel.Transport(hc.Transport)
	client, err := erp.New(erp.Config{BaseURL: ts.URL, ClientID: "gw", ClientSecret: "s", CallTimeout: time.Second, MaxRetries: -1, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	var shared *cache.Redis
	if so.redis {
		rdb, prefix := cachetest.Redis(t)
		if err := tel.InstrumentRedis(rdb); err != nil {
			t.Fatal(err)
		}
		shared = cache.NewRedis(rdb, prefix)
	}
	engine = cache.New(cache.Config{Memory: cache.NewMemory(16 << 20), Redis: shared,
		StaleFor: time.Hour, Budget: 2 * time.Second, Now: clk.Now, Observer: tel.CacheObserver()})
	set, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := mapping.New(mapping.Options{Locale: "sv-SE", Currency: "SEK", Location: time.UTC, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	links := doclink.New(doclink.DeriveKey("s"), "https://gw.example.test", clk.Now)
	svc := pull.New(client, engine, set, mapper, links, pull.Config{
		TTLList: time.Minute, TTLDetail: 5 * time.Minute, Budget: 2 * time.Second, Now: clk.Now,
	}, nil)
	deps := handlers.Deps{
		Pull: svc, APIKeys: []string{apiKey}, AdminToken: admin, Now: clk.Now,
		Metrics: tel.MetricsHandler(), MeterProvider: tel.MeterProvider(),
	}
	if shared != nil {
		deps.Redis = engine
	}
	st.h = tel.Handler(handlers.New(deps))
	return st
}

func (st *stack) get(t testing.TB, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Api-Key", apiKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	st.h.ServeHTTP(rec, req)
	return rec
}

// TestSpanTree: one cold list request makes a server span named by its
// route, with the ERP calls (token, list, records) and the Redis commands
// as its descendants, all in the caller's trace (W3C traceparent in), and
// the traceparent goes on to Extend (out).
func TestSpanTree(t *testing.T) {
	st := newStack(t, stackOptions{redis: true})
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	rec := st.get(t, "/v1/orders?customer_no=10001", "traceparent", parent)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("GET /v1/orders = %d %q, want 200 MISS", rec.Code, rec.Header().Get("X-Cache"))
	}
	if m := st.get(t, "/metrics").Body.String(); !strings.Contains(m, "\ngateway_redis_down 0") {
		t.Errorf("/metrics lacks gateway_redis_down 0")
	}
	spans := st.spans.Ended()
	byID := map[trace.SpanID]int{}
	for i, s := range spans {
		byID[s.SpanContext().SpanID()] = i
	}
	var server trace.SpanID
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindServer {
			if server.IsValid() {
				t.Fatalf("two server spans")
			}
			server = s.SpanContext().SpanID()
			if s.Name() != "GET /v1/orders" {
				t.Errorf("server span name = %q, want %q", s.Name(), "GET /v1/orders")
			}
			if got := s.SpanContext().TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("server span trace = %s, want the caller's", got)
			}
			for _, a := range s.Attributes() {
				if a.Key == "http.route" && a.Value.AsString() != "/v1/orders" {
					t.Errorf("http.route = %q", a.Value.AsString())
				}
			}
		}
	}
	if !server.IsValid() {
		t.Fatalf("no server span among %d", len(spans))
	}
	// under reports whether span i descends from the server span.
	under := func(i int) bool {
		for p := spans[i].Parent().SpanID(); p.IsValid(); {
			if p == server {
				return true
			}
			j, ok := byID[p]
			if !ok {
				return false
			}
			p = spans[j].Parent().SpanID()
		}
		return false
	}
	count := map[string]int{}
	redisSpans := 0
	for i, s := range spans {
		if !under(i) {
			continue
		}
		switch {
		case strings.HasPrefix(s.Name(), "erp "):
			if s.SpanKind() != trace.SpanKindClient {
				t.Errorf("%s kind = %v, want client", s.Name(), s.SpanKind())
			}
			count[s.Name()]++
		case isRedis(s.Attributes()):
			redisSpans++
		}
	}
	if count["erp token"] != 1 || count["erp order-list"] != 1 || count["erp order"] < 1 {
		t.Errorf("ERP spans under the server span = %v, want 1 token, 1 order-list, >=1 order", count)
	}
	if want := st.sim.Calls(extendsim.OpOrder); count["erp order"] != want {
		t.Errorf("erp order spans = %d, ERP saw %d record calls", count["erp order"], want)
	}
	if redisSpans == 0 {
		t.Errorf("no Redis spans under the server span")
	}
	t.Logf("%d spans; ERP %v; Redis %d", len(spans), count, redisSpans)
}

func isRedis(attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		if a.Key == "db.system" && a.Value.AsString() == "redis" {
			return true
		}
	}
	return false
}

// contractMetrics are the names the contract's Metrics section lists.
var contractMetrics = []string{
	"http_server_request_duration_seconds",
	"gateway_cache_requests_total",
	"gateway_cache_coalesced_total",
	"gateway_erp_requests_total",
	"gateway_erp_request_duration_seconds",
	"gateway_erp_circuit_open",
	"gateway_webhooks_total",
	"gateway_pusher_backlog",
	"gateway_pusher_dead_letters",
}

// TestMetricsAfterScriptedRun: after a miss, a hit, a stale serve, a
// coalesced wait and an ERP failure, /metrics shows every metric of the
// contract with the labels it names.
func TestMetricsAfterScriptedRun(t *testing.T) {
	st := newStack(t, stackOptions{pushers: func() []telemetry.PusherStat {
		return []telemetry.PusherStat{{Name: "stock", Backlog: 3}, {Name: "orders", DeadLetters: 1}}
	}})
	want := func(target, cache string, status int) {
		t.Helper()
		rec := st.get(t, target)
		if rec.Code != status || rec.Header().Get("X-Cache") != cache {
			t.Fatalf("GET %s = %d %q, want %d %q", target, rec.Code, rec.Header().Get("X-Cache"), status, cache)
		}
	}
	want("/v1/orders?customer_no=10001", "MISS", 200)
	want("/v1/orders?customer_no=10001", "HIT", 200)
	st.clock.Advance(2 * time.Minute)
	want("/v1/orders?customer_no=10001", "STALE", 200)

	// Coalesced: concurrent cold requests for one key make one fetch.
	st.sim.SetLatency(50 * time.Millisecond)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { st.get(t, "/v1/invoices?customer_no=10001") })
	}
	wg.Wait()
	st.sim.SetLatency(0)

	// An ERP failure: Extend answers 503 to a cold single order (its
	// record, kept by the list, flushed first).
	flush := httptest.NewRequest(http.MethodPost, "/admin/cache/flush", nil)
	flush.Header.Set("Authorization", "Bearer "+admin)
	st.h.ServeHTTP(httptest.NewRecorder(), flush)
	st.sim.SetFailing(http.StatusServiceUnavailable)
	if rec := st.get(t, "/v1/orders/"+st.sim.Cases().MultiVATOrder+"?customer_no=10001"); rec.Code < 500 {
		t.Fatalf("GET order with the ERP failing = %d, want 5xx", rec.Code)
	}
	st.sim.SetFailing(0)
	st.tel.Webhook(context.Background(), "extend", "order", "applied")

	rec := st.get(t, "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, name := range contractMetrics {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	for _, series := range []string{
		`gateway_cache_requests_total{endpoint="orders",result="hit"} 1`,
		`gateway_cache_requests_total{endpoint="orders",result="miss"} 1`,
		`gateway_cache_requests_total{endpoint="orders",result="stale"} 1`,
		`gateway_erp_requests_total{operation="token",outcome="ok"} 1`,
		`gateway_erp_requests_total{operation="order",outcome="server_error"}`,
		`gateway_erp_circuit_open 0`,
		`gateway_pusher_backlog{pusher="stock"} 3`,
		`gateway_pusher_dead_letters{pusher="orders"} 1`,
		`gateway_webhooks_total{action="order",outcome="applied",source="extend"} 1`,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/v1/orders"} 3`,
		`gateway_erp_request_duration_seconds_count{operation="order-list"}`,
		`gateway_cache_coalesced_total{endpoint="invoices"}`,
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	for _, leak := range []string{"10001", apiKey, "SO-"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics contains %q", leak)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepGateway(body))
	}
}

func grepGateway(body string) string {
	var b strings.Builder
	for l := range strings.Lines(body) {
		if strings.HasPrefix(l, "gateway_") || strings.HasPrefix(l, "http_") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestNoExportWithoutEndpoint: with no OTLP endpoint and no processor,
// spans are not recorded, yet requests still carry a trace ID.
func TestNoExportWithoutEndpoint(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if tel.Exporting() {
		t.Fatal("Exporting() = true without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	var sc trace.SpanContext
	var recording bool
	h := tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc = trace.SpanContextFromContext(r.Context())
		recording = trace.SpanFromContext(r.Context()).IsRecording()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/orders", nil))
	if !sc.HasTraceID() || recording {
		t.Errorf("span: trace ID %v, recording %v; want an ID and no recording", sc.HasTraceID(), recording)
	}
	// The caller's trace context goes on.
	req := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got := sc.TraceID().String(); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("trace ID = %s, want the caller's", got)
	}
}

// TestExportWithEndpoint: OTEL_EXPORTER_OTLP_ENDPOINT turns OTLP export
// on; the spans reach the collector at Shutdown.
func TestExportWithEndpoint(t *testing.T) {
	got := make(chan string, 8)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.URL.Path
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Exporting() {
		t.Fatal("Exporting() = false with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	tel.Handler(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/orders", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "/v1/traces" {
			t.Errorf("collector got %s, want /v1/traces", p)
		}
	default:
		t.Error("no spans reached the collector")
	}
}

// BenchmarkCachedOrderTelemetry: a cached order through the whole stack as
// served in production: otelhttp's server span (not sampled: no
// exporter), the router with its request metric, and the cache observer.
// Compare with handlers' BenchmarkCachedOrder/memory, which has none.
func BenchmarkCachedOrderTelemetry(b *testing.B) {
	for _, sampled := range []bool{false, true} {
		name := "unsampled"
		if sampled {
			name = "sampled"
		}
		b.Run(name, func(b *testing.B) {
			st := newStack(b, stackOptions{unsampled: !sampled})
			target := "/v1/orders/" + st.sim.Cases().MultiVATOrder + "?customer_no=10001"
			if rec := st.get(b, target); rec.Code != 200 {
				b.Fatalf("warm-up = %d", rec.Code)
			}
			req := httptest.NewRequest(http.MethodGet, target, nil)
			req.Header.Set("X-Api-Key", apiKey)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				st.h.ServeHTTP(rec, req)
				if rec.Code != 200 || rec.Header().Get("X-Cache") != "HIT" {
					b.Fatalf("status %d X-Cache %q", rec.Code, rec.Header().Get("X-Cache"))
				}
			}
		})
	}
}
