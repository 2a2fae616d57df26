package mapping

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantErr  error  // nil: no error
		wantText string // a part of the error message
	}{
		{"sv-SE", Options{Locale: "sv-SE", Currency: "SEK", Location: time.UTC}, nil, ""},
		{"posix spelling", Options{Locale: "sv_se", Currency: " sek ", Location: time.UTC}, nil, ""},
		{"every currency", Options{Locale: "en-US", Currency: "DKK", Location: time.UTC}, nil, ""},
		{"unknown locale", Options{Locale: "fr-FR", Currency: "EUR", Location: time.UTC}, ErrUnsupported, `"fr-FR"`},
		{"empty locale", Options{Currency: "SEK", Location: time.UTC}, ErrUnsupported, `locale ""`},
		{"unknown currency", Options{Locale: "sv-SE", Currency: "XBT", Location: time.UTC}, ErrUnsupported, `"XBT"`},
		{"empty currency", Options{Locale: "sv-SE", Location: time.UTC}, ErrUnsupported, `currency ""`},
		{"no location", Options{Locale: "sv-SE", Currency: "SEK"}, nil, "time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.opts)
			if tt.wantText == "" {
				if err != nil || m == nil {
					t.Fatalf("New(%+v) = %v, %v, want a Mapper", tt.opts, m, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("New(%+v) error = %v, want one naming %s", tt.opts, err, tt.wantText)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("New(%+v) error = %v, want errors.Is %v", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestNewNowDefault(t *testing.T) {
	m, err := New(Options{Locale: "sv-SE", Currency: "SEK", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	// An invoice due yesterday (by the real clock) with money left is overdue.
	yesterday := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	inv := erp.Invoice{TotalInclVat: 100, DueDate: yesterday}
	if got := m.PaymentStatus(inv); got != PaymentOverdue {
		t.Errorf("PaymentStatus(due %s) = %q, want %q", yesterday, got, PaymentOverdue)
	}
}

func amount(a erp.Amount) *erp.Amount { return &a }

func TestPaymentStatus(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow) // today is 2024-06-14
	tests := []struct {
		name string
		inv  erp.Invoice
		want string
	}{
		{"paid, remaining 0", erp.Invoice{TotalInclVat: 250000, PaidAmount: 250000, RemainingAmount: amount(0), DueDate: "2024-06-01"}, PaymentPaid},
		{"paid, remaining computed", erp.Invoice{TotalInclVat: 250000, PaidAmount: 250000, DueDate: "2024-06-01"}, PaymentPaid},
		{"remaining 0 wins over paid amount", erp.Invoice{TotalInclVat: 250000, PaidAmount: 0, RemainingAmount: amount(0), DueDate: "2024-06-01"}, PaymentPaid},
		{"overpaid", erp.Invoice{TotalInclVat: 250000, PaidAmount: 260000, DueDate: "2024-06-01"}, PaymentPaid},
		{"unpaid, not due", erp.Invoice{TotalInclVat: 250000, RemainingAmount: amount(250000), DueDate: "2024-07-14"}, PaymentUnpaid},
		{"partly paid, not due", erp.Invoice{TotalInclVat: 250000, PaidAmount: 100000, DueDate: "2024-07-14"}, PaymentUnpaid},
		{"partly paid, overdue", erp.Invoice{TotalInclVat: 250000, PaidAmount: 100000, RemainingAmount: amount(150000), DueDate: "2024-06-13"}, PaymentOverdue},
		{"remaining given beats computed", erp.Invoice{TotalInclVat: 250000, PaidAmount: 250000, RemainingAmount: amount(100), DueDate: "2024-06-13"}, PaymentOverdue},
		{"due yesterday", erp.Invoice{TotalInclVat: 100, DueDate: "2024-06-13"}, PaymentOverdue},
		{"due today", erp.Invoice{TotalInclVat: 100, DueDate: "2024-06-14"}, PaymentUnpaid},
		{"due tomorrow", erp.Invoice{TotalInclVat: 100, DueDate: "2024-06-15"}, PaymentUnpaid},
		{"due last year", erp.Invoice{TotalInclVat: 100, DueDate: "2023-12-31"}, PaymentOverdue},
		{"due date padded", erp.Invoice{TotalInclVat: 100, DueDate: " 2024-06-13 "}, PaymentOverdue},
		{"no due date", erp.Invoice{TotalInclVat: 100}, PaymentUnpaid},
		{"unreadable due date", erp.Invoice{TotalInclVat: 100, DueDate: "13/06/2024"}, PaymentUnpaid},
		{"credit note", erp.Invoice{IsCredit: true, TotalInclVat: -62375, RemainingAmount: amount(-62375), DueDate: "2024-05-02"}, PaymentCredited},
		{"credit note, settled", erp.Invoice{IsCredit: true, TotalInclVat: -62375, RemainingAmount: amount(0)}, PaymentCredited},
		{"negative invoice, open", erp.Invoice{TotalInclVat: -10000, DueDate: "2024-06-01"}, PaymentOverdue},
		{"negative invoice, settled", erp.Invoice{TotalInclVat: -10000, PaidAmount: -10000, DueDate: "2024-06-01"}, PaymentPaid},
		{"nothing at all", erp.Invoice{}, PaymentPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.PaymentStatus(tt.inv); got != tt.want {
				t.Errorf("PaymentStatus(%+v) = %q, want %q", tt.inv, got, tt.want)
			}
		})
	}
}

// TestPaymentStatusTimeZone checks that "today" is the merchant's day
// (Europe/Stockholm), whatever zone Now answers in, around midnight.
func TestPaymentStatusTimeZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	inv := erp.Invoice{InvoiceNumber: "1", TotalInclVat: 100, DueDate: "2024-06-14"}
	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		// 23:30 UTC on the 14th is 01:30 on the 15th in Stockholm (CEST).
		{"UTC still the due day, Stockholm past it", time.Date(2024, 6, 14, 23, 30, 0, 0, time.UTC), PaymentOverdue},
		// 21:30 UTC is 23:30 in Stockholm: still the due day.
		{"UTC late on the due day", time.Date(2024, 6, 14, 21, 30, 0, 0, time.UTC), PaymentUnpaid},
		{"one minute before Stockholm midnight", time.Date(2024, 6, 14, 21, 59, 0, 0, time.UTC), PaymentUnpaid},
		{"Stockholm midnight", time.Date(2024, 6, 14, 22, 0, 0, 0, time.UTC), PaymentOverdue},
		// 06:00 on the 15th in Tokyo is 23:00 on the 14th in Stockholm.
		{"Tokyo past the due day, Stockholm not", time.Date(2024, 6, 15, 6, 0, 0, 0, tokyo), PaymentUnpaid},
		// 19:00 on the 14th in New York is 01:00 on the 15th in Stockholm.
		{"New York on the due day, Stockholm past it", time.Date(2024, 6, 14, 19, 0, 0, 0, newYork), PaymentOverdue},
		// Winter time: 23:30 UTC on 14 Jan is 00:30 on the 15th (CET).
		{"winter, after Stockholm midnight", time.Date(2024, 1, 14, 23, 30, 0, 0, time.UTC), PaymentOverdue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMapper(t, "sv-SE", "SEK", tt.now)
			inv := inv
			if tt.now.Month() == time.January {
				inv.DueDate = "2024-01-14"
			}
			if got := m.PaymentStatus(inv); got != tt.want {
				t.Errorf("PaymentStatus(due %s) at %s = %q, want %q", inv.DueDate, tt.now, got, tt.want)
			}
		})
	}
}

func TestTrackingLink(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"https://tracking.postnord.com/se/?id=123", "https://tracking.postnord.com/se/?id=123"},
		{"  https://carrier.example/t/1  ", "https://carrier.example/t/1"},
		{"HTTPS://carrier.example/T/1", "https://carrier.example/T/1"},
		{"https://carrier.example:8443/t?x=1#frag", "https://carrier.example:8443/t?x=1#frag"},
		{"https://carrier.example/a b", "https://carrier.example/a%20b"},
		{"http://carrier.example/t/1", ""},
		{"javascript:alert(1)", ""},
		{"JavaScript://carrier.example/%0aalert(1)", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"ftp://carrier.example/t", ""},
		{"//carrier.example/t/1", ""},
		{"/t/1", ""},
		{"carrier.example/t/1", ""},
		{"https:carrier.example", ""},
		{"https://", ""},
		{"https:///path", ""},
		{"https://:443/path", ""},
		{"https://user:secret@carrier.example/t", ""},
		{"https://carrier.example/\x00", ""},
		{"", ""},
		{"not a url at all", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			if got := TrackingLink(tt.raw); got != tt.want {
				t.Errorf("TrackingLink(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestOrderRowStatus(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow)
	tests := []struct{ status, want string }{
		{erp.StatusRegistered, "registered"},
		{erp.StatusReserved, "reserved"},
		{erp.StatusPicked, "picked"},
		{erp.StatusDelivered, "delivered"},
		{erp.StatusCancelled, "cancelled"},
		{"DELIVERED", "delivered"},
		{"OnHold", "onhold"}, // a status Extend adds later: lower-cased as is
		{"", ""},             // missing: not guessed
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			if got := m.OrderRow(erp.Order{Status: tt.status}).Status; got != tt.want {
				t.Errorf("OrderRow(Status %q).Status = %q, want %q", tt.status, got, tt.want)
			}
		})
	}
}

// TestOrderFallbacks covers the rules that take a second field when the
// first is empty, and the ones that refuse to invent data.
func TestOrderFallbacks(t *testing.T) {
	m := newMapper(t, "sv-SE", "SEK", goldenNow)
	o := erp.Order{
		OrderNumber:     "1",
		CustomerNumber:  "10001",
		TotalVat:        2500, // but no VatLines
		TotalInclVat:    12500,
		Customer:        erp.Customer{Name: "Kund AB"},
		DeliveryAddress: erp.Address{Name: "Kund AB Lager", Reference: "  ", CountryCode: "xx"},
		InvoiceNumbers:  []string{"5"},
	}
	got := m.Order(o)
	want := api.Order{
		ID:           "1",
		Total:        "125,00 kr",
		ShippingCost: "0,00 kr",
		Tax:          []api.Tax{},
		Customer:     api.Customer{Company: "Kund AB", No: "10001"},
		Products:     []api.Product{},
		Delivery:     api.Delivery{Reference: "Kund AB Lager", Country: "xx"},
		Packages:     []api.Package{},
		Orders:       []api.OrderRef{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Order(%+v) mismatch (-want +got):\n%s", o, diff)
	}

	o.Customer.CustomerNumber = "C-9"
	if got := m.Order(o).Customer.No; got != "C-9" {
		t.Errorf("Order(Customer.CustomerNumber C-9).Customer.No = %q, want %q", got, "C-9")
	}
}

// TestConcurrent maps from many goroutines at once, for -race.
func TestConcurrent(t *testing.T) {
	m := newMapper(t, "nb-NO", "NOK", goldenNow)
	o := erp.Order{OrderNumber: "1", TotalInclVat: 123450, Customer: erp.Customer{CountryCode: "se"}}
	done := make(chan api.Order)
	for range 8 {
		go func() { done <- m.Order(o) }()
	}
	for range 8 {
		if got := <-done; got.Total != "1 234,50 kr" || got.Customer.Country != "Sverige" {
			t.Errorf("Order() = total %q, country %q, want %q, %q", got.Total, got.Customer.Country, "1 234,50 kr", "Sverige")
		}
	}
}
