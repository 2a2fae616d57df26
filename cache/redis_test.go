package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// TestRedisTTLIsMilliseconds checks what Set sends: the ttl in
// milliseconds (PX), at least 1 ms, and no expiry for ttl <= 0 (never
// KEEPTTL). It reads the command, not the key's PTTL afterwards, which a
// busy machine can make expire or age before it is read.
func TestRedisTTLIsMilliseconds(t *testing.T) {
	rdb, base := cachetest.Redis(t)
	ctx := t.Context()
	sent := &lastSet{}
	rdb.AddHook(sent)
	s := cache.NewRedis(rdb, base)
	for _, tt := range []struct {
		ttl  time.Duration
		want string // the SET command's arguments after the value
	}{
		{1500 * time.Millisecond, "px 1500"},
		{300 * time.Microsecond, "px 1"},
		{0, ""},  // no expiry
		{-5, ""}, // no expiry, not KEEPTTL
	} {
		mustSet(t, ctx, s, "k", "v", tt.ttl)
		if got := sent.get(); got != tt.want {
			t.Errorf("Set(ttl %s) sent %q after the value, want %q", tt.ttl, got, tt.want)
		}
	}
	if got, err := rdb.PTTL(ctx, base+"k").Result(); err != nil || got != -1 {
		t.Errorf("PTTL after Set(ttl -5) = %s, %v; want -1 (no expiry)", got, err)
	}
}

// lastSet is a go-redis hook that keeps the arguments of the last SET
// after its key and value.
type lastSet struct {
	mu   sync.Mutex
	args string
}

func (h *lastSet) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.args
}

func (h *lastSet) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *lastSet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *lastSet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if a := cmd.Args(); cmd.Name() == "set" && len(a) >= 3 {
			var rest []string
			for _, v := range a[3:] {
				rest = append(rest, strings.ToLower(fmt.Sprint(v)))
			}
			h.mu.Lock()
			h.args = strings.Join(rest, " ")
			h.mu.Unlock()
		}
		return next(ctx, cmd)
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
