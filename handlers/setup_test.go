package handlers_test

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/erpguard"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The fixed clock of every test: sample data and "today" follow it.
var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

const (
	testKey   = "vendre-key-1"
	testAdmin = "admin-token-1"
	secret    = "erp-secret"
)

// env is a gateway wired as in production: the real router, cache engine,
// pull service, ERP client (over HTTP to a simulated Extend Commerce),
// mapping and schemas.
type env struct {
	e     *echo.Echo
	sim   *extendsim.Server
	svc   *pull.Service
	cache *cache.Cache
	redis *cache.Redis    // nil: Memory alone
	guard *erpguard.Guard // nil unless withGuard
	links *doclink.Signer
	now   time.Time // the start of the test's clock
	clock *clock
}

// clock is a settable clock shared by the simulated ERP, the mapping and
// the pull service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type envOption func(*envConfig)

// withShared makes the env a replica of another env, sharing its Redis r,
// or one on a Redis of the test's own.
func withShared(r *cache.Redis) envOption { return func(c *envConfig) { c.shared = r } }

// withMemory makes the env cache in m alone (cache.NewMemory(1) caches
// nothing).
func withMemory(m *cache.Memory) envOption { return func(c *envConfig) { c.memory = m } }

// withBudget sets the ERP budget of one request (EXTEND_TIMEOUT).
func withBudget(d time.Duration) envOption { return func(c *envConfig) { c.budget = d } }

type envConfig struct {
	erpWrap  func(http.Handler) http.Handler
	shape    handlers.ShapeConfig
	guard    bool
	log      *slog.Logger
	redis    bool
	shared   *cache.Redis
	memory   *cache.Memory
	budget   time.Duration
	validate pull.Validator
}

// withERP puts wrap in front of the simulated ERP (to bend its answers).
func withERP(wrap func(http.Handler) http.Handler) envOption {
	return func(c *envConfig) { c.erpWrap = wrap }
}

// withShape sets where Vendre's calls carry their key and parameters
// (VENDRE_KEY_HEADER, VENDRE_PARAM_ALIASES).
func withShape(s handlers.ShapeConfig) envOption { return func(c *envConfig) { c.shape = s } }

// withGuard sends the env's ERP calls through the ERP's guard
// (erpguard, at its defaults), as production does: its circuit is what
// /readyz and the status page read.
func withGuard() envOption { return func(c *envConfig) { c.guard = true } }

// withLogger makes the handlers log to log.
func withLogger(log *slog.Logger) envOption { return func(c *envConfig) { c.log = log } }

// withRedis makes the env cache in a real Redis (cachetest) behind its
// Memory tier, as production does with REDIS_URL.
func withRedis() envOption { return func(c *envConfig) { c.redis = true } }

// withValidator replaces the schema check.
func withValidator(v pull.Validator) envOption { return func(c *envConfig) { c.validate = v } }

// The settings of every env: the defaults of CACHE_TTL_LIST,
// CACHE_TTL_DETAIL and CACHE_STALE_FOR.
const (
	ttlList   = time.Minute
	ttlDetail = 5 * time.Minute
	staleFor  = 24 * time.Hour
	// CACHE_SWEEP_EVERY and CACHE_KEEP_FOR: the change sweep runs only
	// when a test calls it (Service.Sweep).
	sweepEvery = 5 * time.Minute
	keepFor    = 168 * time.Hour
)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{budget: 2 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	clk := &clock{t: testNow}
	clock := clk.Now
	sim := extendsim.New(extendsim.Options{ClientID: "gw", ClientSecret: secret, Now: clock, Customers: 5})
	var erpHandler http.Handler = sim
	if cfg.erpWrap != nil {
		erpHandler = cfg.erpWrap(sim)
	}
	ts := httptest.NewServer(erpHandler)
	t.Cleanup(ts.Close)
	ecfg := erp.Config{BaseURL: ts.URL, ClientID: "gw", ClientSecret: secret, CallTimeout: time.Second, MaxRetries: 1}
	var guard *erpguard.Guard
	if cfg.guard {
		guard = erpguard.New(http.DefaultTransport, erpguard.Config{})
		ecfg.HTTPClient = &http.Client{Transport: guard}
	}
	client, err := erp.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Stockholm")
	mapper, err := mapping.New(mapping.Options{Locale: "sv-SE", Currency: "SEK", Location: loc, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ev := &env{sim: sim, now: testNow, clock: clk, guard: guard, redis: cfg.shared}
	if cfg.redis && ev.redis == nil {
		rdb, prefix := cachetest.Redis(t)
		ev.redis = cache.NewRedis(rdb, prefix)
	}
	mem := cfg.memory
	if mem == nil {
		mem = cache.NewMemory(32 << 20)
	}
	ev.cache = cache.New(cache.Config{Memory: mem, Redis: ev.redis, StaleFor: staleFor, Budget: cfg.budget, FeedLag: sweepEvery, KeepFor: keepFor, Now: clock})
	if ev.redis != nil {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { ev.cache.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	var v pull.Validator = set
	if cfg.validate != nil {
		v = cfg.validate
	}
	ev.links = doclink.New(doclink.DeriveKey(secret), "https://gw.example.test", clock)
	ev.svc = pull.New(client, ev.cache, v, mapper, ev.links, pull.Config{TTLList: ttlList, TTLDetail: ttlDetail, Budget: cfg.budget, SweepEvery: sweepEvery, Now: clock}, nil)
	deps := handlers.Deps{
		Pull:    ev.svc,
		APIKeys: []string{"other-key", testKey}, AdminToken: testAdmin, Shape: cfg.shape,
		Location: loc, Now: clock, Logger: cfg.log,
		Extended: ev.svc,
	}
	if ev.redis != nil {
		deps.Redis = ev.cache
	}
	if guard != nil {
		deps.ERP = guard
	}
	ev.e = handlers.New(deps)
	return ev
}

// get sends a GET through the real router with the test API key.
func (ev *env) get(t testing.TB, target string) *httptest.ResponseRecorder {
	t.Helper()
	return ev.do(t, http.MethodGet, target, map[string]string{"X-Api-Key": testKey})
}

func (ev *env) do(t testing.TB, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	return ev.send(t, method, target, header, "")
}

// send is do with a body.
func (ev *env) send(t testing.TB, method, target string, header map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	ev.e.ServeHTTP(rec, req)
	return rec
}

// wire is do over a real connection: what a caller receives, headers as
// the server sent them (a recorder's header map also holds what was set
// after the status was written, which a real server drops).
func (ev *env) wire(t testing.TB, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	return wire(t, ev.e, method, target, header)
}

// wire serves one request with h on a real server and returns what
// arrived, in a recorder so that the tests' helpers apply.
func wire(t testing.TB, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	rec := httptest.NewRecorder()
	maps.Copy(rec.Header(), res.Header)
	rec.WriteHeader(res.StatusCode)
	if _, err := rec.Body.ReadFrom(res.Body); err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return rec
}

// getAll sends n concurrent GETs of target and fails the test for every
// answer that is not 200.
func (ev *env) getAll(t *testing.T, target string, n int) {
	t.Helper()
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = ev.get(t, target).Code })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d of %s = %d, want 200", i, target, c)
		}
	}
}

// decode unmarshals a JSON answer, failing the test on bad JSON.
func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, rec.Body)
	}
	return v
}

// golden compares got with testdata/name.golden.json (rewritten by
// -update) and checks the golden file against its schema.
func golden(t *testing.T, name, schema string, got []byte) {
	t.Helper()
	var pretty any
	if err := json.Unmarshal(got, &pretty); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	b, _ := json.MarshalIndent(pretty, "", "  ")
	b = append(b, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./handlers -update)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs from %s (run with -update and review the diff)\ngot:\n%s", name, path, b)
	}
	set, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Validate(schema, want); err != nil {
		t.Errorf("golden %s fails schema %s: %v", path, schema, err)
	}
}

func ctx() context.Context { return context.Background() }
