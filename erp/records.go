package erp

// Records of the calls added after the order and invoice reads (stock,
// prices, customers, order creation), as modelled in
// shared/spec/extend-model.md. The same decoding rules as types.go apply:
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
