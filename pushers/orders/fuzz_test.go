package orders

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVendreMap maps any recorded Vendre order: it never panics, an order
// it accepts has a customer and rows, and the reason it refuses one stays
// short, however many problems the order has (issue 15: 7,500 bad rows
// made a 358 kB reason).
func FuzzVendreMap(f *testing.F) {
	f.Add(string(vendreBody("1", "SK-3101", "SWE", 2)))
	f.Add(string(vendreBody("2", "", "XYZ", 0)))
	f.Add(`{"id":5512,"rows":[` + strings.Repeat(`{"model":"`+strings.Repeat("x", 500)+`","quantity":0},`, 40) + `{}]}`)
	f.Add(`{"customer":{"customer_no":""},"created_at":"yesterday","rows":null}`)
	f.Add(`[]`)
	v := NewVendre(token, time.UTC)
	f.Fuzz(func(t *testing.T, payload string) {
		var h vendreHook
		order := []byte(payload)
		if jsonUnmarshal(order, &h) == nil && len(h.Order) > 0 {
			order = h.Order // a whole webhook body: map its order
		}
		no, err := v.Map("x", order)
		if err != nil {
			if !errors.Is(err, ErrMapping) {
				t.Fatalf("Map error %v is not ErrMapping", err)
			}
			if n := len(err.Error()); n > 2<<10 {
				t.Fatalf("Map error is %d bytes, want at most 2 KiB: %.200s", n, err)
			}
			return
		}
		if no.CustomerNumber == "" || len(no.Rows) == 0 {
			t.Fatalf("Map accepted an order without a customer or rows: %+v", no)
		}
	})
}
