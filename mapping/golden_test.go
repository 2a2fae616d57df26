package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Stockholm on machines without a zoneinfo database

	"github.com/google/go-cmp/cmp"
	"github.com/vendre-extend/gateway/erp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current mapping")

// goldenNow is "now" for every golden case: 14 June 2024, midday in
// Stockholm. Invoices due 2024-06-14 are due today.
var goldenNow = time.Date(2024, 6, 14, 12, 0, 0, 0, stockholm())

// goldenPDFLink is the pdf_link every golden invoice gets.
const goldenPDFLink = "http://localhost:8080/v1/documents/test-token"

// goldenLocales are the cases that are not mapped under sv-SE and SEK.
var goldenLocales = map[string][2]string{
	"order_en_gb": {"en-GB", "GBP"},
}

func stockholm() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		panic(err) // time/tzdata is linked in: cannot happen
	}
	return loc
}

// newMapper builds a Mapper for tests, with "now" fixed at now.
func newMapper(t testing.TB, locale, currency string, now time.Time) *Mapper {
	t.Helper()
	m, err := New(Options{Locale: locale, Currency: currency, Location: stockholm(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New(%q, %q) error: %v", locale, currency, err)
	}
	return m
}

// TestGolden maps every testdata/<case>.erp.json (an Extend order or
// invoice, by the name's prefix) and compares the detail answer with
// <case>.golden.json and the list row with <case>.row.golden.json.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.erp.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.erp.json (err %v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".erp.json")
		t.Run(name, func(t *testing.T) {
			locale, currency := "sv-SE", "SEK"
			if lc, ok := goldenLocales[name]; ok {
				locale, currency = lc[0], lc[1]
			}
			m := newMapper(t, locale, currency, goldenNow)
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var detail, row any
			switch {
			case strings.HasPrefix(name, "order_"):
				var o erp.Order
				decodeStrict(t, raw, &o)
				detail, row = m.Order(o), m.OrderRow(o)
			case strings.HasPrefix(name, "invoice_"):
				var inv erp.Invoice
				decodeStrict(t, raw, &inv)
				detail, row = m.Invoice(inv, goldenPDFLink), m.InvoiceRow(inv)
			default:
				t.Fatalf("%s: name must start with order_ or invoice_", in)
			}
			checkGolden(t, filepath.Join("testdata", name+".golden.json"), detail)
			checkGolden(t, filepath.Join("testdata", name+".row.golden.json"), row)
		})
	}
}

// decodeStrict decodes an ERP fixture, refusing unknown fields so that a
// misspelt fixture field cannot silently test nothing.
func decodeStrict(t *testing.T, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
}

// checkGolden compares v, encoded as the handlers encode it, with the
// golden file, or rewrites the file under -update. It also fails when the
// JSON holds a null anywhere.
func checkGolden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	got = append(got, '\n')
	if err := noNull(got); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mapping -update to create it)", err)
	}
	if err := noNull(want); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// noNull reports the first JSON null in doc, by its path.
func noNull(doc []byte) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return err
	}
	return walkNull("$", v)
}

func walkNull(path string, v any) error {
	switch v := v.(type) {
	case nil:
		return fmt.Errorf("%s is null, want \"\" or []", path)
	case map[string]any:
		for k, e := range v {
			if err := walkNull(path+"."+k, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := walkNull(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestNoNull(t *testing.T) {
	tests := []struct {
		doc     string
		wantErr bool
	}{
		{`{"a":"","b":[],"c":{"d":0}}`, false},
		{`{"a":null}`, true},
		{`{"a":[{"b":null}]}`, true},
		{`{"a":"null"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			if err := noNull([]byte(tt.doc)); (err != nil) != tt.wantErr {
				t.Errorf("noNull(%s) = %v, want error %v", tt.doc, err, tt.wantErr)
			}
		})
	}
}

// TestZeroRecords maps zero-value records (what a body of {} decodes to):
// every list must still be [] and not null.
func TestZeroRecords(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow)
	for name, v := range map[string]any{
		"Order":      m.Order(erp.Order{}),
		"OrderRow":   m.OrderRow(erp.Order{}),
		"Invoice":    m.Invoice(erp.Invoice{}, ""),
		"InvoiceRow": m.InvoiceRow(erp.Invoice{}),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := noNull(b); err != nil {
				t.Errorf("%s(zero) = %s: %v", name, b, err)
			}
		})
	}
}

// FuzzOrder checks that no decodable order makes the mapping panic or
// emit a null. The seeds are the golden inputs.
func FuzzOrder(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.erp.json"))
	for _, in := range inputs {
		if b, err := os.ReadFile(in); err == nil {
			f.Add(b)
		}
	}
	m := newMapper(f, "sv-SE", "SEK", goldenNow)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var o erp.Order
		if json.Unmarshal(raw, &o) == nil {
			b, err := json.Marshal(m.Order(o))
			if err != nil {
				t.Fatal(err)
			}
			if err := noNull(b); err != nil {
				t.Errorf("Order(%s): %v", raw, err)
			}
		}
		var inv erp.Invoice
		if json.Unmarshal(raw, &inv) == nil {
			b, err := json.Marshal(m.Invoice(inv, ""))
			if err != nil {
				t.Fatal(err)
			}
			if err := noNull(b); err != nil {
				t.Errorf("Invoice(%s): %v", raw, err)
			}
		}
	})
}

// BenchmarkOrder maps the several-VAT-rates order and encodes it, as one
// GET /v1/orders/{id} does after the ERP call.
func BenchmarkOrder(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "order_vat_rates.erp.json"))
	if err != nil {
		b.Fatal(err)
	}
	var o erp.Order
	if err := json.Unmarshal(raw, &o); err != nil {
		b.Fatal(err)
	}
	m := newMapper(b, "sv-SE", "SEK", goldenNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(m.Order(o)); err != nil {
			b.Fatal(err)
		}
	}
}
