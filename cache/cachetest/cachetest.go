// Package cachetest connects tests to a real Redis: the shared test
// Redis (Redis), or a redis-server of the test's own (StartServer).
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
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
// REDIS_TEST_URL may name a Redis Cluster in go-redis's form
// (redis://host1:port1?addr=host2:port2, see [cache.ParseRedisURL]): the
// client is then a *redis.ClusterClient, and the prefix holds no hash tag,
// so the keys a test writes spread over the cluster's slots as they would
// in production.
//
// Without a reachable Redis it calls tb.Skip, or tb.Fatal when
// REQUIRE_REDIS=1.
func Redis(tb testing.TB) (redis.UniversalClient, string) {
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

	u, err := cache.ParseRedisURL(url)
	if err != nil {
		why := fmt.Sprintf("REDIS_TEST_URL/REDIS_URL: %v", err)
		failed.Store(url, why)
		unusable(tb, why)
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A local test server needs no retries; a down one fails at once.
	rdb, err := u.Open(ctx, cache.Timeouts{Dial: timeout, DialerRetries: 1})
	if err != nil {
		if rdb != nil {
			rdb.Close()
		}
		why := fmt.Sprintf("Redis at %s does not answer: %v", strings.Join(u.Addrs(), ","), err)
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

// Cluster reports whether rdb, from [Redis], talks to a Redis Cluster.
func Cluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
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

// Server is a throwaway redis-server of a test's own, without persistence,
// on a free loopback port: for tests that stop Redis, restart it (losing
// every key) or empty it, which must never happen to a shared Redis.
type Server struct {
	Addr string
	port int
	cmd  *exec.Cmd
}

// StartServer starts a Server and stops it when tb ends. Without a
// redis-server binary it skips tb, or fails it when REQUIRE_REDIS=1.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unusable(tb, "redis-server is not installed")
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port}
	s.Start(tb)
	tb.Cleanup(func() {
		if s.cmd != nil {
			s.Stop(tb)
		}
	})
	return s
}

// Client returns a client of s that fails fast while s is down, closed
// when tb ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Start starts s (again), empty, and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no") // #nosec G204 -- a fixed program; the port is one we picked
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s did not start", s.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills s: every key is lost.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills s and starts it again, empty: a restart without
// persistence.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop(tb)
	s.Start(tb)
}
