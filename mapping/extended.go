package mapping

// Mapping of Vendre's extended calls: backorders, addresses and prices.
// Credit notes use InvoiceRow; stock has nothing to format.

import (
	"cmp"
	"slices"
	"strings"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/erp"
)

// IsOpen reports whether an order may still deliver something: its status
// is neither Delivered nor Cancelled (compared without case). Registered,
// Reserved and Picked (shipped, possibly in part) orders are open, and so
// is an order with an empty status or one Extend adds later: a backordered
// row is better shown than hidden.
func IsOpen(o erp.Order) bool {
	s := strings.TrimSpace(o.Status)
	return !strings.EqualFold(s, erp.StatusDelivered) && !strings.EqualFold(s, erp.StatusCancelled)
}

// Backorders maps orders to GET /v1/backorders: one entry per row of an
// open order (IsOpen) whose BackorderQuantity is more than 0, newest order
// first (by OrderDate, then order number, both descending), rows in the
// order's own order. Orders that are not open and rows with nothing
// backordered are left out; the caller checks that the orders are the
// customer's.
func (m *Mapper) Backorders(orders []erp.Order) api.Backorders {
	open := make([]erp.Order, 0, len(orders))
	for _, o := range orders {
		if IsOpen(o) {
			open = append(open, o)
		}
	}
	slices.SortStableFunc(open, func(a, b erp.Order) int {
		return cmp.Or(strings.Compare(b.OrderDate, a.OrderDate), compareNumbers(b.OrderNumber, a.OrderNumber))
	})
	out := api.Backorders{Backorders: []api.Backorder{}}
	for _, o := range open {
		for _, r := range o.Rows {
			if r.BackorderQuantity <= 0 {
				continue
			}
			out.Backorders = append(out.Backorders, api.Backorder{
				OrderNo:     o.OrderNumber,
				OrderDate:   o.OrderDate,
				Model:       r.ProductNumber,
				Name:        r.Description,
				Ordered:     float64(r.Quantity),
				Delivered:   float64(r.DeliveredQuantity),
				Backordered: float64(r.BackorderQuantity),
			})
		}
	}
	return out
}

// compareNumbers orders record numbers: numerically when both are digits
// only ("9" before "10"), else as text.
func compareNumbers(a, b string) int {
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Addresses maps a customer's master data (GET /Customers/{n}) to GET
// /v1/addresses: the invoice addresses first, then the delivery addresses,
// each in the ERP's order. An address's Type is compared without case; an
// address of another type (or none) is left out, since Vendre knows only
// these two. company is the address's name, or the customer's name where
// the address has none; reference is the address's own reference (the
// name already shows as company, so it is not repeated there, unlike an
// order's delivery block).
func (m *Mapper) Addresses(c erp.CustomerRecord) api.Addresses {
	out := api.Addresses{Addresses: []api.Address{}}
	for _, kind := range []string{api.AddressInvoice, api.AddressDelivery} {
		for _, a := range c.Addresses {
			if !strings.EqualFold(strings.TrimSpace(a.Type), kind) {
				continue
			}
			company := a.Name
			if strings.TrimSpace(company) == "" {
				company = c.Name
			}
			country, iso := m.Country(a.CountryCode)
			out.Addresses = append(out.Addresses, api.Address{
				Type:       kind,
				Company:    company,
				Reference:  a.Reference,
				Address:    a.Address1,
				Address2:   a.Address2,
				Zipcode:    a.ZipCode,
				Ziparea:    a.City,
				Country:    country,
				CountryISO: iso,
			})
		}
	}
	return out
}

// Price maps one product's price (GET /ProductPrices) to its entry in GET
// /v1/prices, in the price's own currency (the merchant's CURRENCY when the
// ERP names none).
func (m *Mapper) Price(p erp.Price) api.Price {
	return api.Price{Model: p.ProductNumber, Price: m.Money(p.Price, p.Currency)}
}
