package cache_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// answer is the size of a typical cached Vendre answer.
var answer = bytes.Repeat([]byte("x"), 2048)

func BenchmarkMemoryGet(b *testing.B) {
	m := cache.NewMemory(64 << 20)
	benchGet(b, m)
}

func BenchmarkMemoryGetParallel(b *testing.B) {
	m := cache.NewMemory(64 << 20)
	ctx := b.Context()
	key := keys.Order("10001", "500123")
	if err := m.Set(ctx, key, answer, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, _ := m.Get(ctx, key); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

func BenchmarkMemorySet(b *testing.B) {
	m := cache.NewMemory(64 << 20)
	ctx := b.Context()
	key := keys.Order("10001", "500123")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Set(ctx, key, answer, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisGet(b *testing.B) {
	rdb, prefix := cachetest.Redis(b)
	benchGet(b, cache.NewRedis(rdb, prefix))
}

func BenchmarkKeysOrderList(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = keys.OrderList("10001", "2025-01-01", "2025-12-31", 1, 25)
	}
}

func benchGet(b *testing.B, s cache.Store) {
	ctx := b.Context()
	key := keys.Order("10001", "500123")
	if err := s.Set(ctx, key, answer, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, ok, err := s.Get(ctx, key)
		if err != nil || !ok || len(v) != len(answer) {
			b.Fatalf("Get = %d bytes, %v, %v", len(v), ok, err)
		}
	}
}
