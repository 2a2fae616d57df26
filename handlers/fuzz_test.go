package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/handlers"
	"github.com/vendre-extend/gateway/ratelimit"
	"github.com/vendre-extend/gateway/webhook"
)

// FuzzDocument drives GET /v1/documents/{token} with any token, or with a
// genuine token and any file from the ERP: the answer is a whole PDF typed
// as one, or one of the contract's JSON errors, never a 500 and never
// anything else under the gateway's origin.
func FuzzDocument(f *testing.F) {
	for _, s := range []struct {
		token string
		body  []byte
	}{
		{"", bigPDF(1 << 10)},
		{"", []byte("<html><script>alert(1)</script></html>")},
		{"", []byte("%PDF")},
		{"", nil},
		{"abc.def", nil},
		{"ZDEKMTAwMDEKNTAwMTQxCmxwNHBj.AAAA", nil},
		{strings.Repeat("x", 600), nil},
		{"%zz", nil},
	} {
		f.Add(s.token, s.body)
	}
	var file atomic.Pointer[[]byte]
	ev := newEnv(f, withERP(serveFile(func() []byte { return *file.Load() })))
	inv := ev.sim.Cases().PaidInvoice
	genuine := ev.links.Token(showcase, inv, ev.now.Add(1e12))
	f.Fuzz(func(t *testing.T, token string, body []byte) {
		file.Store(&body)
		_, _ = ev.svc.FlushAll(context.Background()) // the file is fetched, not kept from before
		if token == "" {
			token = genuine
		}
		rec := ev.do(t, http.MethodGet, "/v1/documents/"+url.PathEscape(token), nil)
		switch rec.Code {
		case http.StatusOK:
			if !bytes.HasPrefix(rec.Body.Bytes(), []byte("%PDF-")) || !bytes.Equal(rec.Body.Bytes(), body) ||
				rec.Header().Get("Content-Type") != "application/pdf" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("200 with %q, %q, nosniff %q: want the ERP's whole PDF, typed", rec.Body.Bytes()[:min(8, rec.Body.Len())],
					rec.Header().Get("Content-Type"), rec.Header().Get("X-Content-Type-Options"))
			}
		case http.StatusNotFound, http.StatusBadGateway, http.StatusBadRequest:
			var e api.Error
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" {
				t.Fatalf("%d is not the contract's JSON error: %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("token %q, file %q: status %d %s", token, body[:min(16, len(body))], rec.Code, rec.Body)
		}
	})
}

// FuzzExtendWebhook posts any body with any signature, or any body signed
// with the secret, to POST /webhooks/extend: the answer is one of the
// contract's (401, 400, 413, 503 without Redis), never a 500 or a panic.
func FuzzExtendWebhook(f *testing.F) {
	for _, s := range []struct {
		body   string
		signed bool
		sig    string
	}{
		{`{"Id":"1","Properties":{"NotificationId":"n1"},"Notifications":[{"Action":"OrderPicked","Details":{"OrderNumber":"1"}}]}`, true, ""},
		{`{"Id":"1","Notifications":null}`, true, ""},
		{`{"Notifications":[]}`, true, ""},
		{`[1,2,3]`, true, ""},
		{`{"Id":"` + strings.Repeat("x", 300) + `","Notifications":[]}`, true, ""},
		{`{}`, false, "sha256=00"},
		{`{}`, false, "sha256=" + strings.Repeat("zz", 32)},
		{`{}`, false, ""},
	} {
		f.Add([]byte(s.body), s.signed, s.sig)
	}
	const secret = "webhook-secret-0123456789"
	e := handlers.New(handlers.Deps{
		ExtendWebhooks: webhook.NewIntake(nil, []string{secret}, webhook.Options{}), // no Redis: a valid delivery is a 503
		AuthThrottle:   handlers.NewAuthThrottle(ratelimit.Limit{}, nil),            // off: the fuzzer fails far more often than anyone may
	})
	f.Fuzz(func(t *testing.T, body []byte, signed bool, sig string) {
		if signed {
			sig = webhook.Sign(body, secret)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/extend", bytes.NewReader(body))
		req.Header.Set("ms-signature", sig)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		var want []int
		switch {
		case len(body) > webhook.MaxBody:
			want = []int{http.StatusRequestEntityTooLarge}
		case signed:
			want = []int{http.StatusBadRequest, http.StatusServiceUnavailable}
		default:
			want = []int{http.StatusUnauthorized, http.StatusBadRequest, http.StatusServiceUnavailable} // a fuzzed signature may be right
		}
		var e2 api.Error
		if !slices.Contains(want, rec.Code) || json.Unmarshal(rec.Body.Bytes(), &e2) != nil || e2.Error.Code == "" {
			t.Fatalf("POST /webhooks/extend (signed %v) = %d %s, want one of %v with the contract's JSON", signed, rec.Code, rec.Body, want)
		}
	})
}
