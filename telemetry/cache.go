package telemetry

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vendre-extend/gateway/cache"
)

// CacheObserver counts what the cache did, per endpoint (cache.Kind):
// gateway_cache_requests_total{endpoint,result} with result hit, miss or
// stale, gateway_cache_coalesced_total{endpoint} (requests that waited on
// another's ERP fetch) and gateway_cache_fills_total{endpoint} (ERP
// fetches). It is a cache.Observer; a cache hit costs one map read and one
// counter add, without allocating.
type CacheObserver struct {
	requests, coalesced, fills metric.Int64Counter

	results   optCache[cacheKey]
	endpoints optCache[string]
}

var _ cache.Observer = (*CacheObserver)(nil)

type cacheKey struct{ endpoint, result string }

func newCacheObserver(m metric.Meter) (*CacheObserver, error) {
	c := &CacheObserver{}
	var err error
	if c.requests, err = m.Int64Counter("gateway.cache.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Pull requests by cache outcome (hit, miss, stale) and endpoint.")); err != nil {
		return nil, err
	}
	if c.coalesced, err = m.Int64Counter("gateway.cache.coalesced", metric.WithUnit("{request}"),
		metric.WithDescription("Requests that waited on another request's ERP fetch instead of making their own.")); err != nil {
		return nil, err
	}
	if c.fills, err = m.Int64Counter("gateway.cache.fills", metric.WithUnit("{fetch}"),
		metric.WithDescription("Answers built from the ERP to fill the cache.")); err != nil {
		return nil, err
	}
	c.results.make = func(k cacheKey) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(
			attribute.String("endpoint", k.endpoint), attribute.String("result", strings.ToLower(k.result))))
	}
	c.endpoints.make = func(ep string) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("endpoint", ep)))
	}
	return c, nil
}

// CacheResult counts one request's outcome (cache.Hit, cache.Miss or
// cache.Stale).
func (c *CacheObserver) CacheResult(endpoint, result string) {
	c.requests.Add(context.Background(), 1, c.results.get(cacheKey{endpoint, result}).add...)
}

// Coalesced counts a request that waited on another's fetch.
func (c *CacheObserver) Coalesced(endpoint string) {
	c.coalesced.Add(context.Background(), 1, c.endpoints.get(endpoint).add...)
}

// Fetch counts one fill from the ERP.
func (c *CacheObserver) Fetch(endpoint string) {
	c.fills.Add(context.Background(), 1, c.endpoints.get(endpoint).add...)
}

// optCache keeps one precomputed attribute option per key, so a hot path
// neither builds an attribute set nor allocates. Keys must come from a
// small fixed set (endpoints, outcomes). Reads take no lock; a new key
// copies the map.
type optCache[K comparable] struct {
	m    atomic.Pointer[map[K]*opts]
	mu   sync.Mutex
	make func(K) metric.MeasurementOption
}

// opts holds one option as the slices Add and Record take, so that passing
// them on does not allocate a variadic slice per call.
type opts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

func (c *optCache[K]) get(k K) *opts {
	if m := c.m.Load(); m != nil {
		if o, ok := (*m)[k]; ok {
			return o
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	n := make(map[K]*opts, 8)
	if old != nil {
		if o, ok := (*old)[k]; ok {
			return o
		}
		for kk, o := range *old {
			n[kk] = o
		}
	}
	m := c.make(k)
	o := &opts{add: []metric.AddOption{m}, rec: []metric.RecordOption{m}}
	n[k] = o
	c.m.Store(&n)
	return o
}
