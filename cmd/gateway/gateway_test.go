package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// startGateway runs the gateway as main would, with env as its
// environment and -listen-addr 127.0.0.1:0, until the test ends. It
// returns the address of the HTTP listener; listeners, if not nil, is
// given every listener's address by name ("http", "metrics").
func startGateway(t *testing.T, env map[string]string, listeners ...map[string]string) string {
	t.Helper()
	cfg, _, err := parseConfig("gateway", []string{"-listen-addr", "127.0.0.1:0"}, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(name, a string) {
			for _, m := range listeners {
				m[name] = a
			}
			if name == "http" {
				addr <- a
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve after shutdown = %v, want nil", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("gateway did not shut down")
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		t.Fatalf("serve ended at start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start listening")
	}
	return ""
}

// TestAuthFailureLimitSetting: AUTH_FAILURE_LIMIT sets how many failed
// attempts a source may make (here 20 a minute: 2 at once), and off turns
// the throttle off; TRUSTED_PROXIES names proxies whose X-Forwarded-For
// is believed.
func TestAuthFailureLimitSetting(t *testing.T) {
	try := func(addr, xff string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/orders?customer_no=10001", nil)
		req.Header.Set("X-Api-Key", "wrong-key-0123456789")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	strict := startGateway(t, map[string]string{"AUTH_FAILURE_LIMIT": "20/1m"})
	for i, want := range []int{401, 401, 429} {
		if got := try(strict, "198.51.100.7"); got != want {
			t.Errorf("attempt %d with AUTH_FAILURE_LIMIT=20/1m = %d, want %d", i+1, got, want)
		}
	}
	if got := try(strict, "198.51.100.8"); got != http.StatusUnauthorized {
		t.Errorf("another client behind the same (loopback) proxy = %d, want 401", got)
	}
	off := startGateway(t, map[string]string{"AUTH_FAILURE_LIMIT": "off"})
	for i := range 30 {
		if got := try(off, ""); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d with AUTH_FAILURE_LIMIT=off = %d, want 401", i+1, got)
		}
	}
}
