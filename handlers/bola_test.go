package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vendre-extend/gateway/doclink"
	"github.com/vendre-extend/gateway/erp/extendsim"
)

// bolaKind says how a /v1 route is checked for broken object-level
// authorization.
type bolaKind int

const (
	bolaList     bolaKind = iota // customer-scoped answer: nothing of B in A's
	bolaOrder                    // /{id}: B's order ids are 404 for A
	bolaInvoice                  // /{id}: B's invoice ids are 404 for A
	bolaDocument                 // /{token}: only a token for the owner opens it
	bolaPublic                   // not customer-scoped by contract
)

// bolaMatrix lists every /v1 route of the contract. A route registered
// later and missing here fails TestBOLA: add it with its kind.
var bolaMatrix = map[string]struct {
	kind  bolaKind
	query string // extra query parameters
}{
	"/v1/orders":           {kind: bolaList},
	"/v1/invoices":         {kind: bolaList},
	"/v1/credit-invoices":  {kind: bolaList},
	"/v1/backorders":       {kind: bolaList},
	"/v1/addresses":        {kind: bolaList},
	"/v1/prices":           {kind: bolaList, query: "&products=" + "SK-3102,FA-8102"},
	"/v1/orders/:id":       {kind: bolaOrder},
	"/v1/invoices/:id":     {kind: bolaInvoice},
	"/v1/documents/:token": {kind: bolaDocument},
	"/v1/stock":            {kind: bolaPublic}, // stock is the same for everybody
}

// TestBOLA: customer A can never read customer B's data, on any /v1 route,
// neither cold nor after B's answer is cached (in memory or in Redis,
// shared as replicas share it), nor through a document token.
func TestBOLA(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var opts []envOption
			if store == "redis" {
				opts = append(opts, withRedis())
			}
			ev := newEnv(t, opts...)
			a, b := extendsim.CustomerShowcase, extendsim.CustomerOther
			secretsOfB := map[string]bool{b: true}
			for _, n := range ev.sim.OrderNumbers(b) {
				secretsOfB[n] = true
			}
			for _, n := range ev.sim.InvoiceNumbers(b) {
				secretsOfB[n] = true
			}
			seen := 0
			for _, r := range ev.e.Routes() {
				if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/v1/") {
					continue
				}
				m, ok := bolaMatrix[r.Path]
				if !ok {
					t.Errorf("route %s %s is not in the BOLA matrix (bola_test.go): add it", r.Method, r.Path)
					continue
				}
				seen++
				t.Run(strings.ReplaceAll(r.Path[1:], "/", "_"), func(t *testing.T) {
					switch m.kind {
					case bolaList:
						checkList(t, ev, r.Path, m.query, a, b, secretsOfB)
					case bolaOrder:
						checkDetail(t, ev, "/v1/orders/", a, b, ev.sim.OrderNumbers(a), ev.sim.OrderNumbers(b))
					case bolaInvoice:
						checkDetail(t, ev, "/v1/invoices/", a, b, ev.sim.InvoiceNumbers(a), ev.sim.InvoiceNumbers(b))
					case bolaDocument:
						checkDocument(t, ev, a, b)
					}
				})
			}
			if seen < 5 {
				t.Errorf("only %d /v1 routes checked, want at least the five of the contract", seen)
			}
		})
	}
}

// checkList: A's answer is the same before and after B's is cached, and
// holds no number of B's.
func checkList(t *testing.T, ev *env, path, extra, a, b string, secretsOfB map[string]bool) {
	t.Helper()
	target := func(c string) string { return path + "?customer_no=" + url.QueryEscape(c) + extra }
	// A first, cold; then B (cached); then A again.
	cold := ev.get(t, target(a))
	if rec := ev.get(t, target(b)); rec.Code != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200: %s", target(b), rec.Code, rec.Body)
	}
	if rec := ev.get(t, target(b)); rec.Header().Get("X-Cache") != "HIT" {
		t.Logf("GET %s second time: X-Cache %q", target(b), rec.Header().Get("X-Cache"))
	}
	warm := ev.get(t, target(a))
	if cold.Code != http.StatusOK || warm.Code != http.StatusOK {
		t.Fatalf("GET %s = %d then %d, want 200", target(a), cold.Code, warm.Code)
	}
	if cold.Body.String() != warm.Body.String() {
		t.Errorf("A's answer changed once B's was cached:\nbefore %s\nafter  %s", cold.Body, warm.Body)
	}
	var v any
	if err := json.Unmarshal(warm.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	walkStrings(v, func(s string) {
		if secretsOfB[s] {
			t.Errorf("A's answer of %s holds %q, which is B's", path, s)
		}
	})
}

// checkDetail: every id of B's is 404 for A, before and after B read it;
// A's own ids are 200.
func checkDetail(t *testing.T, ev *env, prefix, a, b string, ofA, ofB []string) {
	t.Helper()
	if len(ofA) == 0 || len(ofB) == 0 {
		t.Fatalf("sample data: A has %d, B has %d records", len(ofA), len(ofB))
	}
	for _, id := range ofB {
		if rec := ev.get(t, prefix+id+"?customer_no="+a); rec.Code != http.StatusNotFound {
			t.Errorf("cold: A reads B's %s = %d, want 404: %s", id, rec.Code, rec.Body)
		}
		if rec := ev.get(t, prefix+id+"?customer_no="+b); rec.Code != http.StatusOK {
			t.Errorf("B reads its %s = %d, want 200", id, rec.Code)
		}
		if rec := ev.get(t, prefix+id+"?customer_no="+a); rec.Code != http.StatusNotFound {
			t.Errorf("after B's read: A reads B's %s = %d, want 404: %s", id, rec.Code, rec.Body)
		}
	}
	if rec := ev.get(t, prefix+ofA[0]+"?customer_no="+a); rec.Code != http.StatusOK {
		t.Errorf("A reads its own %s = %d, want 200", ofA[0], rec.Code)
	}
}

// checkDocument: B's pdf_link opens B's PDF; a token naming A for B's
// invoice (validly signed), one signed with another key, and a tampered
// one are all 404.
func checkDocument(t *testing.T, ev *env, a, b string) {
	t.Helper()
	invB := ev.sim.InvoiceNumbers(b)[0]
	rec := ev.get(t, "/v1/invoices/"+invB+"?customer_no="+b)
	if rec.Code != http.StatusOK {
		t.Fatalf("B's invoice = %d", rec.Code)
	}
	var inv struct {
		PDFLink string `json:"pdf_link"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &inv)
	i := strings.LastIndex(inv.PDFLink, "/v1/documents/")
	if i < 0 {
		t.Fatalf("pdf_link %q does not lead to /v1/documents/", inv.PDFLink)
	}
	good := inv.PDFLink[i:]
	if rec := ev.do(t, http.MethodGet, good, nil); rec.Code != http.StatusOK {
		t.Fatalf("B's own pdf_link = %d, want 200", rec.Code)
	}
	expires := ev.clock.Now().Add(time.Hour)
	forged := doclink.New(doclink.DeriveKey("another secret"), "https://gw.example.test", ev.clock.Now)
	tampered := []byte(good)
	tampered[len(tampered)-3] ^= 1
	for name, target := range map[string]string{
		"A's name on B's invoice": "/v1/documents/" + ev.links.Token(a, invB, expires),
		"another key":             "/v1/documents/" + forged.Token(b, invB, expires),
		"tampered":                string(tampered),
	} {
		if rec := ev.do(t, http.MethodGet, target, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: GET %s = %d, want 404", name, target, rec.Code)
		}
	}
}

// walkStrings calls f with every string in a decoded JSON value.
func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, f)
		}
	}
}
