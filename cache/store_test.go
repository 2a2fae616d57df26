package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// stores are the Store implementations that TestStore runs its suite on.
// Each constructor gives a fresh, empty store for one test.
var stores = []struct {
	name string
	new  func(t *testing.T) cache.Store
}{
	{"memory", func(t *testing.T) cache.Store { return cache.NewMemory(1 << 20) }},
	{"redis", func(t *testing.T) cache.Store {
		rdb, prefix := cachetest.Redis(t)
		return cache.NewRedis(rdb, prefix)
	}},
	{"redis-ring", func(t *testing.T) cache.Store {
		rdb, prefix := cachetest.Redis(t)
		single, ok := rdb.(*redis.Client)
		if !ok {
			t.Skip("a Ring shards over single servers; REDIS_TEST_URL names a cluster")
		}
		o := single.Options()
		ring := redis.NewRing(&redis.RingOptions{
			Addrs:    map[string]string{"only": o.Addr},
			Username: o.Username,
			Password: o.Password,
			DB:       o.DB,
		})
		t.Cleanup(func() { ring.Close() })
		return cache.NewRedis(ring, prefix)
	}},
}

// ttl is the short time-to-live of the expiry tests, and wait how long
// they sleep for it to pass.
const (
	ttl  = 50 * time.Millisecond
	wait = 3 * ttl
)

var keys cache.Keys

// storeTests is the suite every Store must pass.
var storeTests = []struct {
	name string
	run  func(t *testing.T, ctx context.Context, s cache.Store)
}{
	{"miss", func(t *testing.T, ctx context.Context, s cache.Store) {
		wantMiss(t, ctx, s, "absent")
	}},
	{"set then get", func(t *testing.T, ctx context.Context, s cache.Store) {
		mustSet(t, ctx, s, "k", "one", time.Minute)
		wantHit(t, ctx, s, "k", "one")
		mustSet(t, ctx, s, "k", "two", time.Minute)
		wantHit(t, ctx, s, "k", "two")
	}},
	{"empty value is a hit", func(t *testing.T, ctx context.Context, s cache.Store) {
		mustSet(t, ctx, s, "k", "", time.Minute)
		wantHit(t, ctx, s, "k", "")
	}},
	{"binary value", func(t *testing.T, ctx context.Context, s cache.Store) {
		v := string([]byte{0, 1, 0xff, '\n', 0})
		mustSet(t, ctx, s, "k", v, time.Minute)
		wantHit(t, ctx, s, "k", v)
	}},
	{"set copies the value", func(t *testing.T, ctx context.Context, s cache.Store) {
		buf := []byte("original")
		if err := s.Set(ctx, "k", buf, time.Minute); err != nil {
			t.Fatalf("Set: %v", err)
		}
		copy(buf, "CHANGED!")
		wantHit(t, ctx, s, "k", "original")
	}},
	{"ttl expires", func(t *testing.T, ctx context.Context, s cache.Store) {
		mustSet(t, ctx, s, "short", "v", ttl)
		mustSet(t, ctx, s, "submilli", "v", 300*time.Microsecond) // rounded up to 1ms by Redis
		mustSet(t, ctx, s, "long", "v", time.Minute)
		mustSet(t, ctx, s, "zero", "v", 0)
		mustSet(t, ctx, s, "negative", "v", -time.Second)
		wantHit(t, ctx, s, "short", "v")
		time.Sleep(wait)
		wantMiss(t, ctx, s, "short")
		wantMiss(t, ctx, s, "submilli")
		wantHit(t, ctx, s, "long", "v")
		wantHit(t, ctx, s, "zero", "v")
		wantHit(t, ctx, s, "negative", "v")
	}},
	{"set replaces the ttl", func(t *testing.T, ctx context.Context, s cache.Store) {
		mustSet(t, ctx, s, "lengthened", "old", ttl)
		mustSet(t, ctx, s, "lengthened", "new", time.Minute)
		mustSet(t, ctx, s, "unexpiring", "old", ttl)
		mustSet(t, ctx, s, "unexpiring", "new", -1) // not Redis's KEEPTTL
		mustSet(t, ctx, s, "shortened", "old", 0)
		mustSet(t, ctx, s, "shortened", "new", ttl)
		time.Sleep(wait)
		wantHit(t, ctx, s, "lengthened", "new")
		wantHit(t, ctx, s, "unexpiring", "new")
		wantMiss(t, ctx, s, "shortened")
	}},
	{"delete", func(t *testing.T, ctx context.Context, s cache.Store) {
		for _, k := range []string{"a", "b", "c"} {
			mustSet(t, ctx, s, k, k, time.Minute)
		}
		if err := s.Delete(ctx, "a", "b", "absent"); err != nil {
			t.Fatalf("Delete(a, b, absent) = %v, want nil", err)
		}
		if err := s.Delete(ctx); err != nil {
			t.Fatalf("Delete() = %v, want nil", err)
		}
		wantMiss(t, ctx, s, "a")
		wantMiss(t, ctx, s, "b")
		wantHit(t, ctx, s, "c", "c")
	}},
	{"delete prefix of one customer", func(t *testing.T, ctx context.Context, s cache.Store) {
		mine := []string{
			keys.Order("10001", "1"),
			keys.Invoice("10001", "2025-06-01", "2"),
			keys.OrderList("10001", "2025-01-01", "2025-12-31", 1, 25),
		}
		others := []string{
			keys.Order("1000", "11"),
			keys.Order("100011", "1"),
			keys.Order("x10001", "1"),
			keys.OrderRecord("1"),
			"10001",
		}
		for _, k := range append(mine, others...) {
			mustSet(t, ctx, s, k, k, time.Minute)
		}
		wantDeleted(t, ctx, s, keys.CustomerPrefix("10001"), len(mine))
		for _, k := range mine {
			wantMiss(t, ctx, s, k)
		}
		for _, k := range others {
			wantHit(t, ctx, s, k, k)
		}
		wantDeleted(t, ctx, s, keys.CustomerPrefix("10001"), 0)
	}},
	{"delete prefix is literal, not a pattern", func(t *testing.T, ctx context.Context, s cache.Store) {
		all := []string{"a*:1", "ab:1", "a?:1", "ax:1", "a[b]:1", "ab]:1", `a\:1`, "a:1"}
		for _, k := range all {
			mustSet(t, ctx, s, k, k, time.Minute)
		}
		for _, p := range []string{"a*", "a?", "a[b]", `a\`} {
			wantDeleted(t, ctx, s, p, 1)
		}
		for _, k := range []string{"ab:1", "ax:1", "ab]:1", "a:1"} {
			wantHit(t, ctx, s, k, k)
		}
	}},
	{"delete prefix of everything", func(t *testing.T, ctx context.Context, s cache.Store) {
		for i := range 10 {
			mustSet(t, ctx, s, strconv.Itoa(i), "v", time.Minute)
		}
		wantDeleted(t, ctx, s, "", 10)
		wantMiss(t, ctx, s, "0")
	}},
	{"delete prefix leaves out expired entries", func(t *testing.T, ctx context.Context, s cache.Store) {
		mustSet(t, ctx, s, "p:gone", "v", ttl)
		mustSet(t, ctx, s, "p:here", "v", time.Minute)
		time.Sleep(wait)
		wantDeleted(t, ctx, s, "p:", 1)
	}},
	{"delete prefix in several batches", func(t *testing.T, ctx context.Context, s cache.Store) {
		const n = 2500 // more than one SCAN/UNLINK batch of 1000
		for i := range n {
			mustSet(t, ctx, s, "many:"+strconv.Itoa(i), "v", time.Minute)
		}
		mustSet(t, ctx, s, "manx", "v", time.Minute)
		wantDeleted(t, ctx, s, "many:", n)
		wantHit(t, ctx, s, "manx", "v")
	}},
	{"ping", func(t *testing.T, ctx context.Context, s cache.Store) {
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping() = %v, want nil", err)
		}
	}},
	{"concurrent use", func(t *testing.T, ctx context.Context, s cache.Store) {
		// Each key only ever holds values naming it, so any hit can be checked.
		const workers, ops = 8, 200
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range ops {
					k := "c:" + strconv.Itoa(i%17)
					var err error
					switch (w + i) % 5 {
					case 0, 1:
						err = s.Set(ctx, k, fmt.Appendf(nil, "%s/%d", k, w), time.Minute)
					case 2:
						var v []byte
						var ok bool
						v, ok, err = s.Get(ctx, k)
						if ok && !bytes.HasPrefix(v, []byte(k+"/")) {
							t.Errorf("Get(%q) = %q, want a value for that key", k, v)
						}
					case 3:
						err = s.Delete(ctx, k)
					case 4:
						_, err = s.DeletePrefix(ctx, "c:1")
					}
					if err != nil {
						t.Errorf("op %d on %q: %v", (w+i)%5, k, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}},
}

func TestStore(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			for _, tt := range storeTests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					s := st.new(t)
					tt.run(t, t.Context(), s)
				})
			}
		})
	}
}

func mustSet(t *testing.T, ctx context.Context, s cache.Store, key, val string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx, key, []byte(val), ttl); err != nil {
		t.Fatalf("Set(%q, %s) = %v, want nil", key, ttl, err)
	}
}

func wantHit(t *testing.T, ctx context.Context, s cache.Store, key, want string) {
	t.Helper()
	got, ok, err := s.Get(ctx, key)
	if err != nil || !ok || string(got) != want {
		t.Errorf("Get(%q) = %q, %v, %v; want %q, true, nil", key, got, ok, err, want)
	}
}

func wantMiss(t *testing.T, ctx context.Context, s cache.Store, key string) {
	t.Helper()
	got, ok, err := s.Get(ctx, key)
	if err != nil || ok || got != nil {
		t.Errorf("Get(%q) = %q, %v, %v; want nil, false, nil", key, got, ok, err)
	}
}

func wantDeleted(t *testing.T, ctx context.Context, s cache.Store, prefix string, want int) {
	t.Helper()
	n, err := s.DeletePrefix(ctx, prefix)
	if err != nil || n != want {
		t.Errorf("DeletePrefix(%q) = %d, %v; want %d, nil", prefix, n, err, want)
	}
}
