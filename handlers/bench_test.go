package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vendre-extend/gateway/cache"
)

// BenchmarkCachedOrder: one order read through the whole echo stack
// (auth, routing, logging, parameter checks) served from the cache.
func BenchmarkCachedOrder(b *testing.B) {
	benchHits(b, func(ev *env) string {
		return "/v1/orders/" + ev.sim.Cases().MultiVATOrder + "?customer_no=10001"
	})
}

// benchHits measures cache hits of the answer at target(ev) through the
// whole echo stack, with the memory store and with Redis.
func benchHits(b *testing.B, target func(ev *env) string) {
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			var opts []envOption
			if name == "redis" {
				opts = append(opts, withRedis())
			}
			ev := newEnv(b, opts...)
			url := target(ev)
			if rec := ev.get(b, url); rec.Code != 200 {
				b.Fatalf("warm-up = %d", rec.Code)
			}
			req := httptest.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-Api-Key", testKey)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				ev.e.ServeHTTP(rec, req)
				if rec.Code != 200 || rec.Header().Get("X-Cache") != "HIT" {
					b.Fatalf("status %d X-Cache %q", rec.Code, rec.Header().Get("X-Cache"))
				}
			}
		})
	}
}

// BenchmarkColdOrder: one order read with nothing cached: the ERP client
// over HTTP to the simulated ERP, mapping, encoding and schema check.
func BenchmarkColdOrder(b *testing.B) {
	ev := newEnv(b, withMemory(cache.NewMemory(1))) // caches nothing: every request is cold
	target := "/v1/orders/" + ev.sim.Cases().MultiVATOrder + "?customer_no=10001"
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("X-Api-Key", testKey)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		ev.e.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Header().Get("X-Cache") != "MISS" {
			b.Fatalf("status %d X-Cache %q", rec.Code, rec.Header().Get("X-Cache"))
		}
	}
}

// BenchmarkColdOrderList: a 25-row list with nothing cached: one list call
// and 25 record calls (bounded concurrency).
func BenchmarkColdOrderList(b *testing.B) {
	ev := newEnv(b, withMemory(cache.NewMemory(1))) // caches nothing: every request is cold
	req := httptest.NewRequest(http.MethodGet, "/v1/orders?customer_no=10001&from=2025-01-01", nil)
	req.Header.Set("X-Api-Key", testKey)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		ev.e.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
