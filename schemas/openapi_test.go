package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/schemas"
)

// components names the component of api/openapi.yaml that describes the
// same answer as each schema.
var components = map[string]string{
	schemas.OrderList:         "OrderList",
	schemas.Order:             "Order",
	schemas.InvoiceList:       "InvoiceList",
	schemas.Invoice:           "Invoice",
	schemas.Error:             "Error",
	schemas.Backorders:        "Backorders",
	schemas.CreditInvoiceList: "CreditInvoiceList",
	schemas.Addresses:         "Addresses",
	schemas.Prices:            "Prices",
	schemas.Stock:             "Stock",
}

// TestOpenAPIComponentsAgree checks that the OpenAPI document's answer
// schemas mean the same as schemas/*.json: each accepts the examples and
// the valid variants, and rejects every broken variant.
func TestOpenAPIComponentsAgree(t *testing.T) {
	var doc any
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("yaml.Unmarshal(api.OpenAPI) error = %v", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("openapi.yaml as JSON: %v", err)
	}
	const url = "https://github.com/vendre-extend/gateway/api/openapi.json"
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(url, bytes.NewReader(js)); err != nil {
		t.Fatal(err)
	}
	if got, want := len(components), len(schemas.Names()); got != want {
		t.Fatalf("components maps %d schemas, want all %d", got, want)
	}
	compiled := map[string]*jsonschema.Schema{}
	for name, comp := range components {
		sch, err := c.Compile(url + "#/components/schemas/" + comp)
		if err != nil {
			t.Fatalf("Compile(%s) error = %v", comp, err)
		}
		compiled[name] = sch
	}
	check := func(t *testing.T, name string, body []byte, wantValid bool) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		err := compiled[name].Validate(v)
		if wantValid && err != nil {
			t.Errorf("component %s rejects %s: %v", components[name], body, err)
		}
		if !wantValid && err == nil {
			t.Errorf("component %s accepts the broken variant, want it rejected", components[name])
		}
	}

	for _, name := range schemas.Names() {
		t.Run("example/"+name, func(t *testing.T) {
			check(t, name, example(t, name), true)
		})
	}
	for _, tt := range validVariants {
		t.Run("valid/"+tt.name, func(t *testing.T) {
			check(t, tt.schema, patched(t, tt.schema, tt.ptr, tt.val), true)
		})
	}
	for _, tt := range invalidCases {
		t.Run("invalid/"+tt.schema+"/"+tt.name, func(t *testing.T) {
			check(t, tt.schema, patched(t, tt.schema, tt.ptr, tt.val), false)
		})
	}
}

// TestOpenAPIUsesSamePatterns compares the patterns and enums of the
// shared parts, which the examples above cannot all reach.
func TestOpenAPIUsesSamePatterns(t *testing.T) {
	var oa map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &oa); err != nil {
		t.Fatal(err)
	}
	defsJSON, err := os.ReadFile("defs.json")
	if err != nil {
		t.Fatal(err)
	}
	var defs map[string]any
	if err := json.Unmarshal(defsJSON, &defs); err != nil {
		t.Fatal(err)
	}
	pairs := map[string]string{ // defs.json $defs -> OpenAPI component
		"id": "Id", "customerNo": "CustomerNo", "text": "Text", "productNo": "ProductNo",
		"money": "Money", "date": "Date", "quantity": "Quantity", "countryIso": "CountryIso",
		"trackingLink": "TrackingLink", "pdfLink": "PdfLink", "orderStatus": "OrderStatus",
		"paymentStatus": "PaymentStatus", "page": "Page", "perPage": "PerPage", "total": "Total",
	}
	d := defs["$defs"].(map[string]any)
	cs := oa["components"].(map[string]any)["schemas"].(map[string]any)
	for def, comp := range pairs {
		a, b := d[def].(map[string]any), cs[comp].(map[string]any)
		for _, kw := range []string{"type", "pattern", "enum", "minLength", "minimum", "maximum"} {
			if !sameJSON(a[kw], b[kw]) {
				t.Errorf("defs.json %s %s = %v, OpenAPI %s %s = %v", def, kw, a[kw], comp, kw, b[kw])
			}
		}
	}
}

// sameJSON reports whether a and b marshal to equal JSON values.
func sameJSON(a, b any) bool {
	var x, y any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}
