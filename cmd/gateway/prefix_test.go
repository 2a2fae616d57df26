package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/cache/cachetest"
)

// TestRedisKeyPrefix: two shops' gateways on one Redis, each with its own
// REDIS_KEY_PREFIX, keep apart: what one cached the other does not serve,
// and every key each wrote starts with its prefix.
func TestRedisKeyPrefix(t *testing.T) {
	srv := cachetest.StartServer(t)
	if srv == nil {
		return
	}
	url := "redis://" + srv.Addr + "/0"
	a := "http://" + startGateway(t, map[string]string{"REDIS_URL": url, "REDIS_KEY_PREFIX": "shop-a:"})
	b := "http://" + startGateway(t, map[string]string{"REDIS_URL": url, "REDIS_KEY_PREFIX": "shop-b:"})
	get := func(base string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/orders?customer_no=10001", nil)
		req.Header.Set("X-Api-Key", "demo")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET /v1/orders = %d", res.StatusCode)
		}
		return res.Header.Get("X-Cache")
	}
	if c := get(a); c != "MISS" {
		t.Errorf("shop A's first read: X-Cache %q, want MISS", c)
	}
	if c := get(b); c != "MISS" {
		t.Errorf("shop B's first read of the same customer: X-Cache %q, want MISS (not shop A's answer)", c)
	}
	keys, err := srv.Client(t).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var na, nb int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "shop-a:gw:"):
			na++
		case strings.HasPrefix(k, "shop-b:gw:"):
			nb++
		default:
			t.Errorf("key %q has neither shop's prefix", k)
		}
	}
	if na == 0 || nb == 0 {
		t.Errorf("keys under shop-a:gw: %d, shop-b:gw: %d; want both", na, nb)
	}
}
