// Package cachetest connects tests to a real Redis.
//
// Tests that need Redis call [Redis]. It reads REDIS_TEST_URL (or, when
// that is unset, REDIS_URL). When neither is set, or the server does not
// answer, the test is skipped, unless REQUIRE_REDIS=1, as in CI, where it
// fails instead: a CI run must not pass by skipping.
//
// Each test gets its own random key prefix, and every key under it is
// deleted when the test ends, so tests may run in parallel against one
// Redis that other programs also use.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vendre-extend/gateway/cache"
)

// timeout bounds the first ping and the clean-up of each test.
const timeout = 2 * time.Second

// failed remembers, per URL, why Redis could not be used, so that a run of
// many tests against a server that is down waits for it only once.
var failed sync.Map // url -> string

// Redis returns a client for the test Redis and a key prefix of the form
// "test:{random}:" that no other test uses. The client is closed, and the
// keys under the prefix deleted, when tb ends.
//
// Without a reachable Redis it calls tb.Skip, or tb.Fatal when
// REQUIRE_REDIS=1.
func Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		unusable(tb, "neither REDIS_TEST_URL nor REDIS_URL is set (e.g. REDIS_TEST_URL=redis://127.0.0.1:6379/0)")
		return nil, ""
	}
	if why, ok := failed.Load(url); ok {
		unusable(tb, why.(string))
		return nil, ""
	}

	opts, err := redis.ParseURL(url)
	if err != nil {
		// Not err itself: ParseURL errors may quote the URL and its password.
		why := "REDIS_TEST_URL/REDIS_URL is not a valid redis:// URL"
		failed.Store(url, why)
		unusable(tb, why)
		return nil, ""
	}
	opts.DialTimeout = timeout
	opts.DialerRetries = 1 // a local test server needs no retries; a down one fails at once
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		why := fmt.Sprintf("Redis at %s does not answer: %v", opts.Addr, err)
		failed.Store(url, why)
		unusable(tb, why)
		return nil, ""
	}
	tb.Cleanup(func() { rdb.Close() })

	prefix := "test:" + randomHex(8) + ":"
	tb.Cleanup(func() {
		// tb.Context is already done here: use a fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if _, err := cache.NewRedis(rdb, prefix).DeletePrefix(ctx, ""); err != nil {
			tb.Errorf("cachetest: deleting keys under %q: %v", prefix, err)
		}
	})
	return rdb, prefix
}

// unusable skips tb, or fails it when REQUIRE_REDIS=1.
func unusable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("REQUIRE_REDIS") == "1" {
		tb.Fatalf("cachetest: REQUIRE_REDIS=1 but %s", why)
	}
	tb.Skipf("cachetest: skipping: %s", why)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
