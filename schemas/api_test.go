package schemas_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/schemas"
)

// apiTypes pairs each Go wire type with the schema of its answer.
var apiTypes = []struct {
	schema string
	value  any    // pointer to a zero value
	empty  string // a list the contract keeps empty on this answer
}{
	{schemas.OrderList, &api.OrderList{}, ""},
	{schemas.Order, &api.Order{}, "orders"}, // an order bills no orders
	{schemas.InvoiceList, &api.InvoiceList{}, ""},
	{schemas.CreditInvoiceList, &api.InvoiceList{}, ""},
	{schemas.Invoice, &api.Invoice{}, ""},
	{schemas.Error, &api.Error{}, ""},
	{schemas.Backorders, &api.Backorders{}, ""},
	{schemas.Addresses, &api.Addresses{}, ""},
	// unknown holds strings, which the builder cannot fill: kept empty.
	{schemas.Prices, &api.Prices{}, "unknown"},
	{schemas.Stock, &api.Stock{}, "unknown"},
}

// minimal holds the least value that the schemas accept for a JSON field
// that may not be "" or 0; every other string stays "".
var minimal = map[string]any{
	"id":             "1",
	"order_no":       "1",
	"customer_no":    "10001",
	"no":             "10001",
	"sum":            "0,00 kr",
	"total":          "0,00 kr", // a string field; the list's int total stays 0
	"shipping_cost":  "0,00 kr",
	"price":          "0,00 kr",
	"discount":       "0,00 kr",
	"row_total":      "0,00 kr",
	"amount":         "0,00 kr",
	"payment_status": "paid",
	"code":           "not_found",
	"message":        "not found",
	"page":           1,
	"per_page":       25,
	"model":          "A",       // a product number asked for is never ""
	"type":           "invoice", // of an address
	"backordered":    1.0,       // always more than 0
}

// builder fills a wire value the way the mapping does for a record with
// nothing in it: every slice empty but not nil, or with one row each when
// rows is set (except the list named empty), and with fill set every field
// named in minimal at its least valid value.
type builder struct {
	rows, fill bool
	empty      string
}

func (b builder) build(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		b.build(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if m, ok := minimal[name]; ok && b.fill {
				mv := reflect.ValueOf(m)
				if mv.Type().ConvertibleTo(f.Type()) && mv.Kind() == f.Kind() {
					f.Set(mv.Convert(f.Type()))
					continue
				}
			}
			if b.empty != "" && name == b.empty {
				f.Set(reflect.MakeSlice(f.Type(), 0, 0))
				continue
			}
			b.build(f)
		}
	case reflect.Slice:
		n := 0
		if b.rows {
			n = 1
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			b.build(v.Index(i))
		}
	}
}

// TestAPITypesFitSchemas checks that what api's types marshal to has the
// shape the schemas describe: no missing, extra or null field.
func TestAPITypesFitSchemas(t *testing.T) {
	set := load(t)
	for _, tt := range apiTypes {
		for _, rows := range []bool{false, true} {
			name := reflect.TypeOf(tt.value).Elem().Name() + "/" + tt.schema
			if rows {
				name += "/one row each"
			}
			t.Run(name, func(t *testing.T) {
				v := reflect.New(reflect.TypeOf(tt.value).Elem())
				builder{rows: rows, fill: true, empty: tt.empty}.build(v)
				body, err := json.Marshal(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if err := set.Validate(tt.schema, body); err != nil {
					t.Errorf("Validate(%q, %s) = %v, want nil", tt.schema, body, err)
				}

				// With nothing filled in, only the values may be wrong,
				// never the shape.
				v = reflect.New(reflect.TypeOf(tt.value).Elem())
				builder{rows: rows, empty: tt.empty}.build(v)
				body, err = json.Marshal(v.Interface())
				if err != nil {
					t.Fatal(err)
				}
				var ve *schemas.ValidationError
				if err := set.Validate(tt.schema, body); err != nil && !errors.As(err, &ve) {
					t.Fatalf("Validate(%q, zero) = %v", tt.schema, err)
				}
				if ve == nil {
					return
				}
				for _, f := range ve.Failures {
					switch f.Keyword {
					case "type", "required", "additionalProperties", "maxItems":
						t.Errorf("Validate(%q, zero %s): %s: %s (%s), want only value failures", tt.schema, body, f.Path, f.Message, f.Keyword)
					}
				}
			})
		}
	}
}

// TestNilSlicesFail checks that the schemas catch the classic mapping bug:
// a nil slice marshals to null, which Vendre cannot render.
func TestNilSlicesFail(t *testing.T) {
	set := load(t)
	body, err := json.Marshal(api.OrderList{Page: 1, PerPage: 25})
	if err != nil {
		t.Fatal(err)
	}
	err = set.Validate(schemas.OrderList, body)
	var ve *schemas.ValidationError
	if !errors.As(err, &ve) || len(ve.Failures) != 1 || ve.Failures[0].Path != "/orders" || ve.Failures[0].Keyword != "type" {
		t.Errorf("Validate(%q, %s) = %v, want one type failure at /orders", schemas.OrderList, body, err)
	}
}
