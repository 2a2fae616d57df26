package api

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// openAPIDoc decodes OpenAPI as plain maps.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("yaml.Unmarshal(openapi.yaml) error = %v", err)
	}
	return doc
}

// resolve follows a local $ref ("#/components/...") until it reaches a
// value that is not a reference.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("resolve: %v is not an object", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		v = lookup(doc, ref)
		if v == nil {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	t.Fatal("resolve: $ref chain too long")
	return nil
}

// lookup returns the value at a local reference, or nil.
func lookup(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var v any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[tok]
	}
	return v
}

// operation is one operation of the document with what the checks need.
type operation struct {
	method, path string
	op           map[string]any
}

func (o operation) String() string { return strings.ToUpper(o.method) + " " + o.path }

func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml has no paths")
	}
	var ops []operation
	for path, item := range paths {
		for m, op := range item.(map[string]any) {
			if slices.Contains(methods, m) {
				ops = append(ops, operation{m, path, op.(map[string]any)})
			}
		}
	}
	return ops
}

// security returns the names of the schemes an operation accepts.
func security(o operation) []string {
	var names []string
	reqs, _ := o.op["security"].([]any)
	for _, r := range reqs {
		for name := range r.(map[string]any) {
			names = append(names, name)
		}
	}
	return names
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openAPIDoc(t)
	if got := doc["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}
	schemes := lookup(doc, "#/components/securitySchemes").(map[string]any)
	for _, name := range []string{"apiKey", "adminBearer", "extendSignature", "vendreWebhookToken"} {
		if schemes[name] == nil {
			t.Errorf("security scheme %q is missing", name)
		}
	}
	if got := lookup(doc, "#/components/securitySchemes/apiKey/name"); got != "X-Api-Key" {
		t.Errorf("apiKey header = %v, want X-Api-Key", got)
	}
	if got := lookup(doc, "#/components/securitySchemes/adminBearer/scheme"); got != "bearer" {
		t.Errorf("adminBearer scheme = %v, want bearer", got)
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := openAPIDoc(t)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && lookup(doc, ref) == nil {
				t.Errorf("%s: $ref %q does not resolve", at, ref)
			}
			for k, c := range v {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range v {
				walk(c, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "")
}

func TestOpenAPIOperations(t *testing.T) {
	doc := openAPIDoc(t)
	ids := map[string]string{}
	for _, o := range operations(t, doc) {
		t.Run(o.String(), func(t *testing.T) {
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Error("no operationId")
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %q also used by %s", id, prev)
			}
			ids[id] = o.String()

			if _, ok := o.op["security"]; !ok {
				t.Error("no security (write security: [] for an open endpoint)")
			}

			responses, _ := o.op["responses"].(map[string]any)
			var ok2xx bool
			for code := range responses {
				if strings.HasPrefix(code, "2") {
					ok2xx = true
				}
			}
			if !ok2xx {
				t.Error("no 2xx response")
			}

			// The error statuses the contract gives each kind of endpoint.
			var want []string
			sec := security(o)
			switch {
			case slices.Contains(sec, "apiKey"):
				want = []string{"400", "401", "429", "502", "503", "504"}
				if strings.Contains(o.path, "{id}") {
					want = append(want, "404")
				}
			case slices.Contains(sec, "adminBearer"):
				want = []string{"401", "404"}
			case slices.Contains(sec, "extendSignature"), slices.Contains(sec, "vendreWebhookToken"):
				want = []string{"400", "401", "404", "413"}
			case o.path == "/v1/documents/{token}":
				want = []string{"404", "502", "503", "504"}
			}
			for _, code := range want {
				if responses[code] == nil {
					t.Errorf("no %s response", code)
				}
			}

			for code, r := range responses {
				resp := resolve(t, doc, r)
				n, _ := strconv.Atoi(code)
				// x-errors: protocol marks a connector answering in its
				// peer's convention (RetailCRM's {"success":false,…}).
				if n >= 400 && !(o.path == "/readyz" && code == "503") && o.op["x-errors"] != "protocol" {
					ref := lookup(resp, "#/content/application~1json/schema/$ref")
					want := "#/components/schemas/Error"
					if o.path == "/baselinker" && code != "404" { // Baselinker's own convention
						want = "#/components/schemas/BaselinkerError"
					}
					if ref != want {
						t.Errorf("%s response schema = %v, want %s", code, ref, want)
					}
				}
				if code == "429" || code == "503" {
					if lookup(resp, "#/headers/Retry-After") == nil {
						t.Errorf("%s response has no Retry-After header", code)
					}
				}
				if code == "200" && slices.Contains(sec, "apiKey") {
					if lookup(resp, "#/headers/X-Cache") == nil {
						t.Errorf("200 response has no X-Cache header")
					}
				}
			}

			// Every {name} of the path is a required path parameter.
			params := map[string]bool{}
			list, _ := o.op["parameters"].([]any)
			for _, p := range list {
				pm := resolve(t, doc, p)
				if pm["in"] == "path" {
					params[pm["name"].(string)] = pm["required"] == true
				}
			}
			for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
				if !params[m[1]] {
					t.Errorf("path parameter %q is not declared as required", m[1])
				}
			}
		})
	}
}

// TestOpenAPIParameters pins the contract's rules on the shared parameters.
func TestOpenAPIParameters(t *testing.T) {
	doc := openAPIDoc(t)
	tests := []struct {
		ref  string
		want any
	}{
		{"#/components/parameters/customerNo/name", "customer_no"},
		{"#/components/parameters/customerNo/required", true},
		{"#/components/schemas/CustomerNo/pattern", "^[A-Za-z0-9_-]{1,32}$"},
		{"#/components/parameters/page/schema/minimum", 1},
		{"#/components/parameters/page/schema/default", 1},
		{"#/components/parameters/perPage/name", "per_page"},
		{"#/components/parameters/perPage/schema/minimum", 1},
		{"#/components/parameters/perPage/schema/maximum", 100},
		{"#/components/parameters/perPage/schema/default", 25},
		{"#/components/parameters/products/schema/maxItems", 100},
		{"#/components/parameters/products/explode", false},
		{"#/components/parameters/from/schema/format", "date"},
		{"#/components/parameters/to/schema/format", "date"},
		{"#/components/headers/X-Cache/schema/enum", []any{"HIT", "MISS", "STALE"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, lookup(doc, tt.ref)); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", tt.ref, diff)
		}
	}
}

func TestOperations(t *testing.T) {
	got, err := Operations()
	if err != nil {
		t.Fatalf("Operations() error = %v", err)
	}
	want := []Operation{
		{"GET", "/admin/", false},
		{"POST", "/admin/cache/flush", false},
		{"POST", "/admin/erp/resume", false},
		{"GET", "/admin/pushers", false},
		{"GET", "/admin/pushers/{name}/dead-letters", false},
		{"POST", "/admin/pushers/{name}/replay", false},
		{"GET", "/baselinker", false},
		{"POST", "/baselinker", false},
		{"GET", "/healthz", false},
		{"GET", "/metrics", false},
		{"GET", "/readyz", false},
		{"POST", "/retailcrm/{action}", false},
		{"GET", "/v1/addresses", false},
		{"POST", "/v1/addresses", false},
		{"GET", "/v1/backorders", false},
		{"POST", "/v1/backorders", false},
		{"GET", "/v1/credit-invoices", false},
		{"POST", "/v1/credit-invoices", false},
		{"GET", "/v1/documents/{token}", false},
		{"GET", "/v1/invoices", false},
		{"POST", "/v1/invoices", false},
		{"GET", "/v1/invoices/{id}", false},
		{"POST", "/v1/invoices/{id}", false},
		{"GET", "/v1/orders", false},
		{"POST", "/v1/orders", false},
		{"GET", "/v1/orders/{id}", false},
		{"POST", "/v1/orders/{id}", false},
		{"GET", "/v1/prices", false},
		{"POST", "/v1/prices", false},
		{"GET", "/v1/stock", false},
		{"POST", "/v1/stock", false},
		{"POST", "/webhooks/extend", false},
		{"POST", "/webhooks/vendre", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Operations() mismatch (-want +got):\n%s", diff)
	}
}
