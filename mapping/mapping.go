package mapping

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
)

// ErrUnsupported is returned by New for a LOCALE or CURRENCY the mapping
// cannot format; the error names the value and the supported ones.
var ErrUnsupported = errors.New("unsupported")

// Payment statuses of an invoice, as Vendre shows them.
const (
	PaymentPaid     = "paid"
	PaymentUnpaid   = "unpaid"
	PaymentOverdue  = "overdue"
	PaymentCredited = "credited"
)

// Options are the merchant's settings that shape what customers see.
type Options struct {
	// Locale (LOCALE) decides how money is written and the language of
	// country names: sv-SE, nb-NO, da-DK, fi-FI, de-DE, en-GB or en-US
	// (any case; "sv_SE" is accepted too).
	Locale string
	// Currency (CURRENCY) is the ISO 4217 code used for records that name
	// none: SEK, NOK, DKK, EUR, USD or GBP.
	Currency string
	// Location (TIMEZONE) is the merchant's time zone: it decides which day
	// is "today", and so when an invoice is overdue. Required.
	Location *time.Location
	// Now returns the current time, in any zone; nil means time.Now.
	Now func() time.Time
}

// Mapper maps Extend records to Vendre answers. It is immutable and safe
// for concurrent use.
type Mapper struct {
	locale    locale
	currency  string
	loc       *time.Location
	now       func() time.Time
	countries map[string]country // by alpha-2 and alpha-3 code
}

// New checks opts and builds a Mapper. It returns an error wrapping
// ErrUnsupported, naming the value, for an unknown Locale or Currency, and
// an error when Location is nil.
func New(opts Options) (*Mapper, error) {
	l, ok := findLocale(opts.Locale)
	if !ok {
		return nil, fmt.Errorf("mapping: locale %q: %w (supported: %s)", opts.Locale, ErrUnsupported, supportedLocales())
	}
	cur := strings.ToUpper(strings.TrimSpace(opts.Currency))
	if _, ok := currencies[cur]; !ok {
		return nil, fmt.Errorf("mapping: currency %q: %w (supported: SEK, NOK, DKK, EUR, USD, GBP)", opts.Currency, ErrUnsupported)
	}
	if opts.Location == nil {
		return nil, errors.New("mapping: no time zone location")
	}
	countries, err := countryTable(l.language)
	if err != nil {
		return nil, fmt.Errorf("mapping: country names for %s: %w", l.name, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Mapper{locale: l, currency: cur, loc: opts.Location, now: now, countries: countries}, nil
}

// OrderRow maps an order to its row in GET /v1/orders. Status is the ERP's
// status in lower case: registered, reserved, picked, delivered, cancelled;
// a status Extend adds later is lower-cased as it is, and a missing one
// stays "" (we do not guess "registered").
func (m *Mapper) OrderRow(o erp.Order) api.OrderRow {
	return api.OrderRow{
		ID:         o.OrderNumber,
		CustomerNo: o.CustomerNumber,
		Sum:        m.Money(o.TotalInclVat, o.Currency),
		Date:       o.OrderDate,
		Reference:  o.YourReference,
		Status:     strings.ToLower(o.Status),
	}
}

// Order maps an order to GET /v1/orders/{id}. An order bills nothing and
// has no document: Orders is [] and PDFLink is "".
func (m *Mapper) Order(o erp.Order) api.Order {
	d := m.detail(record{
		id:         o.OrderNumber,
		customerNo: o.CustomerNumber,
		po:         o.PurchaseOrderNumber,
		comment:    o.Comment,
		reference:  o.YourReference,
		currency:   o.Currency,
		total:      o.TotalInclVat,
		shipping:   o.ShippingCost,
		vat:        o.VatLines,
		customer:   o.Customer,
		delivery:   o.DeliveryAddress,
		rows:       o.Rows,
		shipments:  o.Shipments,
	})
	d.Orders = []api.OrderRef{}
	return d
}

// InvoiceRow maps an invoice to its row in GET /v1/invoices.
func (m *Mapper) InvoiceRow(inv erp.Invoice) api.InvoiceRow {
	return api.InvoiceRow{
		ID:            inv.InvoiceNumber,
		CustomerNo:    inv.CustomerNumber,
		Sum:           m.Money(inv.TotalInclVat, inv.Currency),
		Date:          inv.InvoiceDate,
		DueDate:       inv.DueDate,
		Reference:     inv.YourReference,
		PaymentStatus: m.PaymentStatus(inv),
	}
}

// Invoice maps an invoice to GET /v1/invoices/{id}. pdfLink is the
// gateway's signed document link (never the ERP's URL); Orders has one
// entry per order the invoice bills.
func (m *Mapper) Invoice(inv erp.Invoice, pdfLink string) api.Invoice {
	d := m.detail(record{
		id:         inv.InvoiceNumber,
		customerNo: inv.CustomerNumber,
		po:         inv.PurchaseOrderNumber,
		comment:    inv.Comment,
		reference:  inv.YourReference,
		currency:   inv.Currency,
		total:      inv.TotalInclVat,
		shipping:   inv.ShippingCost,
		vat:        inv.VatLines,
		customer:   inv.Customer,
		delivery:   inv.DeliveryAddress,
		rows:       inv.Rows,
		shipments:  inv.Shipments,
	})
	d.Orders = make([]api.OrderRef, len(inv.OrderNumbers))
	for i, n := range inv.OrderNumbers {
		d.Orders[i] = api.OrderRef{OrderNo: n}
	}
	d.PDFLink = pdfLink
	return api.Invoice{
		Order:         d,
		Date:          inv.InvoiceDate,
		DueDate:       inv.DueDate,
		PaymentStatus: m.PaymentStatus(inv),
	}
}

// PaymentStatus derives an invoice's payment status:
//
//   - credited: a credit note (IsCredit), whatever else it says;
//   - paid: nothing is left to pay. What is left is RemainingAmount, or
//     TotalInclVat - PaidAmount when the ERP leaves it out; an overpayment
//     (left to pay on the other side of zero from the total) counts as paid;
//   - overdue: something is left and DueDate (YYYY-MM-DD) is before today
//     in the merchant's TIMEZONE; an invoice due today is not overdue yet,
//     and one without a readable DueDate never is;
//   - unpaid: otherwise, partly paid included.
func (m *Mapper) PaymentStatus(inv erp.Invoice) string {
	if inv.IsCredit {
		return PaymentCredited
	}
	left := inv.TotalInclVat - inv.PaidAmount
	if inv.RemainingAmount != nil {
		left = *inv.RemainingAmount
	}
	total := inv.TotalInclVat
	if left == 0 || (total > 0 && left < 0) || (total < 0 && left > 0) {
		return PaymentPaid
	}
	due, err := time.Parse(time.DateOnly, strings.TrimSpace(inv.DueDate))
	if err != nil {
		return PaymentUnpaid
	}
	if due.Format(time.DateOnly) < m.Today() {
		return PaymentOverdue
	}
	return PaymentUnpaid
}

// Today is the merchant's date now (YYYY-MM-DD, in Options.Location): the
// day PaymentStatus tells overdue by.
func (m *Mapper) Today() string { return m.now().In(m.loc).Format(time.DateOnly) }

// TrackingLink returns raw when it is an absolute https:// URL with a host
// (normalised: scheme in lower case, unsafe characters escaped), and ""
// otherwise: http://, javascript:, relative links, links with a user name
// or password, and text that is no URL at all never reach the customer.
func TrackingLink(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.Hostname() == "" || u.User != nil {
		return ""
	}
	return u.String()
}

// record is what an order and an invoice have in common.
type record struct {
	id, customerNo, po, comment, reference, currency string
	total, shipping                                  erp.Amount
	vat                                              []erp.VatLine
	customer                                         erp.Customer
	delivery                                         erp.Address
	rows                                             []erp.Row
	shipments                                        []erp.Shipment
}

// detail maps the fields an order and an invoice share. Orders and PDFLink
// are left for the caller.
//
// Tax has one entry per VatLine, in the ERP's order. When the ERP sends no
// VatLines, Tax is [] even if TotalVat is not zero: we do not invent a rate.
func (m *Mapper) detail(r record) api.Order {
	money := func(a erp.Amount) string { return m.Money(a, r.currency) }

	tax := make([]api.Tax, len(r.vat))
	for i, v := range r.vat {
		tax[i] = api.Tax{Rate: float64(v.Rate), Amount: money(v.Amount)}
	}
	products := make([]api.Product, len(r.rows))
	for i, row := range r.rows {
		products[i] = api.Product{
			Model:    row.ProductNumber,
			Name:     row.Description,
			Quantity: float64(row.Quantity),
			Price:    money(row.UnitPrice),
			Discount: money(row.DiscountAmount),
			RowTotal: money(row.RowTotal),
		}
	}
	packages := make([]api.Package, len(r.shipments))
	for i, s := range r.shipments {
		packages[i] = api.Package{TracingID: s.TrackingNumber, TrackingLink: TrackingLink(s.TrackingURL)}
	}

	c := r.customer
	customerNo := c.CustomerNumber
	if customerNo == "" {
		customerNo = r.customerNo
	}
	country, iso := m.Country(c.CountryCode)
	customer := api.Customer{
		Company:    c.Name,
		No:         customerNo,
		Reference:  c.Reference,
		Address:    c.Address1,
		Address2:   c.Address2,
		Zipcode:    c.ZipCode,
		Ziparea:    c.City,
		Country:    country,
		CountryISO: iso,
	}

	a := r.delivery
	ref := a.Reference
	if strings.TrimSpace(ref) == "" {
		ref = a.Name
	}
	country, iso = m.Country(a.CountryCode)
	delivery := api.Delivery{
		Reference:  ref,
		Address:    a.Address1,
		Address2:   a.Address2,
		Zipcode:    a.ZipCode,
		Ziparea:    a.City,
		Country:    country,
		CountryISO: iso,
	}

	return api.Order{
		ID:           r.id,
		PONumber:     r.po,
		Comment:      r.comment,
		Total:        money(r.total),
		ShippingCost: money(r.shipping),
		Tax:          tax,
		Customer:     customer,
		Products:     products,
		Delivery:     delivery,
		Reference:    r.reference,
		Packages:     packages,
		PDFLink:      "",
	}
}
