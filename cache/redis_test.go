package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// TestRedisStaysInItsPrefix checks that a Redis store never reads or
// deletes keys outside its prefix, also when the prefix has glob
// characters, and that other applications' keys survive DeletePrefix("").
func TestRedisStaysInItsPrefix(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string   // store prefix, after the test's own
		foreign []string // keys outside it, after the test's own prefix
	}{
		{"plain", "gw:", []string{"gw", "gwx:k", "other:k", "GW:k", "g:k"}},
		{"glob characters", "a*[b]?:", []string{"aZZ[b]x:k", "a*b?:k", "a*[b]:k", `a\*[b]?:k`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb, base := cachetest.Redis(t)
			ctx := t.Context()
			for _, k := range tt.foreign {
				if err := rdb.Set(ctx, base+k, "theirs", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
			}
			s := cache.NewRedis(rdb, base+tt.prefix)
			mustSet(t, ctx, s, "k", "ours", time.Minute)
			mustSet(t, ctx, s, "k2", "ours", time.Minute)
			wantHit(t, ctx, s, "k", "ours")
			if got := rdb.Get(ctx, base+tt.prefix+"k").Val(); got != "ours" {
				t.Errorf("raw GET of prefixed key = %q, want %q", got, "ours")
			}
			wantDeleted(t, ctx, s, "", 2)
			for _, k := range tt.foreign {
				if got := rdb.Get(ctx, base+k).Val(); got != "theirs" {
					t.Errorf("foreign key %q = %q after DeletePrefix, want %q", k, got, "theirs")
				}
			}
		})
	}
}

func TestRedisDefaultPrefix(t *testing.T) {
	rdb, base := cachetest.Redis(t)
	ctx := t.Context()
	s := cache.NewRedis(rdb, "")
	key := base + "k" // unique, although outside the cleaned-up prefix
	// t.Context is done by the time cleanups run.
	t.Cleanup(func() { rdb.Del(context.Background(), cache.DefaultRedisPrefix+key) })
	mustSet(t, ctx, s, key, "v", time.Minute)
	if got := rdb.Get(ctx, cache.DefaultRedisPrefix+key).Val(); got != "v" {
		t.Errorf("GET %q = %q, want %q", cache.DefaultRedisPrefix+key, got, "v")
	}
}

func TestRedisTTLIsMilliseconds(t *testing.T) {
	rdb, base := cachetest.Redis(t)
	ctx := t.Context()
	s := cache.NewRedis(rdb, base)
	for _, tt := range []struct {
		ttl      time.Duration
		min, max time.Duration // PTTL reported right after
	}{
		{1500 * time.Millisecond, 1400 * time.Millisecond, 1500 * time.Millisecond},
		{300 * time.Microsecond, 0, time.Millisecond},
		{0, -1, -1},  // no expiry
		{-5, -1, -1}, // no expiry, not KEEPTTL
	} {
		mustSet(t, ctx, s, "k", "v", tt.ttl)
		got, err := rdb.PTTL(ctx, base+"k").Result()
		// go-redis reports PTTL -1 (no expiry) as the Duration -1.
		if err != nil || got < tt.min || got > tt.max {
			t.Errorf("Set(ttl %s): PTTL = %s, %v; want in [%s, %s]", tt.ttl, got, err, tt.min, tt.max)
		}
	}
}

// TestRedisDown checks that every method fails fast with ErrUnavailable,
// and does not panic, when Redis cannot be reached. It needs no Redis.
func TestRedisDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{
		Addr:        "127.0.0.1:1", // nothing listens here
		DialTimeout: 200 * time.Millisecond,
		// go-redis's defaults would try 5 dials 100 ms apart, for each of
		// 4 attempts of the command: seconds per call.
		DialerRetries: 1,
		MaxRetries:    -1,
	})
	t.Cleanup(func() { rdb.Close() })
	s := cache.NewRedis(rdb, "")
	ctx := t.Context()

	ops := []struct {
		name string
		op   string // in the error
		call func() error
	}{
		{"Get", "get", func() error {
			v, ok, err := s.Get(ctx, "k")
			if v != nil || ok {
				t.Errorf("Get = %q, %v; want nil, false", v, ok)
			}
			return err
		}},
		{"Set", "set", func() error { return s.Set(ctx, "k", []byte("v"), time.Minute) }},
		{"Delete", "delete", func() error { return s.Delete(ctx, "k") }},
		{"DeletePrefix", "delete prefix", func() error {
			n, err := s.DeletePrefix(ctx, "")
			if n != 0 {
				t.Errorf("DeletePrefix = %d, want 0", n)
			}
			return err
		}},
		{"Ping", "ping", func() error { return s.Ping(ctx) }},
	}
	for _, tt := range ops {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("%s took %s, want under 500ms", tt.name, took)
			}
			if !errors.Is(err, cache.ErrUnavailable) {
				t.Errorf("%s error = %v, want one wrapping ErrUnavailable", tt.name, err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "cache: "+tt.op+": ") {
				t.Errorf("%s error = %q, want it to start with %q", tt.name, err, "cache: "+tt.op+": ")
			}
		})
	}
}

func TestRedisClosedClientIsUnavailable(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	rdb.Close()
	s := cache.NewRedis(rdb, "")
	if _, _, err := s.Get(t.Context(), "k"); !errors.Is(err, cache.ErrUnavailable) || !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Get on closed client = %v, want ErrUnavailable and redis.ErrClosed", err)
	}
}

func TestRedisCanceledContextIsNotUnavailable(t *testing.T) {
	rdb, base := cachetest.Redis(t)
	s := cache.NewRedis(rdb, base)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := s.Get(ctx, "k")
	if err == nil || errors.Is(err, cache.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled ctx = %v, want context.Canceled and not ErrUnavailable", err)
	}
}
