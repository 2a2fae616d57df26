package erp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkOrderFetch is one cold Order() read (token cached, connection
// kept alive) against a local server serving testdata/order_full.json: the
// client's own cost per record, without network latency.
func BenchmarkOrderFetch(b *testing.B) {
	body := fixture(b, "order_full.json")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}`))
	})
	mux.HandleFunc("GET /CustomerOrders/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, ClientID: testID, ClientSecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := c.Order(ctx, "1001"); err != nil {
			b.Fatal(err)
		}
	}
}
