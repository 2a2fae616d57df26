package handlers_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp/extendsim"
	"github.com/vendre-extend/gateway/handlers"
)

// shapeEnv is a gateway set up as a shop whose Vendre sends its key in
// X-Vendre-Token and says kundnr, fran and till (docs/requests.md).
func shapeEnv(t *testing.T) *env {
	t.Helper()
	aliases, err := handlers.ParseAliases([]string{"kundnr=customer_no", "fran=from", "till=to"})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, withShape(handlers.ShapeConfig{KeyHeader: "X-Vendre-Token", Aliases: aliases}))
}

const (
	formType = "application/x-www-form-urlencoded"
	jsonType = "application/json"
)

// TestRequestShapes: every Vendre call gets the same answer in every
// request shape: GET with each key header, POST with a form or JSON body
// holding the parameters and api_key, aliases, offset/limit paging, and
// HEAD (the same status and fields, no body). The first shape fills the
// cache; every other one is a HIT, so caching does not depend on the
// shape either.
func TestRequestShapes(t *testing.T) {
	ev := shapeEnv(t)
	cs := ev.sim.Cases()
	type call struct {
		path   string
		params [][2]string // in order; a JSON body takes page numbers as numbers
	}
	c := extendsim.CustomerShowcase
	calls := []call{
		{"/v1/orders", [][2]string{{"customer_no", c}, {"from", "2024-01-01"}, {"to", "2026-11-20"}, {"page", "1"}, {"per_page", "5"}}},
		{"/v1/orders/" + cs.DeliveredOrder, [][2]string{{"customer_no", c}}},
		{"/v1/invoices", [][2]string{{"customer_no", c}, {"page", "2"}, {"per_page", "3"}}},
		{"/v1/invoices/" + cs.PaidInvoice, [][2]string{{"customer_no", c}}},
		{"/v1/backorders", [][2]string{{"customer_no", c}}},
		{"/v1/credit-invoices", [][2]string{{"customer_no", c}}},
		{"/v1/addresses", [][2]string{{"customer_no", c}}},
		{"/v1/prices", [][2]string{{"customer_no", c}, {"products", pVest + ",NO-SUCH"}}},
		{"/v1/stock", [][2]string{{"products", pVest}, {"warehouse", extendsim.WarehouseMain}}},
	}
	query := func(ps [][2]string, rename map[string]string) string {
		v := url.Values{}
		for _, p := range ps {
			name := p[0]
			if r, ok := rename[name]; ok {
				name = r
			}
			v.Set(name, p[1])
		}
		return v.Encode()
	}
	jsonBody := func(ps [][2]string, key string) string {
		parts := []string{`"api_key":` + strconv.Quote(key)}
		for _, p := range ps {
			v := strconv.Quote(p[1])
			if p[0] == "page" || p[0] == "per_page" {
				v = p[1] // a JSON number
			}
			parts = append(parts, strconv.Quote(p[0])+":"+v)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	aliases := map[string]string{"customer_no": "kundnr", "from": "fran", "to": "till"}
	for _, cl := range calls {
		t.Run(cl.path, func(t *testing.T) {
			base := ev.do(t, http.MethodGet, cl.path+"?"+query(cl.params, nil), map[string]string{"X-Api-Key": testKey})
			if base.Code != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200: %s", cl.path, base.Code, base.Body)
			}
			calls := erpCalls(ev.sim)
			shapes := []struct {
				name, method, target string
				header               map[string]string
				body                 string
			}{
				{"bearer", "GET", cl.path + "?" + query(cl.params, nil), map[string]string{"Authorization": "Bearer " + testKey}, ""},
				{"bearer lower case", "GET", cl.path + "?" + query(cl.params, nil), map[string]string{"Authorization": "bearer " + testKey}, ""},
				{"VENDRE_KEY_HEADER", "GET", cl.path + "?" + query(cl.params, nil), map[string]string{"X-Vendre-Token": testKey}, ""},
				{"aliases", "GET", cl.path + "?" + query(cl.params, aliases), map[string]string{"X-Api-Key": testKey}, ""},
				{"POST query", "POST", cl.path + "?" + query(cl.params, nil), map[string]string{"X-Api-Key": testKey}, ""},
				{"POST form", "POST", cl.path, map[string]string{"Content-Type": formType},
					query(append(cl.params, [2]string{"api_key", testKey}), nil)},
				{"POST form aliases", "POST", cl.path, map[string]string{"Content-Type": formType + "; charset=UTF-8"},
					query(append(cl.params, [2]string{"api_key", testKey}), aliases)},
				{"POST JSON", "POST", cl.path, map[string]string{"Content-Type": jsonType}, jsonBody(cl.params, testKey)},
				{"POST JSON, key in header", "POST", cl.path, map[string]string{"Content-Type": jsonType + "; charset=utf-8", "Authorization": "Bearer " + testKey},
					strings.Replace(jsonBody(cl.params, testKey), `"api_key":"`+testKey+`",`, "", 1)},
				{"POST split", "POST", cl.path + "?" + query(cl.params[:1], nil), map[string]string{"Content-Type": formType, "X-Vendre-Token": testKey},
					query(cl.params[1:], nil)},
			}
			if strings.Contains(cl.path, "orders") && len(cl.params) > 3 {
				// page 1 of 5 is offset 0, limit 5
				shapes = append(shapes, struct {
					name, method, target string
					header               map[string]string
					body                 string
				}{"offset/limit", "GET", cl.path + "?customer_no=" + c + "&from=2024-01-01&to=2026-11-20&offset=0&limit=5", map[string]string{"X-Api-Key": testKey}, ""})
			}
			for _, s := range shapes {
				rec := ev.send(t, s.method, s.target, s.header, s.body)
				if rec.Code != http.StatusOK || rec.Body.String() != base.Body.String() {
					t.Errorf("%s: %s %s = %d %s\nwant 200 %s", s.name, s.method, s.target, rec.Code, rec.Body, base.Body)
				}
				if got := rec.Header().Get("X-Cache"); got != "HIT" {
					t.Errorf("%s: X-Cache = %q, want HIT (the GET filled the cache)", s.name, got)
				}
			}
			head := ev.do(t, http.MethodHead, cl.path+"?"+query(cl.params, nil), map[string]string{"X-Api-Key": testKey})
			if head.Code != http.StatusOK || head.Body.Len() != 0 ||
				head.Header().Get("Content-Type") != "application/json; charset=utf-8" ||
				head.Header().Get("Content-Length") != strconv.Itoa(base.Body.Len()) || head.Header().Get("X-Cache") != "HIT" {
				t.Errorf("HEAD = %d %v body %q, want 200, the GET's fields and Content-Length %d, no body", head.Code, head.Header(), head.Body, base.Body.Len())
			}
			if n := erpCalls(ev.sim) - calls; n != 0 {
				t.Errorf("the other shapes made %d ERP calls, want 0", n)
			}
		})
	}
}

// TestRequestShapeErrors: bad shapes get the contract's JSON errors, with
// the charset, before any ERP call.
func TestRequestShapeErrors(t *testing.T) {
	ev := shapeEnv(t)
	c := "customer_no=" + extendsim.CustomerShowcase
	key := map[string]string{"X-Api-Key": testKey}
	form := map[string]string{"Content-Type": formType, "X-Api-Key": testKey}
	js := map[string]string{"Content-Type": jsonType, "X-Api-Key": testKey}
	with := func(h map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range h {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, method, target string
		header               map[string]string
		body                 string
		status               int
		code, message        string
	}{
		{"key in a text body", "POST", "/v1/orders", map[string]string{"Content-Type": "text/plain"}, "api_key=" + testKey + "&" + c, 415, "invalid_request", "application/json"},
		{"key in a body of no type", "POST", "/v1/orders", nil, "api_key=" + testKey + "&" + c, 415, "invalid_request", "application/json"},
		{"JSON in Latin-1", "POST", "/v1/orders", with(js, "Content-Type", jsonType+"; charset=iso-8859-1"), `{"customer_no":"10001"}`, 415, "invalid_request", "UTF-8"},
		{"body over its limit", "POST", "/v1/prices", form, c + "&products=" + strings.Repeat("A", handlers.MaxBody), 413, "invalid_request", "bytes"},
		{"in query and body", "POST", "/v1/orders?" + c, form, c, 400, "invalid_request", "customer_no is given more than once"},
		{"twice in a form", "POST", "/v1/orders", form, c + "&page=1&page=2", 400, "invalid_request", "page is given more than once"},
		{"twice in JSON", "POST", "/v1/orders", js, `{"customer_no":"10001","customer_no":"10002"}`, 400, "invalid_request", "customer_no is given more than once"},
		{"name and alias", "GET", "/v1/orders?" + c + "&kundnr=10001", key, "", 400, "invalid_request", "customer_no is given more than once (as customer_no and as kundnr)"},
		{"JSON array value", "POST", "/v1/prices", js, `{"customer_no":"10001","products":["A","B"]}`, 400, "invalid_request", "products must be a JSON string or number"},
		{"JSON true", "POST", "/v1/orders", js, `{"customer_no":true}`, 400, "invalid_request", "customer_no"},
		{"JSON array", "POST", "/v1/orders", js, `["customer_no","10001"]`, 400, "invalid_request", "JSON object"},
		{"JSON trailing", "POST", "/v1/orders", js, `{"customer_no":"10001"} {}`, 400, "invalid_request", "JSON object"},
		{"JSON cut short", "POST", "/v1/orders", js, `{"customer_no":"10001"`, 400, "invalid_request", "JSON object"},
		{"JSON number with leading zeros", "POST", "/v1/orders", js, `{"customer_no":00042}`, 400, "invalid_request", "JSON object"},
		{"bad form", "POST", "/v1/orders", form, "customer_no=%zz", 400, "invalid_request", "form"},
		{"bad query", "GET", "/v1/orders?customer_no=%zz", key, "", 400, "invalid_request", "query"},
		{"key twice", "GET", "/v1/orders?" + c, with(key, "Authorization", "Bearer "+testKey), "", 400, "invalid_request", "API key is given more than once"},
		{"key in header and body", "POST", "/v1/orders", form, c + "&api_key=" + testKey, 400, "invalid_request", "API key is given more than once"},
		{"key in the URL", "GET", "/v1/orders?" + c + "&api_key=" + testKey, nil, "", 400, "invalid_request", "api_key must not be in the URL"},
		{"wrong key in the body", "POST", "/v1/orders", map[string]string{"Content-Type": formType}, c + "&api_key=nope", 401, "unauthorized", ""},
		{"offset not a multiple", "GET", "/v1/orders?" + c + "&offset=10&limit=25", key, "", 400, "invalid_request", "offset"},
		{"offset negative", "GET", "/v1/orders?" + c + "&offset=-25", key, "", 400, "invalid_request", "offset"},
		{"limit 101", "GET", "/v1/invoices?" + c + "&limit=101", key, "", 400, "invalid_request", "limit"},
		{"offset and page", "GET", "/v1/orders?" + c + "&offset=0&page=1", key, "", 400, "invalid_request", "offset"},
		{"unknown route under an order", "GET", "/v1/orders/1/extra?" + c, key, "", 404, "not_found", ""},
		{"unknown route under an invoice", "POST", "/v1/invoices/1/x", key, "", 404, "not_found", ""},
		{"unknown route", "GET", "/v1/nothing", nil, "", 404, "not_found", ""},
		{"no key", "POST", "/v1/orders", map[string]string{"Content-Type": jsonType}, `{"customer_no":"10001"}`, 401, "unauthorized", ""},
		{"wrong method", "DELETE", "/v1/orders?" + c, key, "", 405, "invalid_request", "method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ev.send(t, tt.method, tt.target, tt.header, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("%s %.60s = %d, want %d: %s", tt.method, tt.target, rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want application/json; charset=utf-8", ct)
			}
			got := decode[api.Error](t, rec)
			if got.Error.Code != tt.code || !strings.Contains(got.Error.Message, tt.message) {
				t.Errorf("error = %+v, want code %q and a message with %q", got.Error, tt.code, tt.message)
			}
		})
	}
	if n := erpCalls(ev.sim); n != 0 {
		t.Errorf("bad shapes made %d ERP calls, want 0", n)
	}
}

// TestHeadErrors: HEAD gets the status and fields GET would, without a
// body, errors included.
func TestHeadErrors(t *testing.T) {
	ev := newEnv(t)
	for _, target := range []string{"/v1/orders?customer_no=10001", "/v1/nothing", "/v1/orders?customer_no=a*b", "/healthz", "/readyz"} {
		get := ev.do(t, http.MethodGet, target, nil)
		head := ev.do(t, http.MethodHead, target, nil)
		if head.Code != get.Code || head.Body.Len() != 0 || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") ||
			head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s = %d %v %q; GET = %d %v (%d bytes)", target, head.Code, head.Header(), head.Body, get.Code, get.Header(), get.Body.Len())
		}
	}
}

// erpCalls counts the calls that reached the simulated ERP's data (the
// token endpoint aside).
func erpCalls(sim *extendsim.Server) int {
	n := 0
	for _, op := range []string{extendsim.OpOrderList, extendsim.OpOrder, extendsim.OpInvoiceList, extendsim.OpInvoice,
		extendsim.OpInvoicePDF, extendsim.OpAvailability, extendsim.OpPrices, extendsim.OpCustomer} {
		n += sim.Calls(op)
	}
	return n
}

// TestStrictERPAnswers: an ERP list answer without Items or TotalCount,
// and a record of another number than the one asked for, are a 502 and
// never cached: once the ERP answers properly, the next request is a
// MISS with the real answer.
func TestStrictERPAnswers(t *testing.T) {
	var bend atomic.Value // func(path string, body []byte) []byte, or nil
	ev := newEnv(t, withERP(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, _ := bend.Load().(func(string, []byte) []byte)
			if f == nil {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(f(r.URL.Path, rec.Body.Bytes()))
		})
	}))
	cs := ev.sim.Cases()
	tests := []struct {
		name, target string
		bend         func(path string, body []byte) []byte
	}{
		{"orders without Items", "/v1/orders?customer_no=10001", func(p string, b []byte) []byte {
			if p != "/CustomerOrders" {
				return b
			}
			return []byte(`{"Page":1,"PageSize":25,"TotalCount":0}`)
		}},
		{"invoices without TotalCount", "/v1/invoices?customer_no=10001", func(p string, b []byte) []byte {
			if p != "/CustomerInvoices" {
				return b
			}
			return bytes.Replace(b, []byte(`"TotalCount"`), []byte(`"Total"`), 1)
		}},
		{"another order's record", "/v1/orders/" + cs.DeliveredOrder + "?customer_no=10001", func(p string, b []byte) []byte {
			return bytes.Replace(b, []byte(`"OrderNumber":"`+cs.DeliveredOrder+`"`), []byte(`"OrderNumber":"`+cs.PickedOrder+`"`), 1)
		}},
		{"another invoice's record", "/v1/invoices/" + cs.PaidInvoice + "?customer_no=10001", func(p string, b []byte) []byte {
			return bytes.Replace(b, []byte(`"InvoiceNumber":"`+cs.PaidInvoice+`"`), []byte(`"InvoiceNumber":"0`+cs.PaidInvoice+`"`), 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Cold: a record kept by an earlier list would spare the call.
			if _, err := ev.svc.FlushAll(ctx()); err != nil {
				t.Fatal(err)
			}
			bend.Store(tt.bend)
			rec := ev.get(t, tt.target)
			bend.Store((func(string, []byte) []byte)(nil))
			if rec.Code != http.StatusBadGateway || decode[api.Error](t, rec).Error.Code != "bad_gateway" {
				t.Fatalf("GET %s with a bent ERP = %d %s, want 502 bad_gateway", tt.target, rec.Code, rec.Body)
			}
			rec = ev.get(t, tt.target)
			if rec.Code != http.StatusOK || rec.Header().Get("X-Cache") != "MISS" {
				t.Errorf("GET %s after = %d X-Cache %q, want 200 MISS (the 502 was not cached)", tt.target, rec.Code, rec.Header().Get("X-Cache"))
			}
		})
	}
}
