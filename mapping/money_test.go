package mapping

import (
	"math"
	"testing"

	"github.com/vendre-extend/gateway/erp"
)

func TestMoney(t *testing.T) {
	tests := []struct {
		locale, currency string // the Mapper's settings
		amount           erp.Amount
		record           string // the record's Currency
		want             string
	}{
		// sv-SE: the contract's examples, byte for byte.
		{"sv-SE", "SEK", 123450, "", "1 234,50 kr"},
		{"sv-SE", "SEK", 0, "", "0,00 kr"},
		{"sv-SE", "SEK", -123450, "", "-1 234,50 kr"},
		{"sv-SE", "SEK", 1, "", "0,01 kr"},
		{"sv-SE", "SEK", -1, "", "-0,01 kr"},
		{"sv-SE", "SEK", 10, "", "0,10 kr"},
		{"sv-SE", "SEK", 99999, "", "999,99 kr"},
		{"sv-SE", "SEK", 100000, "", "1 000,00 kr"},
		{"sv-SE", "SEK", 123456789, "", "1 234 567,89 kr"},
		{"sv-SE", "SEK", -123456789, "", "-1 234 567,89 kr"},
		{"sv-SE", "SEK", 100000000000, "", "1 000 000 000,00 kr"},
		{"sv-SE", "SEK", math.MaxInt64, "", "92 233 720 368 547 758,07 kr"},
		{"sv-SE", "SEK", math.MinInt64, "", "-92 233 720 368 547 758,08 kr"},
		{"sv-SE", "SEK", 123450, "SEK", "1 234,50 kr"},
		{"sv-SE", "SEK", 123450, "sek", "1 234,50 kr"},
		{"sv-SE", "SEK", 123450, "EUR", "1 234,50 €"},
		{"sv-SE", "SEK", 123450, "NOK", "1 234,50 NOK"},
		{"sv-SE", "SEK", 123450, "USD", "1 234,50 $"},
		{"sv-SE", "SEK", 123450, "CHF", "1 234,50 CHF"},
		{"sv-SE", "SEK", 123450, "kronor!", "1 234,50 kr"}, // garbage: CURRENCY
		{"sv-SE", "EUR", 123450, "", "1 234,50 €"},
		// nb-NO
		{"nb-NO", "NOK", 123450, "", "1 234,50 kr"},
		{"nb-NO", "NOK", 0, "", "0,00 kr"},
		{"nb-NO", "NOK", -5, "", "-0,05 kr"},
		{"nb-NO", "NOK", 123456789, "", "1 234 567,89 kr"},
		{"nb-NO", "NOK", 123450, "SEK", "1 234,50 SEK"},
		// da-DK
		{"da-DK", "DKK", 123450, "", "1.234,50 kr."},
		{"da-DK", "DKK", 0, "", "0,00 kr."},
		{"da-DK", "DKK", -123456789, "", "-1.234.567,89 kr."},
		{"da-DK", "DKK", 123450, "EUR", "1.234,50 €"},
		// fi-FI
		{"fi-FI", "EUR", 123450, "", "1 234,50 €"},
		{"fi-FI", "EUR", 1, "", "0,01 €"},
		{"fi-FI", "EUR", -123450, "", "-1 234,50 €"},
		{"fi-FI", "EUR", 123456789, "", "1 234 567,89 €"},
		{"fi-FI", "EUR", 123450, "SEK", "1 234,50 SEK"},
		// de-DE
		{"de-DE", "EUR", 123450, "", "1.234,50 €"},
		{"de-DE", "EUR", 0, "", "0,00 €"},
		{"de-DE", "EUR", -123450, "", "-1.234,50 €"},
		{"de-DE", "EUR", 123456789, "", "1.234.567,89 €"},
		{"de-DE", "EUR", 123450, "GBP", "1.234,50 £"},
		// en-GB
		{"en-GB", "GBP", 123450, "", "£1,234.50"},
		{"en-GB", "GBP", 0, "", "£0.00"},
		{"en-GB", "GBP", 1, "", "£0.01"},
		{"en-GB", "GBP", -123450, "", "-£1,234.50"},
		{"en-GB", "GBP", 123456789, "", "£1,234,567.89"},
		{"en-GB", "GBP", 123450, "EUR", "€1,234.50"},
		{"en-GB", "GBP", 123450, "SEK", "SEK 1,234.50"},
		{"en-GB", "GBP", -123450, "SEK", "-SEK 1,234.50"},
		// en-US
		{"en-US", "USD", 123450, "", "$1,234.50"},
		{"en-US", "USD", 0, "", "$0.00"},
		{"en-US", "USD", -99, "", "-$0.99"},
		{"en-US", "USD", 123456789, "", "$1,234,567.89"},
		{"en-US", "USD", 123450, "GBP", "£1,234.50"},
		{"en-US", "USD", 123450, "DKK", "DKK 1,234.50"},
	}
	for _, tt := range tests {
		t.Run(tt.locale+"/"+tt.currency+"/"+tt.want, func(t *testing.T) {
			m := newMapper(t, tt.locale, tt.currency, goldenNow)
			if got := m.Money(tt.amount, tt.record); got != tt.want {
				t.Errorf("Money(%d, %q) under %s/%s = %q, want %q", tt.amount, tt.record, tt.locale, tt.currency, got, tt.want)
			}
		})
	}
}

// TestMoneyEveryLocale checks that each supported locale formats its own
// currency with ASCII spaces only (no U+00A0 or U+202F sneaks in).
func TestMoneyEveryLocale(t *testing.T) {
	for _, l := range locales {
		t.Run(l.name, func(t *testing.T) {
			m := newMapper(t, l.name, l.own, goldenNow)
			got := m.Money(-123456789, "")
			for _, r := range got {
				if r == '\u00a0' || r == '\u202f' {
					t.Errorf("Money(-1234567.89) = %q, holds %U, want plain spaces", got, r)
				}
			}
			if got[0] != '-' {
				t.Errorf("Money(-1234567.89) = %q, want a leading hyphen-minus", got)
			}
		})
	}
}

func BenchmarkMoney(b *testing.B) {
	m := newMapper(b, "sv-SE", "SEK", goldenNow)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Money(-123456789, "")
	}
}
