package erp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/vendre-extend/gateway/clip"
)

// The records below are Extend Commerce's data as modelled in
// docs/extend.md. Field names are PascalCase on the wire;
// unknown fields are ignored; any text field may be absent or null (it then
// decodes as ""); lists may be absent (nil).

// Page is one page of an Extend list answer. A list answer without
// Items (or with "Items": null) or without TotalCount does not decode: it
// is unusable, not an empty list (an empty one says "Items": [] and
// "TotalCount": 0).
type Page[T any] struct {
	Items      []T `json:"Items"`
	Page       int `json:"Page"`
	PageSize   int `json:"PageSize"`
	TotalCount int `json:"TotalCount"`
}

// UnmarshalJSON decodes a list answer, refusing one that lacks Items or
// TotalCount.
func (p *Page[T]) UnmarshalJSON(b []byte) error {
	var w struct {
		Items      *[]T `json:"Items"`
		Page       int  `json:"Page"`
		PageSize   int  `json:"PageSize"`
		TotalCount *int `json:"TotalCount"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	switch {
	case w.Items == nil || *w.Items == nil:
		return errors.New("list answer without Items")
	case w.TotalCount == nil:
		return errors.New("list answer without TotalCount")
	case *w.TotalCount < 0:
		return fmt.Errorf("list answer with TotalCount %d", *w.TotalCount)
	}
	*p = Page[T]{Items: *w.Items, Page: w.Page, PageSize: w.PageSize, TotalCount: *w.TotalCount}
	return nil
}

// OrderHeader is one row of GET /CustomerOrders: headers only.
type OrderHeader struct {
	OrderNumber string `json:"OrderNumber"`
	OrderDate   string `json:"OrderDate"` // YYYY-MM-DD
	ChangedAt   string `json:"ChangedAt"` // RFC 3339, UTC; compared as text
}

// InvoiceHeader is one row of GET /CustomerInvoices.
type InvoiceHeader struct {
	InvoiceNumber string `json:"InvoiceNumber"`
	InvoiceDate   string `json:"InvoiceDate"`
	ChangedAt     string `json:"ChangedAt"`
}

// Order statuses as Extend names them.
const (
	StatusRegistered = "Registered"
	StatusReserved   = "Reserved"
	StatusPicked     = "Picked"
	StatusDelivered  = "Delivered"
	StatusCancelled  = "Cancelled"
)

// Order is one order in full (GET /CustomerOrders/{orderNumber}).
type Order struct {
	OrderNumber         string     `json:"OrderNumber"`
	ExternalOrderNumber string     `json:"ExternalOrderNumber"`
	CustomerNumber      string     `json:"CustomerNumber"`
	OrderDate           string     `json:"OrderDate"`
	ChangedAt           string     `json:"ChangedAt"`
	Status              string     `json:"Status"`
	YourReference       string     `json:"YourReference"`
	OurReference        string     `json:"OurReference"`
	PurchaseOrderNumber string     `json:"PurchaseOrderNumber"`
	Comment             string     `json:"Comment"`
	Currency            string     `json:"Currency"`
	TotalExclVat        Amount     `json:"TotalExclVat"`
	TotalVat            Amount     `json:"TotalVat"`
	TotalInclVat        Amount     `json:"TotalInclVat"`
	ShippingCost        Amount     `json:"ShippingCost"`
	VatLines            []VatLine  `json:"VatLines"`
	Customer            Customer   `json:"Customer"`
	DeliveryAddress     Address    `json:"DeliveryAddress"`
	Rows                []Row      `json:"Rows"`
	Shipments           []Shipment `json:"Shipments"`
	InvoiceNumbers      []string   `json:"InvoiceNumbers"`
}

// Invoice is one customer invoice in full (GET /CustomerInvoices/{n}): the
// order's fields without Status, plus its own.
type Invoice struct {
	InvoiceNumber         string     `json:"InvoiceNumber"`
	InvoiceDate           string     `json:"InvoiceDate"`
	DueDate               string     `json:"DueDate"`
	IsCredit              bool       `json:"IsCredit"` // a credit note
	CreditedInvoiceNumber string     `json:"CreditedInvoiceNumber"`
	PaidAmount            Amount     `json:"PaidAmount"`
	RemainingAmount       *Amount    `json:"RemainingAmount"` // nil when absent
	OrderNumbers          []string   `json:"OrderNumbers"`
	CustomerNumber        string     `json:"CustomerNumber"`
	ChangedAt             string     `json:"ChangedAt"`
	YourReference         string     `json:"YourReference"`
	OurReference          string     `json:"OurReference"`
	PurchaseOrderNumber   string     `json:"PurchaseOrderNumber"`
	Comment               string     `json:"Comment"`
	Currency              string     `json:"Currency"`
	TotalExclVat          Amount     `json:"TotalExclVat"`
	TotalVat              Amount     `json:"TotalVat"`
	TotalInclVat          Amount     `json:"TotalInclVat"`
	ShippingCost          Amount     `json:"ShippingCost"`
	VatLines              []VatLine  `json:"VatLines"`
	Customer              Customer   `json:"Customer"`
	DeliveryAddress       Address    `json:"DeliveryAddress"`
	Rows                  []Row      `json:"Rows"`
	Shipments             []Shipment `json:"Shipments"`
}

// VatLine is the VAT of one rate.
type VatLine struct {
	Rate   Number `json:"Rate"` // percent: 25, 12, 6, 0
	Amount Amount `json:"Amount"`
}

// Customer is the buyer as printed on an order or invoice.
type Customer struct {
	CustomerNumber string `json:"CustomerNumber"`
	Name           string `json:"Name"`
	Reference      string `json:"Reference"`
	Address1       string `json:"Address1"`
	Address2       string `json:"Address2"`
	ZipCode        string `json:"ZipCode"`
	City           string `json:"City"`
	CountryCode    string `json:"CountryCode"` // ISO 3166-1 alpha-2
}

// Address is a delivery (or customer master) address.
type Address struct {
	Type        string `json:"Type,omitempty"` // Invoice or Delivery, on GET /Customers only
	Name        string `json:"Name"`
	Reference   string `json:"Reference"`
	Address1    string `json:"Address1"`
	Address2    string `json:"Address2"`
	ZipCode     string `json:"ZipCode"`
	City        string `json:"City"`
	CountryCode string `json:"CountryCode"` // ISO 3166-1 alpha-2
}

// Row is one order or invoice row.
type Row struct {
	RowNumber         int    `json:"RowNumber"`
	ProductNumber     string `json:"ProductNumber"`
	Description       string `json:"Description"`
	Quantity          Number `json:"Quantity"`
	DeliveredQuantity Number `json:"DeliveredQuantity"`
	BackorderQuantity Number `json:"BackorderQuantity"`
	UnitPrice         Amount `json:"UnitPrice"`
	DiscountAmount    Amount `json:"DiscountAmount"`
	RowTotal          Amount `json:"RowTotal"`
}

// Shipment is one package of an order.
type Shipment struct {
	ShipmentNumber string `json:"ShipmentNumber"`
	Carrier        string `json:"Carrier"`
	TrackingNumber string `json:"TrackingNumber"`
	TrackingURL    string `json:"TrackingUrl"`
}

// Amount is money in hundredths of the currency unit (öre, cents). Extend
// sends a JSON number with up to 2 decimals, but Amount also accepts a
// numeric string with a space or no-break space as thousands separator
// ("5 324", "1 234.50") and null (zero). It encodes as a JSON number.
type Amount int64

// Float returns the amount in whole currency units.
func (a Amount) Float() float64 { return float64(a) / 100 }

// MarshalJSON writes the amount as a JSON number with two decimals.
func (a Amount) MarshalJSON() ([]byte, error) {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign = "-"
		v = -v
	}
	return []byte(fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)), nil
}

// UnmarshalJSON accepts a number, a numeric string or null. Anything
// else is a *json.UnmarshalTypeError, which encoding/json completes with
// the field's name (Order.ShippingCost), so a report can name it.
func (a *Amount) UnmarshalJSON(b []byte) error {
	f, null, err := parseNumber(b)
	if err != nil {
		return typeError(b, reflect.TypeFor[Amount]())
	}
	if null {
		*a = 0
		return nil
	}
	c := math.Round(f * 100)
	if c > math.MaxInt64/2 || c < math.MinInt64/2 {
		return typeError(b, reflect.TypeFor[Amount]())
	}
	*a = Amount(c)
	return nil
}

// Number is a quantity or a rate: a JSON number, a numeric string with
// space separators, or null (zero).
type Number float64

// UnmarshalJSON accepts a number, a numeric string or null; anything
// else is a *json.UnmarshalTypeError, as for Amount.
func (n *Number) UnmarshalJSON(b []byte) error {
	f, null, err := parseNumber(b)
	if err != nil {
		return typeError(b, reflect.TypeFor[Number]())
	}
	if null {
		*n = 0
		return nil
	}
	*n = Number(f)
	return nil
}

// typeError describes a JSON value b that does not fit type t the way
// encoding/json does its own, so that it adds the field's name.
func typeError(b []byte, t reflect.Type) error {
	kind := "value " + clip.String(string(bytes.TrimSpace(b)), 40)
	switch c := bytes.TrimSpace(b); {
	case len(c) == 0:
	case c[0] == '{':
		kind = "object"
	case c[0] == '[':
		kind = "array"
	case c[0] == '"':
		kind = "string " + clip.String(string(c), 40)
	case c[0] == 't' || c[0] == 'f':
		kind = "bool"
	default:
		kind = "number " + clip.String(string(c), 40)
	}
	return &json.UnmarshalTypeError{Value: kind, Type: t}
}

// parseNumber reads a JSON number, a JSON string holding a number (with
// space, no-break space or narrow no-break space as thousands separators,
// and a decimal point or comma), or null.
func parseNumber(b []byte) (f float64, null bool, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return 0, true, nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, false, err
		}
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\u00a0', '\u202f', '\t':
				return -1
			case ',':
				return '.'
			}
			return r
		}, s)
		if s == "" {
			return 0, true, nil
		}
	}
	f, err = strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("not a number: %.40q", string(b))
	}
	return f, false, nil
}
