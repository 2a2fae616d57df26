package schemas_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vendre-extend/gateway/schemas"
)

// load compiles the schemas or stops the test.
func load(t testing.TB) *schemas.Set {
	t.Helper()
	set, err := schemas.Load()
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	return set
}

// example returns testdata/<name>.valid.json.
func example(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// del, as a patch value, deletes the field.
type del struct{}

// patched returns the example of schema name with the value at the JSON
// pointer ptr replaced by val (added when the field is new, deleted when
// val is del{}).
func patched(t testing.TB, name, ptr string, val any) []byte {
	t.Helper()
	var doc any
	dec := json.NewDecoder(strings.NewReader(string(example(t, name))))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	toks := strings.Split(ptr, "/")[1:]
	parent := doc
	for _, tok := range toks[:len(toks)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i >= len(p) {
				t.Fatalf("patch %s: bad index %q", ptr, tok)
			}
			parent = p[i]
		default:
			t.Fatalf("patch %s: %q is not in a container", ptr, tok)
		}
	}
	last := toks[len(toks)-1]
	switch p := parent.(type) {
	case map[string]any:
		if _, ok := val.(del); ok {
			delete(p, last)
		} else {
			p[last] = val
		}
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i >= len(p) {
			t.Fatalf("patch %s: bad index %q", ptr, last)
		}
		p[i] = val
	default:
		t.Fatalf("patch %s: parent is not a container", ptr)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFiles(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Schema string `json:"$schema"`
				ID     string `json:"$id"`
			}
			if err := json.Unmarshal(b, &head); err != nil {
				t.Fatal(err)
			}
			if want := "https://json-schema.org/draft/2020-12/schema"; head.Schema != want {
				t.Errorf("$schema = %q, want %q", head.Schema, want)
			}
			if want := schemas.BaseURL + f; head.ID != want {
				t.Errorf("$id = %q, want %q", head.ID, want)
			}
		})
	}
}

func TestValidExamples(t *testing.T) {
	set := load(t)
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			if err := set.Validate(name, example(t, name)); err != nil {
				t.Errorf("Validate(%q, example) = %v, want nil", name, err)
			}
		})
	}
}

// validVariants are values that are unusual but allowed.
var validVariants = []struct {
	name, schema, ptr string
	val               any
}{
	{"empty status", schemas.OrderList, "/orders/0/status", ""},
	{"empty order date", schemas.OrderList, "/orders/0/date", ""},
	{"empty page", schemas.OrderList, "/orders", []any{}},
	{"per_page 100", schemas.OrderList, "/per_page", 100},
	{"total 0", schemas.OrderList, "/total", 0},
	{"integer written as 1.0", schemas.OrderList, "/page", json.Number("1.0")},
	{"leap day", schemas.OrderList, "/orders/0/date", "2024-02-29"},
	{"empty country_iso", schemas.Order, "/customer/country_iso", ""},
	{"empty tracking_link", schemas.Order, "/packages/0/tracking_link", ""},
	{"no packages", schemas.Order, "/packages", []any{}},
	{"no tax", schemas.Order, "/tax", []any{}},
	{"tax rate 0", schemas.Order, "/tax/0/rate", 0},
	{"tax rate 100", schemas.Order, "/tax/0/rate", 100},
	{"negative quantity", schemas.Order, "/products/0/quantity", -2},
	{"negative money", schemas.Order, "/total", "-1 234,50 kr"},
	{"money in euro", schemas.Order, "/total", "€1,234.50"},
	{"empty due_date", schemas.Invoice, "/due_date", ""},
	{"empty pdf_link", schemas.Invoice, "/pdf_link", ""},
	{"demo pdf_link", schemas.Invoice, "/pdf_link", "http://localhost:8080/v1/documents/abc.def"},
	{"pdf_link under a prefix", schemas.Invoice, "/pdf_link", "https://shop.example/gw/v1/documents/abc"},
	{"paid", schemas.InvoiceList, "/invoices/0/payment_status", "paid"},
	{"unpaid", schemas.InvoiceList, "/invoices/0/payment_status", "unpaid"},
	{"every code", schemas.Error, "/error/code", "timeout"},
	{"no backorders", schemas.Backorders, "/backorders", []any{}},
	{"no addresses", schemas.Addresses, "/addresses", []any{}},
	{"nothing known", schemas.Prices, "/prices", []any{}},
	{"fractional stock", schemas.Stock, "/stock/0/available", 2.5},
}

func TestValidVariants(t *testing.T) {
	set := load(t)
	for _, tt := range validVariants {
		t.Run(tt.name, func(t *testing.T) {
			body := patched(t, tt.schema, tt.ptr, tt.val)
			if err := set.Validate(tt.schema, body); err != nil {
				t.Errorf("Validate(%q, %s=%v) = %v, want nil", tt.schema, tt.ptr, tt.val, err)
			}
		})
	}
}

// invalidCases are broken variants of the examples, each with its one
// expected failure.
var invalidCases = []struct {
	name, schema, ptr string
	val               any
	// wantPath and wantKeyword name the one expected failure.
	wantPath, wantKeyword string
}{
	// order
	{"null string", schemas.Order, "/po_number", nil, "/po_number", "type"},
	{"number for string", schemas.Order, "/comment", 5, "/comment", "type"},
	{"missing field", schemas.Order, "/customer/zipcode", del{}, "/customer", "required"},
	{"missing top-level field", schemas.Order, "/pdf_link", del{}, "", "required"},
	{"extra field", schemas.Order, "/customer/email", "a@b.se", "/customer", "additionalProperties"},
	{"invoice field on an order", schemas.Order, "/date", "2024-01-01", "", "additionalProperties"},
	{"alpha-2 country_iso", schemas.Order, "/customer/country_iso", "SE", "/customer/country_iso", "pattern"},
	{"lower-case country_iso", schemas.Order, "/delivery/country_iso", "swe", "/delivery/country_iso", "pattern"},
	{"http tracking_link", schemas.Order, "/packages/0/tracking_link", "http://track.example/1", "/packages/0/tracking_link", "pattern"},
	{"relative tracking_link", schemas.Order, "/packages/1/tracking_link", "track/1", "/packages/1/tracking_link", "pattern"},
	{"tracking_link with space", schemas.Order, "/packages/0/tracking_link", "https://a.se/x y", "/packages/0/tracking_link", "pattern"},
	{"null list", schemas.Order, "/products", nil, "/products", "type"},
	{"null tax", schemas.Order, "/tax", nil, "/tax", "type"},
	{"string quantity", schemas.Order, "/products/0/quantity", "2", "/products/0/quantity", "type"},
	{"tax rate over 100", schemas.Order, "/tax/0/rate", 125, "/tax/0/rate", "maximum"},
	{"negative tax rate", schemas.Order, "/tax/1/rate", -1, "/tax/1/rate", "minimum"},
	{"string tax rate", schemas.Order, "/tax/0/rate", "25", "/tax/0/rate", "type"},
	{"empty money", schemas.Order, "/total", "", "/total", "pattern"},
	{"money without digit", schemas.Order, "/products/0/row_total", "kr", "/products/0/row_total", "pattern"},
	{"number money", schemas.Order, "/shipping_cost", 149, "/shipping_cost", "type"},
	{"empty id", schemas.Order, "/id", "", "/id", "minLength"},
	{"bad customer no", schemas.Order, "/customer/no", "10 001", "/customer/no", "pattern"},
	{"order with pdf_link", schemas.Order, "/pdf_link", "https://gw.example/v1/documents/x", "/pdf_link", "const"},
	{"order with orders", schemas.Order, "/orders", []any{map[string]any{"order_no": "1"}}, "/orders", "maxItems"},
	{"object for array", schemas.Order, "/packages", map[string]any{}, "/packages", "type"},
	// order_list
	{"per_page 0", schemas.OrderList, "/per_page", 0, "/per_page", "minimum"},
	{"per_page 101", schemas.OrderList, "/per_page", 101, "/per_page", "maximum"},
	{"page 0", schemas.OrderList, "/page", 0, "/page", "minimum"},
	{"fractional page", schemas.OrderList, "/page", 1.5, "/page", "type"},
	{"negative total", schemas.OrderList, "/total", -1, "/total", "minimum"},
	{"null orders", schemas.OrderList, "/orders", nil, "/orders", "type"},
	{"unknown status", schemas.OrderList, "/orders/0/status", "shipped", "/orders/0/status", "enum"},
	{"capitalised status", schemas.OrderList, "/orders/1/status", "Picked", "/orders/1/status", "enum"},
	{"month 13", schemas.OrderList, "/orders/0/date", "2024-13-01", "/orders/0/date", "pattern"},
	{"date without dashes", schemas.OrderList, "/orders/0/date", "20240101", "/orders/0/date", "pattern"},
	{"date-time", schemas.OrderList, "/orders/0/date", "2024-01-01T10:00:00Z", "/orders/0/date", "pattern"},
	{"numeric id", schemas.OrderList, "/orders/0/id", 100240, "/orders/0/id", "type"},
	{"bad row customer_no", schemas.OrderList, "/orders/0/customer_no", "a b", "/orders/0/customer_no", "pattern"},
	{"extra list field", schemas.OrderList, "/next", "x", "", "additionalProperties"},
	// invoice
	{"payment_status late", schemas.Invoice, "/payment_status", "late", "/payment_status", "enum"},
	{"empty payment_status", schemas.Invoice, "/payment_status", "", "/payment_status", "enum"},
	{"swedish due_date", schemas.Invoice, "/due_date", "4/12/2024", "/due_date", "pattern"},
	{"missing date", schemas.Invoice, "/date", del{}, "", "required"},
	{"ftp pdf_link", schemas.Invoice, "/pdf_link", "ftp://gw.example/v1/documents/x", "/pdf_link", "pattern"},
	{"ERP pdf_link", schemas.Invoice, "/pdf_link", "https://erp.example/invoices/700512.pdf", "/pdf_link", "pattern"},
	{"relative pdf_link", schemas.Invoice, "/pdf_link", "/v1/documents/x", "/pdf_link", "pattern"},
	{"empty order_no", schemas.Invoice, "/orders/0/order_no", "", "/orders/0/order_no", "minLength"},
	{"orders as strings", schemas.Invoice, "/orders/0", "100234", "/orders/0", "type"},
	// invoice_list
	{"row payment_status late", schemas.InvoiceList, "/invoices/0/payment_status", "late", "/invoices/0/payment_status", "enum"},
	{"row missing due_date", schemas.InvoiceList, "/invoices/1/due_date", del{}, "/invoices/1", "required"},
	{"row null reference", schemas.InvoiceList, "/invoices/2/reference", nil, "/invoices/2/reference", "type"},
	{"invoice list per_page 0", schemas.InvoiceList, "/per_page", 0, "/per_page", "minimum"},
	// credit_invoice_list
	{"credit per_page 0", schemas.CreditInvoiceList, "/per_page", 0, "/per_page", "minimum"},
	{"credit extra row field", schemas.CreditInvoiceList, "/invoices/0/amount", "1", "/invoices/0", "additionalProperties"},
	// error
	{"unknown code", schemas.Error, "/error/code", "oops", "/error/code", "enum"},
	{"empty message", schemas.Error, "/error/message", "", "/error/message", "minLength"},
	{"missing message", schemas.Error, "/error/message", del{}, "/error", "required"},
	{"extra error field", schemas.Error, "/status", 400, "", "additionalProperties"},
	// backorders
	{"nothing backordered", schemas.Backorders, "/backorders/0/backordered", 0, "/backorders/0/backordered", "exclusiveMinimum"},
	{"string ordered", schemas.Backorders, "/backorders/0/ordered", "5", "/backorders/0/ordered", "type"},
	{"null backorders", schemas.Backorders, "/backorders", nil, "/backorders", "type"},
	{"bad order_date", schemas.Backorders, "/backorders/1/order_date", "2024-10-32", "/backorders/1/order_date", "pattern"},
	// addresses
	{"billing type", schemas.Addresses, "/addresses/0/type", "billing", "/addresses/0/type", "enum"},
	{"country name as iso", schemas.Addresses, "/addresses/1/country_iso", "SVERIGE", "/addresses/1/country_iso", "pattern"},
	{"address missing type", schemas.Addresses, "/addresses/2/type", del{}, "/addresses/2", "required"},
	// prices
	{"empty price", schemas.Prices, "/prices/0/price", "", "/prices/0/price", "pattern"},
	{"null unknown", schemas.Prices, "/unknown", nil, "/unknown", "type"},
	{"missing unknown", schemas.Prices, "/unknown", del{}, "", "required"},
	{"empty model", schemas.Prices, "/prices/1/model", "", "/prices/1/model", "minLength"},
	// stock
	{"string available", schemas.Stock, "/stock/0/available", "5", "/stock/0/available", "type"},
	{"empty stock model", schemas.Stock, "/stock/0/model", "", "/stock/0/model", "minLength"},
	{"empty unknown entry", schemas.Stock, "/unknown", []any{""}, "/unknown/0", "minLength"},
}

func TestInvalid(t *testing.T) {
	set := load(t)
	for _, tt := range invalidCases {
		t.Run(tt.schema+"/"+tt.name, func(t *testing.T) {
			body := patched(t, tt.schema, tt.ptr, tt.val)
			err := set.Validate(tt.schema, body)
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate(%q, %s=%v) = %v, want a *ValidationError", tt.schema, tt.ptr, tt.val, err)
			}
			var got []string
			for _, f := range ve.Failures {
				got = append(got, f.Path+" "+f.Keyword)
			}
			if diff := cmp.Diff([]string{tt.wantPath + " " + tt.wantKeyword}, got); diff != "" {
				t.Errorf("Validate(%q, %s=%v) failures mismatch (-want +got):\n%s\nerror: %v", tt.schema, tt.ptr, tt.val, diff, err)
			}
			if ve.Schema != tt.schema {
				t.Errorf("ValidationError.Schema = %q, want %q", ve.Schema, tt.schema)
			}
		})
	}
}

func TestValidateErrorText(t *testing.T) {
	set := load(t)
	tests := []struct {
		name, schema string
		body         []byte
		want         string
	}{
		{
			"pattern",
			schemas.Order,
			patched(t, schemas.Order, "/customer/country_iso", "SE"),
			`schema order: /customer/country_iso: does not match pattern '^([A-Z]{3})?$' (pattern)`,
		},
		{
			"null",
			schemas.Invoice,
			patched(t, schemas.Invoice, "/comment", nil),
			`schema invoice: /comment: expected string, but got null (type)`,
		},
		{
			"root required",
			schemas.Error,
			[]byte(`{}`),
			`schema error: /: missing properties: 'error' (required)`,
		},
		{
			"several, sorted",
			schemas.OrderList,
			[]byte(`{"orders":null,"page":0,"per_page":0,"total":0}`),
			`schema order_list: /orders: expected array, but got null (type); /page: must be >= 1 but found 0 (minimum); /per_page: must be >= 1 but found 0 (minimum)`,
		},
		{
			"many",
			schemas.Error,
			[]byte(`{"error":{"code":1,"message":2},"a":1}`),
			`schema error: /: additionalProperties 'a' not allowed (additionalProperties); /error/code: value must be one of "invalid_request", "unauthorized", "not_found", "rate_limited", "bad_gateway", "unavailable", "timeout" (enum); /error/message: expected string, but got number (type)`,
		},
		{
			"not an object",
			schemas.Stock,
			[]byte(`[]`),
			`schema stock: /: expected object, but got array (type)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := set.Validate(tt.schema, tt.body)
			if err == nil {
				t.Fatalf("Validate(%q, %s) = nil, want an error", tt.schema, tt.body)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Validate(%q, %s) =\n%s\nwant\n%s", tt.schema, tt.body, got, tt.want)
			}
		})
	}
}

func TestValidateErrorShownFailuresAreBounded(t *testing.T) {
	set := load(t)
	var rows []string
	for i := range 8 {
		rows = append(rows, fmt.Sprintf(`{"id":"%d","customer_no":"1","sum":"1","date":"","reference":"","status":"bad"}`, i))
	}
	body := `{"orders":[` + strings.Join(rows, ",") + `],"page":1,"per_page":25,"total":8}`
	err := set.Validate(schemas.OrderList, []byte(body))
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) || len(ve.Failures) != 8 {
		t.Fatalf("Validate(8 bad rows) = %v, want 8 failures", err)
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "; and 3 more") || strings.Count(msg, "(enum)") != 5 {
		t.Errorf("Validate(8 bad rows) = %q, want 5 failures and \"; and 3 more\"", msg)
	}
}

func TestValidateOtherErrors(t *testing.T) {
	set := load(t)
	tests := []struct {
		name, schema, body string
		unknown            bool
	}{
		{"unknown schema", "orders", `{}`, true},
		{"shared defs are not an answer", "defs", `{}`, true},
		{"empty name", "", `{}`, true},
		{"empty body", schemas.Error, ``, false},
		{"not JSON", schemas.Error, `{"error":`, false},
		{"two values", schemas.Error, `{"error":{"code":"timeout","message":"x"}} {}`, false},
		{"trailing garbage", schemas.Error, `{"error":{"code":"timeout","message":"x"}}x`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := set.Validate(tt.schema, []byte(tt.body))
			if err == nil {
				t.Fatalf("Validate(%q, %q) = nil, want an error", tt.schema, tt.body)
			}
			if got := errors.Is(err, schemas.ErrUnknownSchema); got != tt.unknown {
				t.Errorf("errors.Is(Validate(%q, %q), ErrUnknownSchema) = %v, want %v (error: %v)", tt.schema, tt.body, got, tt.unknown, err)
			}
			var ve *schemas.ValidationError
			if errors.As(err, &ve) {
				t.Errorf("Validate(%q, %q) = %v, want no *ValidationError", tt.schema, tt.body, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("Validate(%q, %q) error %q is not one line", tt.schema, tt.body, err)
			}
		})
	}
}

func TestValidateConcurrent(t *testing.T) {
	set := load(t)
	good := example(t, schemas.Order)
	bad := patched(t, schemas.Order, "/customer/country_iso", "SE")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 50 {
				if i%2 == 0 {
					if err := set.Validate(schemas.Order, good); err != nil {
						t.Errorf("Validate(order) = %v, want nil", err)
						return
					}
				} else if err := set.Validate(schemas.Order, bad); err == nil {
					t.Error("Validate(bad order) = nil, want an error")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkValidateOrder(b *testing.B) {
	set := load(b)
	body := example(b, schemas.Order)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := set.Validate(schemas.Order, body); err != nil {
			b.Fatal(err)
		}
	}
}
