package cachetest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/cache/cachetest"
)

// TestRedisCleansUp: the keys a test wrote under its prefix are gone when
// it ends, on every node of a cluster.
func TestRedisCleansUp(t *testing.T) {
	ctx := context.Background()
	outer, _ := cachetest.Redis(t)
	var keys []string
	t.Run("writer", func(t *testing.T) {
		rdb, prefix := cachetest.Redis(t)
		slots := map[int64]bool{}
		for i := range 64 {
			k := fmt.Sprintf("%skey:%d", prefix, i)
			if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
			if cachetest.Cluster(rdb) {
				slots[rdb.ClusterKeySlot(ctx, k).Val()] = true
			}
		}
		if cachetest.Cluster(rdb) && len(slots) < 32 {
			t.Errorf("64 keys under %q fell into %d slots, want them spread (no hash tag in the prefix)", prefix, len(slots))
		}
	})
	for _, k := range keys {
		if n := outer.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s outlived its test", k)
		}
	}
}

// TestOpenFindsCluster: a one-server URL naming a node of a Redis Cluster
// opens the cluster; one naming a plain server opens that server.
func TestOpenFindsCluster(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := cachetest.Redis(t)
	var addr string
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		addr = c.Options().Addrs[0]
	case *redis.Client:
		addr = c.Options().Addr
		if c.Options().Network == "unix" || c.Options().Password != "" {
			t.Skip("REDIS_TEST_URL is not a plain TCP address")
		}
	}
	u, err := cache.ParseRedisURL("redis://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.Open(ctx, cache.Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if _, isCluster := got.(*redis.ClusterClient); isCluster != cachetest.Cluster(rdb) {
		t.Fatalf("Open(redis://%s) gave a %T for a %T", addr, got, rdb)
	}
	for i := range 16 { // keys of many slots, some on other nodes than addr
		k := fmt.Sprintf("%sopen:%d", prefix, i)
		if err := got.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET through Open(redis://%s): %v", addr, err)
		}
	}
}
