// Package api holds the gateway's contract with its callers: the OpenAPI
// document (openapi.yaml) and the wire types of every JSON answer.
//
// Field names follow Vendre's Pull API guide; docs/api.md explains them.
// Every money field is a display string already formatted for the
// merchant's LOCALE and CURRENCY ("1 234,50 kr"); dates are YYYY-MM-DD.
// Missing optional text is "" and missing lists are [], never null: the
// mapping guarantees it and the JSON Schemas in schemas/ check it.
//
// This package imports nothing of ours.
package api

// OrderList is the answer of GET /v1/orders.
type OrderList struct {
	Orders  []OrderRow `json:"orders"`
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
	Total   int        `json:"total"`
}

// OrderRow is one row of GET /v1/orders, newest first.
type OrderRow struct {
	ID         string `json:"id"`
	CustomerNo string `json:"customer_no"`
	Sum        string `json:"sum"` // total incl. VAT, formatted money
	Date       string `json:"date"`
	Reference  string `json:"reference"` // the customer's own reference
	// Status is the ERP's order status in lower case: registered, reserved,
	// picked (shipped), delivered or cancelled.
	Status string `json:"status"`
}

// InvoiceList is the answer of GET /v1/invoices and GET /v1/credit-invoices.
type InvoiceList struct {
	Invoices []InvoiceRow `json:"invoices"`
	Page     int          `json:"page"`
	PerPage  int          `json:"per_page"`
	Total    int          `json:"total"`
}

// InvoiceRow is one row of GET /v1/invoices, newest first.
type InvoiceRow struct {
	ID         string `json:"id"`
	CustomerNo string `json:"customer_no"`
	Sum        string `json:"sum"` // total incl. VAT, formatted money
	Date       string `json:"date"`
	DueDate    string `json:"due_date"`
	Reference  string `json:"reference"`
	// PaymentStatus is paid, unpaid, overdue or credited.
	PaymentStatus string `json:"payment_status"`
}

// Order is the answer of GET /v1/orders/{id}; an Invoice carries the same
// fields and adds its own.
type Order struct {
	ID           string    `json:"id"`
	PONumber     string    `json:"po_number"`
	Comment      string    `json:"comment"`
	Total        string    `json:"total"`
	ShippingCost string    `json:"shipping_cost"`
	Tax          []Tax     `json:"tax"` // one entry per VAT rate
	Customer     Customer  `json:"customer"`
	Products     []Product `json:"products"`
	Delivery     Delivery  `json:"delivery"`
	Reference    string    `json:"reference"`
	Packages     []Package `json:"packages"`
	// Orders lists the orders an invoice bills; on an order it is [].
	Orders []OrderRef `json:"orders"`
	// PDFLink leads to the gateway's GET /v1/documents/{token}, never to
	// the ERP; on an order it is "".
	PDFLink string `json:"pdf_link"`
}

// Invoice is the answer of GET /v1/invoices/{id}.
type Invoice struct {
	Order
	Date    string `json:"date"`
	DueDate string `json:"due_date"`
	// PaymentStatus is paid, unpaid, overdue or credited.
	PaymentStatus string `json:"payment_status"`
}

// Tax is the VAT of one rate.
type Tax struct {
	Rate   float64 `json:"rate"`   // percent, e.g. 25
	Amount string  `json:"amount"` // formatted money
}

// Customer is the buyer of an order or invoice.
type Customer struct {
	Company    string `json:"company"`
	No         string `json:"no"`
	Reference  string `json:"reference"`
	Address    string `json:"address"`
	Address2   string `json:"address2"`
	Zipcode    string `json:"zipcode"`
	Ziparea    string `json:"ziparea"`
	Country    string `json:"country"`     // name in the language of LOCALE
	CountryISO string `json:"country_iso"` // ISO 3166-1 alpha-3
}

// Delivery is where an order goes.
type Delivery struct {
	Reference  string `json:"reference"`
	Address    string `json:"address"`
	Address2   string `json:"address2"`
	Zipcode    string `json:"zipcode"`
	Ziparea    string `json:"ziparea"`
	Country    string `json:"country"`
	CountryISO string `json:"country_iso"`
}

// Product is one row of an order or invoice.
type Product struct {
	Model    string  `json:"model"`
	Name     string  `json:"name"`
	Quantity float64 `json:"quantity"` // ordered quantity
	Price    string  `json:"price"`    // unit price, formatted money
	Discount string  `json:"discount"` // row discount, formatted money
	RowTotal string  `json:"row_total"`
}

// Package is one shipment.
type Package struct {
	TracingID    string `json:"tracing_id"`
	TrackingLink string `json:"tracking_link"` // https:// URL or ""
}

// OrderRef names an order billed by an invoice.
type OrderRef struct {
	OrderNo string `json:"order_no"`
}

// Error is every error answer: {"error":{"code":…,"message":…}}.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of an Error.
type ErrorBody struct {
	// Code is one of invalid_request, unauthorized, not_found,
	// rate_limited, bad_gateway, unavailable, timeout.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Health is the answer of GET /healthz and GET /readyz.
type Health struct {
	Status string            `json:"status"`           // "ok" or "unavailable"
	Checks map[string]string `json:"checks,omitempty"` // part -> "ok" or what fails
}

// Resumed is the answer of POST /admin/erp/resume.
type Resumed struct {
	Resumed bool `json:"resumed"` // the pauses Extend asked for are lifted
}

// Flushed is the answer of POST /admin/cache/flush.
type Flushed struct {
	Flushed int `json:"flushed"` // cache keys or entries removed
}
