package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/mapping"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/schemas"
)

// The gateway's defaults (cmd/gateway/config.go): the harness runs what a
// merchant runs.
const (
	ttlList    = 60 * time.Second
	ttlDetail  = 5 * time.Minute
	staleFor   = 24 * time.Hour
	sweepEvery = 5 * time.Minute
	keepFor    = 168 * time.Hour
	apiKey     = "bench-key"
)

// clock is the simulated time every part follows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// system is one cache in front of the ERP, behind the gateway's own
// router, so that every answer is what Vendre would get.
type system struct {
	name string
	e    *echo.Echo
	svc  *pull.Service
}

// get answers target as Vendre would get it.
func (s *system) get(target string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Api-Key", apiKey)
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return rec
}

// newSystem builds a gateway whose ERP client goes through rt, caching in
// c; sweep sets CACHE_SWEEP_EVERY (0: none).
func newSystem(name string, rt http.RoundTripper, c *cache.Cache, clk *clock, sweep time.Duration) (*system, error) {
	client, err := erp.New(erp.Config{BaseURL: "http://erp.invalid", ClientID: "bench", ClientSecret: "bench-secret",
		HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		return nil, err
	}
	set, err := schemas.Load()
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return nil, err
	}
	mapper, err := mapping.New(mapping.Options{Locale: "sv-SE", Currency: "SEK", Location: loc, Now: clk.Now})
	if err != nil {
		return nil, err
	}
	links := doclink.New(doclink.DeriveKey("bench-secret"), "https://gw.example.test", clk.Now)
	svc := pull.New(client, c, set, mapper, links, pull.Config{TTLList: ttlList, TTLDetail: ttlDetail,
		Budget: 10 * time.Second, SweepEvery: sweep, Now: clk.Now}, nil)
	// No rate limits: they follow the wall clock, which runs a week in
	// minutes here; they are not what this harness is about.
	e := handlers.New(handlers.Deps{Pull: svc, Extended: svc, APIKeys: []string{apiKey}, Location: loc, Now: clk.Now})
	return &system{name: name, e: e, svc: svc}, nil
}

// erpDirect serves a request from the simulated ERP in process.
func erpDirect(sim http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, r)
	return rec.Result()
}

// isToken reports whether r asks for an OAuth token: not counted, as
// every cache needs one an hour.
func isToken(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/oauth/token") }

// byCall counts ERP calls by what they read.
type byCall struct {
	n [5]atomic.Int64
}

// Kinds of ERP calls, as byCall counts them.
const (
	callList   = iota // a list of orders or invoices
	callRecord        // one order or invoice
	callPrices        // ProductPrices
	callOther         // anything else (a customer record...)
	callsTotal
)

var callNames = [callsTotal]string{"lists", "records", "prices", "other"}

func (b *byCall) add(r *http.Request) {
	p := strings.Trim(r.URL.Path, "/")
	switch {
	case p == "CustomerOrders" || p == "CustomerInvoices":
		b.n[callList].Add(1)
	case strings.HasPrefix(p, "CustomerOrders/") || strings.HasPrefix(p, "CustomerInvoices/"):
		b.n[callRecord].Add(1)
	case p == "ProductPrices":
		b.n[callPrices].Add(1)
	default:
		b.n[callOther].Add(1)
	}
	b.n[callsTotal].Add(1)
}

func (b *byCall) total() int64 { return b.n[callsTotal].Load() }

// counting passes every call to the ERP and counts them: the gateway's
// own ERP calls.
type counting struct {
	sim http.Handler
	n   *byCall
}

func (t counting) RoundTrip(r *http.Request) (*http.Response, error) {
	if !isToken(r) {
		t.n.add(r)
	}
	return erpDirect(t.sim, r), nil
}

// stored is an ERP answer as a cache in front of the ERP keeps it.
type stored struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

func (s stored) response(r *http.Request) *http.Response {
	return &http.Response{StatusCode: s.status, Header: s.header.Clone(), Body: io.NopCloser(bytes.NewReader(s.body)),
		ContentLength: int64(len(s.body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

func read(res *http.Response) stored {
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return stored{status: res.StatusCode, header: res.Header, body: b}
}

// ttlCache is a plain HTTP cache in front of the ERP, keyed by URL: a
// list (or prices) for CACHE_TTL_LIST, a record for CACHE_TTL_DETAIL, as
// nginx's proxy_cache_valid or KrakenD's cache_ttl would be set.
type ttlCache struct {
	sim http.Handler
	now func() time.Time
	n   *byCall
	mu  sync.Mutex
	m   map[string]stored
}

func (t *ttlCache) RoundTrip(r *http.Request) (*http.Response, error) {
	if isToken(r) {
		return erpDirect(t.sim, r), nil
	}
	key := r.URL.String()
	t.mu.Lock()
	s, ok := t.m[key]
	t.mu.Unlock()
	if ok && t.now().Before(s.expires) {
		return s.response(r), nil
	}
	t.n.add(r)
	s = read(erpDirect(t.sim, r))
	ttl := ttlList
	if strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 { // /CustomerOrders/{n}, /Customers/{n}
		ttl = ttlDetail
	}
	s.expires = t.now().Add(ttl)
	if s.status == http.StatusOK {
		t.mu.Lock()
		t.m[key] = s
		t.mu.Unlock()
	}
	return s.response(r), nil
}

// oracle is the floor: it asks the ERP every time but counts a call only
// when the answer to that URL is new or differs from the last one: each
// list and record read once, and again only when it changed.
type oracle struct {
	sim  http.Handler
	n    *byCall
	mu   sync.Mutex
	seen map[string][]byte
}

func (o *oracle) RoundTrip(r *http.Request) (*http.Response, error) {
	s := read(erpDirect(o.sim, r))
	if !isToken(r) {
		key := r.URL.String()
		o.mu.Lock()
		if prev, ok := o.seen[key]; !ok || !bytes.Equal(prev, s.body) {
			o.n.add(r)
			o.seen[key] = s.body
		}
		o.mu.Unlock()
	}
	return s.response(r), nil
}

// nothing is a cache that keeps nothing: the TTL cache and the floor keep
// what they keep in front of the ERP, not in the gateway.
func nothing(clk *clock) *cache.Cache {
	return cache.New(cache.Config{Memory: cache.NewMemory(1), StaleFor: staleFor, Budget: 10 * time.Second, Now: clk.Now})
}

var background = context.Background()
