package handlers

import (
	"errors"
	"net/url"
	"testing"
	"time"
)

// FuzzParseList: no query string makes the parameter parsing panic, and
// what it accepts is always within the contract's ranges.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"customer_no=10001",
		"customer_no=10001&from=2025-01-01&to=2025-12-31&page=2&per_page=100",
		"customer_no=a&customer_no=b",
		"customer_no=%00&page=-1",
		"from=9999-99-99&per_page=1e9",
		"customer_no=x&page=999999999999",
	} {
		f.Add(s)
	}
	v := newValidator()
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		customer, lq, err := parseList(v, q, today)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("parseList(%q) error %v is not a named parameter error", raw, err)
			}
			return
		}
		if !matchChars(customer, 32, false) || lq.Page < 1 || lq.PerPage < 1 || lq.PerPage > 100 || lq.From > lq.To {
			t.Fatalf("parseList(%q) accepted %q %+v", raw, customer, lq)
		}
		if _, err := parseDetail(v, q, q.Get("id")); err != nil {
			var pe *paramError
			if !errors.As(err, &pe) {
				t.Fatalf("parseDetail(%q) error %v is not a parameter error", raw, err)
			}
		}
	})
}

func TestDefaultDates(t *testing.T) {
	v := newValidator()
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		query, from, to string
	}{
		{"customer_no=1", "2025-11-29", "2026-11-29"},
		{"customer_no=1&to=2026-03-01", "2025-03-01", "2026-03-01"},
		{"customer_no=1&from=2026-01-01", "2026-01-01", "2026-11-29"},
		{"customer_no=1&from=2020-01-01&to=2020-01-01", "2020-01-01", "2020-01-01"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		_, got, err := parseList(v, q, today)
		if err != nil || got.From != tt.from || got.To != tt.to {
			t.Errorf("parseList(%q) = %s..%s, %v; want %s..%s", tt.query, got.From, got.To, err, tt.from, tt.to)
		}
	}
}
