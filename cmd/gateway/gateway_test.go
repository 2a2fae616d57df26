package main

import (
	"context"
	"io"
	"log/slog"
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
