package mapping

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
)

// TestExtendedGolden maps the fixtures of the extended calls and compares
// them with their golden files: testdata/extended_addresses.customer.json
// (GET /Customers/{n}) and testdata/extended_backorders.orders.json (a list
// of orders).
func TestExtendedGolden(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow)
	read := func(t *testing.T, name string, v any) {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		decodeStrict(t, raw, v)
	}
	t.Run("addresses", func(t *testing.T) {
		var c erp.CustomerRecord
		read(t, "extended_addresses.customer.json", &c)
		checkGolden(t, filepath.Join("testdata", "extended_addresses.golden.json"), m.Addresses(c))
	})
	t.Run("backorders", func(t *testing.T) {
		var orders []erp.Order
		read(t, "extended_backorders.orders.json", &orders)
		checkGolden(t, filepath.Join("testdata", "extended_backorders.golden.json"), m.Backorders(orders))
	})
}

func TestIsOpen(t *testing.T) {
	tests := []struct {
		status string
		want   bool
	}{
		{erp.StatusRegistered, true},
		{erp.StatusReserved, true},
		{erp.StatusPicked, true},
		{erp.StatusDelivered, false},
		{erp.StatusCancelled, false},
		{"delivered", false},
		{" CANCELLED ", false},
		{"", true},
		{"OnHold", true},
	}
	for _, tt := range tests {
		if got := IsOpen(erp.Order{Status: tt.status}); got != tt.want {
			t.Errorf("IsOpen(Status %q) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestPrice(t *testing.T) {
	tests := []struct {
		locale, currency string
		in               erp.Price
		want             api.Price
	}{
		{"sv-SE", "SEK", erp.Price{ProductNumber: "A", Price: 123450, Currency: "SEK"}, api.Price{Model: "A", Price: "1 234,50 kr"}},
		{"sv-SE", "SEK", erp.Price{ProductNumber: "B", Price: 0}, api.Price{Model: "B", Price: "0,00 kr"}},
		{"sv-SE", "SEK", erp.Price{ProductNumber: "C", Price: -500, Currency: "SEK"}, api.Price{Model: "C", Price: "-5,00 kr"}},
		{"en-GB", "GBP", erp.Price{ProductNumber: "D", Price: 123450}, api.Price{Model: "D", Price: "£1,234.50"}},
	}
	for _, tt := range tests {
		m := newMapper(t, tt.locale, tt.currency, goldenNow)
		if got := m.Price(tt.in); got != tt.want {
			t.Errorf("Price(%+v) in %s = %+v, want %+v", tt.in, tt.locale, got, tt.want)
		}
	}
}

// TestExtendedZero: empty records still give [] and never null.
func TestExtendedZero(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow)
	for name, v := range map[string]any{
		"Addresses":                           m.Addresses(erp.CustomerRecord{}),
		"Backorders":                          m.Backorders(nil),
		"Backorders of an order without rows": m.Backorders([]erp.Order{{OrderNumber: "1"}}),
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := noNull(b); err != nil {
			t.Errorf("%s = %s: %v", name, b, err)
		}
	}
}
