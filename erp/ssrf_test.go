package erp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// TestNoSSRF: the client only ever fetches from BaseURL's host. A redirect
// (to anywhere) is not followed, and record numbers that look like URLs
// or paths stay one escaped path segment under BaseURL.
func TestNoSSRF(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = io.WriteString(w, "%PDF-1.4 not yours")
	}))
	defer other.Close()

	sim := extendsim.New(extendsim.Options{Customers: 1})
	var mu sync.Mutex
	var paths []string
	erpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/CustomerInvoices/redirect") {
			http.Redirect(w, r, other.URL+"/evil.pdf", http.StatusFound)
			return
		}
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	defer erpSrv.Close()
	c, err := erp.New(erp.Config{BaseURL: erpSrv.URL, ClientID: extendsim.DefaultClientID, ClientSecret: extendsim.DefaultClientSecret, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if _, err := c.InvoicePDF(ctx, "redirect"); !errors.Is(err, erp.ErrBadResponse) {
		t.Errorf("a redirected PDF: err = %v, want ErrBadResponse", err)
	}
	for _, n := range []string{other.URL + "/x", "//" + strings.TrimPrefix(other.URL, "http://") + "/x", "../../x", "a/../../b", "%2e%2e/x", "x?y=1#z"} {
		_, _ = c.Order(ctx, n)
		_, _ = c.InvoicePDF(ctx, n)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("%d requests reached a host other than the ERP", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if p == "/oauth/token" {
			continue
		}
		if !strings.HasPrefix(p, "/CustomerOrders/") && !strings.HasPrefix(p, "/CustomerInvoices/") {
			t.Errorf("the ERP got path %q, outside the collections", p)
		}
		if rest := p[strings.Index(p[1:], "/")+2:]; strings.Count(strings.TrimSuffix(rest, "/pdf"), "/") != 0 {
			t.Errorf("path %q: the record number is more than one segment", p)
		}
	}
}
