package api

// Wire types of Vendre's extended calls (contract: "Extended Vendre calls").
// GET /v1/credit-invoices answers an InvoiceList (credit notes only).

// Backorders is the answer of GET /v1/backorders.
type Backorders struct {
	Backorders []Backorder `json:"backorders"` // newest order first
}

// Backorder is one open order row with a backordered quantity. Quantities
// are JSON numbers (they may be fractional).
type Backorder struct {
	OrderNo     string  `json:"order_no"`
	OrderDate   string  `json:"order_date"` // YYYY-MM-DD
	Model       string  `json:"model"`      // the product number
	Name        string  `json:"name"`       // the row's description
	Ordered     float64 `json:"ordered"`
	Delivered   float64 `json:"delivered"`
	Backordered float64 `json:"backordered"` // still to deliver; always > 0
}

// Address types of GET /v1/addresses.
const (
	AddressInvoice  = "invoice"
	AddressDelivery = "delivery"
)

// Addresses is the answer of GET /v1/addresses: the invoice address first,
// then the delivery addresses in the ERP's order.
type Addresses struct {
	Addresses []Address `json:"addresses"`
}

// Address is one of the customer's current addresses, in the shape of an
// order's customer and delivery blocks.
type Address struct {
	Type       string `json:"type"`    // AddressInvoice or AddressDelivery
	Company    string `json:"company"` // the address's name
	Reference  string `json:"reference"`
	Address    string `json:"address"`
	Address2   string `json:"address2"`
	Zipcode    string `json:"zipcode"`
	Ziparea    string `json:"ziparea"`
	Country    string `json:"country"`     // name in the language of LOCALE
	CountryISO string `json:"country_iso"` // ISO 3166-1 alpha-3
}

// Prices is the answer of GET /v1/prices.
type Prices struct {
	Prices []Price `json:"prices"` // in the order asked
	// Unknown lists the product numbers asked for that have no price for
	// this customer, in the order asked.
	Unknown []string `json:"unknown"`
}

// Price is the customer's best net price of one product now.
type Price struct {
	Model string `json:"model"`
	Price string `json:"price"` // formatted money
}

// Stock is the answer of GET /v1/stock.
type Stock struct {
	Stock []StockLevel `json:"stock"` // in the order asked
	// Unknown lists the product numbers asked for that the ERP has no
	// balance of in any warehouse, in the order asked.
	Unknown []string `json:"unknown"`
}

// StockLevel is one product's available balance.
type StockLevel struct {
	Model     string  `json:"model"`
	Available float64 `json:"available"` // may be negative (oversold)
}
