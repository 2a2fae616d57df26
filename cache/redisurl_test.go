package cache_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vendre-extend/gateway/cache"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
		addrs   []string
		bad     string // a part of the error; "" for none
	}{
		{url: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{url: "rediss://user:pw@redis.example:6380/2", addrs: []string{"redis.example:6380"}},
		{url: "unix:///run/redis.sock", addrs: []string{"/run/redis.sock"}},
		{url: "redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", cluster: true,
			addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}},
		{url: "rediss://:pw@10.0.0.1:7000/0?addr=10.0.0.2:7000", cluster: true, addrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}},
		{url: "redis://10.0.0.1:7000/1?addr=10.0.0.2:7000", bad: "only database 0"},
		{url: "unix:///run/redis.sock?addr=10.0.0.2:7000", bad: "a cluster is redis://"},
		{url: "redis://10.0.0.1:7000?addr=nowhere", bad: "addr param"},
		{url: "redis://10.0.0.1:7000?addr=10.0.0.2:7000&colour=red", bad: "unexpected option: colour"},
		{url: "http://127.0.0.1:6379", bad: "scheme"},
		{url: "redis://127.0.0.1:6379/x", bad: "database number"},
		{url: "redis://user:s3cret@[::1", bad: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := cache.ParseRedisURL(tt.url)
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("ParseRedisURL(%q) error = %v, want one saying %q without the password", tt.url, err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRedisURL(%q): %v", tt.url, err)
			}
			if u.Cluster() != tt.cluster || !slices.Equal(u.Addrs(), tt.addrs) {
				t.Errorf("ParseRedisURL(%q) = cluster %v %v, want %v %v", tt.url, u.Cluster(), u.Addrs(), tt.cluster, tt.addrs)
			}
		})
	}
}

// TestClusterStateReload: a cluster client reads the slot map again every
// ClusterStateReload, so it finds a promoted replica within a second
// rather than after go-redis's minute.
func TestClusterStateReload(t *testing.T) {
	u, err := cache.ParseRedisURL("redis://127.0.0.1:1?addr=127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	rdb, _ := u.Open(ctx, cache.Timeouts{}) // nothing listens: the ping fails, the client is made
	defer rdb.Close()
	if got := rdb.(*redis.ClusterClient).Options().ClusterStateReloadInterval; got != cache.ClusterStateReload {
		t.Errorf("ClusterStateReloadInterval = %v, want %v", got, cache.ClusterStateReload)
	}
}
