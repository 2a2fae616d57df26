package erp

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Records of the calls added after the order and invoice reads (stock,
// prices, customers, order creation), as modelled in
// docs/extend.md. The same decoding rules as types.go apply:
// unknown fields are ignored, absent or null text is "", numbers may arrive
// as strings like "5 324".

// Availability is one product's balance in one warehouse (one item of
// GET /ProductAvailability).
type Availability struct {
	ProductNumber    string `json:"ProductNumber"`
	Warehouse        string `json:"Warehouse"`
	AvailableBalance Number `json:"AvailableBalance"` // may be negative (oversold)
	ChangedAt        string `json:"ChangedAt"`        // RFC 3339, UTC
}

// Price is a customer's best net price for one product right now (one item
// of GET /ProductPrices).
type Price struct {
	ProductNumber string `json:"ProductNumber"`
	Price         Amount `json:"Price"`
	Currency      string `json:"Currency"` // ISO 4217, e.g. SEK
}

// CustomerRecord is a customer's master data (GET /Customers/{n}). It is not
// Customer, the buyer block printed on an order.
type CustomerRecord struct {
	CustomerNumber string    `json:"CustomerNumber"`
	Name           string    `json:"Name"`
	Addresses      []Address `json:"Addresses"` // Address.Type is Invoice or Delivery
}

// NewOrder is the body of POST /CustomerOrders. Extend does not reject a
// second order with the same ExternalOrderNumber; see Client.CreateOrder.
type NewOrder struct {
	ExternalOrderNumber string        `json:"ExternalOrderNumber"` // the shop's order number; required
	CustomerNumber      string        `json:"CustomerNumber"`      // required
	OrderDate           string        `json:"OrderDate"`           // YYYY-MM-DD
	YourReference       string        `json:"YourReference"`
	Comment             string        `json:"Comment"`
	Currency            string        `json:"Currency"`
	ShippingCost        Amount        `json:"ShippingCost"`
	DeliveryAddress     Address       `json:"DeliveryAddress"`
	Rows                []NewOrderRow `json:"Rows"`
}

// NewOrderRow is one row of a NewOrder.
type NewOrderRow struct {
	ProductNumber  string `json:"ProductNumber"`
	Quantity       Number `json:"Quantity"`
	UnitPrice      Amount `json:"UnitPrice"`
	DiscountAmount Amount `json:"DiscountAmount"` // for the whole row
}

// ProductHeader is one row of GET /Products: what a list holds.
type ProductHeader struct {
	ProductNumber string `json:"ProductNumber"`
	Name          string `json:"Name"`
	Unit          string `json:"Unit"`      // st, fp, par, …
	ChangedAt     string `json:"ChangedAt"` // RFC 3339, UTC; compared as text
}

// Product is one article in full (GET /Products/{productNumber}). Every
// field past the header's may be null or absent: text then decodes as "",
// VatRate and Weight as nil (a rate of 0 % is a real rate, not a missing
// one). Ean is accepted as text or as a JSON number.
type Product struct {
	ProductNumber string  `json:"ProductNumber"`
	Name          string  `json:"Name"`
	Unit          string  `json:"Unit"`
	ChangedAt     string  `json:"ChangedAt"`
	ProductGroup  string  `json:"ProductGroup"` // a ProductGroup.Code
	Manufacturer  string  `json:"Manufacturer"`
	Ean           string  `json:"Ean"`
	VatRate       *Number `json:"VatRate"` // percent: 25, 12, 6, 0
	Weight        *Number `json:"Weight"`  // kg
	Description   string  `json:"Description"`
}

// Header returns the list row of p.
func (p Product) Header() ProductHeader {
	return ProductHeader{ProductNumber: p.ProductNumber, Name: p.Name, Unit: p.Unit, ChangedAt: p.ChangedAt}
}

// UnmarshalJSON decodes a product, taking Ean as text or number.
func (p *Product) UnmarshalJSON(b []byte) error {
	type plain Product
	var v struct {
		plain
		Ean json.RawMessage `json:"Ean"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Product(v.plain)
	p.Ean = ""
	switch raw := bytes.TrimSpace(v.Ean); {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &p.Ean); err != nil {
			return fmt.Errorf("product ean: %w", err)
		}
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("product ean: not text or a number: %.40s", raw)
		}
		p.Ean = n.String()
	}
	return nil
}

// ProductGroup is one row of GET /ProductGroups: a node of the article
// tree.
type ProductGroup struct {
	Code       string `json:"Code"`
	Name       string `json:"Name"`
	ParentCode string `json:"ParentCode"` // "" at the top (null on the wire)
}
