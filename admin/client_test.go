package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/admin"
)

const token = "admin-token-0123456789"

// gateway is a double of a gateway's admin API: it checks the token and
// answers with the request's method and URL.
func gateway(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"code":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(r.Method + " " + r.URL.RequestURI() + "\n"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCalls(t *testing.T) {
	srv := gateway(t)
	c := admin.New(srv.URL+"/", token, srv.Client())
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		call func() ([]byte, error)
		want string
	}{
		{"flush all", func() ([]byte, error) { return c.Flush(ctx, "") }, "POST /admin/cache/flush"},
		{"flush one", func() ([]byte, error) { return c.Flush(ctx, "10 01&x") }, "POST /admin/cache/flush?customer_no=10+01%26x"},
		{"pushers", func() ([]byte, error) { return c.Pushers(ctx) }, "GET /admin/pushers"},
		{"replay", func() ([]byte, error) { return c.Replay(ctx, "a/b") }, "POST /admin/pushers/a%2Fb/replay"},
		{"resume", func() ([]byte, error) { return c.ResumeERP(ctx) }, "POST /admin/erp/resume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(body)); got != tt.want {
				t.Errorf("request = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRefused: an answer that is not a 2xx is an error naming its status,
// and its body (which says why) comes back; the token is not in the error.
func TestRefused(t *testing.T) {
	srv := gateway(t)
	body, err := admin.New(srv.URL, "wrong-token-0123456789", srv.Client()).Pushers(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("Pushers with a wrong token: err = %v, want 401", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error %q holds the token", err)
	}
	if !strings.Contains(string(body), "unauthorized") {
		t.Errorf("body = %q, want the gateway's answer", body)
	}
}
