package erp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// addFixtures seeds f with every testdata JSON file.
func addFixtures(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeOrder feeds arbitrary bytes to the decoder the client uses for
// GET /CustomerOrders/{n}: it must never panic.
func FuzzDecodeOrder(f *testing.F) {
	addFixtures(f)
	f.Add([]byte(`{"TotalExclVat":"1e400","Rows":[{"Quantity":"NaN"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Order
		_ = decode(b, &o)
	})
}

// FuzzDecodeInvoice is FuzzDecodeOrder for invoices.
func FuzzDecodeInvoice(f *testing.F) {
	addFixtures(f)
	f.Add([]byte(`{"RemainingAmount":null,"PaidAmount":"-0,5"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var inv Invoice
		_ = decode(b, &inv)
	})
}

// FuzzAmount checks that Amount decoding never panics and that any amount
// it accepts (within float64's exact range) survives an encode-decode round
// trip.
func FuzzAmount(f *testing.F) {
	for _, s := range []string{`0`, `12.5`, `-0.01`, `"5 324"`, `"1 234,50"`, "\"1\u00a0234.50\"", `null`, `""`, `"x"`, `1e300`, `-9007199254740.99`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var a Amount
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return
		}
		if a > 1<<50 || a < -(1<<50) {
			return // beyond float64's exact hundredths
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("Marshal(%d): %v", a, err)
		}
		var back Amount
		if err := json.Unmarshal(b, &back); err != nil || back != a {
			t.Errorf("Amount %q -> %d -> %s -> %d, %v; want %d", s, a, b, back, err, a)
		}
	})
}
