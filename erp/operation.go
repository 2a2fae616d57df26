package erp

import "strings"

// Operation names of the Extend Commerce calls the client makes, as
// OperationName returns them: a small, fixed set, fit for a metric label or
// a span name.
const (
	OpToken        = "token"          // POST /oauth/token
	OpOrderList    = "order-list"     // GET /CustomerOrders
	OpOrder        = "order"          // GET /CustomerOrders/{number}
	OpOrderCreate  = "order-create"   // POST /CustomerOrders
	OpInvoiceList  = "invoice-list"   // GET /CustomerInvoices
	OpInvoice      = "invoice"        // GET /CustomerInvoices/{number}
	OpInvoicePDF   = "invoice-pdf"    // GET /CustomerInvoices/{number}/pdf
	OpAvailability = "availability"   // GET /ProductAvailability
	OpPrices       = "prices"         // GET /ProductPrices
	OpCustomer     = "customer"       // GET /Customers/{number}
	OpProductList  = "product-list"   // GET /Products
	OpProduct      = "product"        // GET /Products/{number}
	OpProductGroup = "product-groups" // GET /ProductGroups
	OpOther        = "other"          // any other method or path
)

// OperationName names the Extend Commerce call of an HTTP request by its
// method and URL path, for telemetry. path may carry the base URL's own
// path before the adapter's (/api/v1/CustomerOrders/123); record numbers
// never appear in the name, so it is safe as a metric label. Requests this
// client does not make are OpOther.
func OperationName(method, path string) string {
	if strings.HasSuffix(path, pathToken) {
		if method == "POST" {
			return OpToken
		}
		return OpOther
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		rest := segs[i+1:]
		switch "/" + s {
		case pathOrders:
			switch {
			case len(rest) == 0 && method == "GET":
				return OpOrderList
			case len(rest) == 0 && method == "POST":
				return OpOrderCreate
			case len(rest) == 1 && method == "GET":
				return OpOrder
			}
			return OpOther
		case pathInvoices:
			switch {
			case method != "GET":
			case len(rest) == 0:
				return OpInvoiceList
			case len(rest) == 1:
				return OpInvoice
			case len(rest) == 2 && "/"+rest[1] == pathInvoicePDF:
				return OpInvoicePDF
			}
			return OpOther
		case pathAvailability:
			if len(rest) == 0 && method == "GET" {
				return OpAvailability
			}
			return OpOther
		case pathPrices:
			if len(rest) == 0 && method == "GET" {
				return OpPrices
			}
			return OpOther
		case pathCustomers:
			if len(rest) == 1 && method == "GET" {
				return OpCustomer
			}
			return OpOther
		case pathProducts:
			switch {
			case method != "GET":
			case len(rest) == 0:
				return OpProductList
			case len(rest) == 1:
				return OpProduct
			}
			return OpOther
		case pathGroups:
			if len(rest) == 0 && method == "GET" {
				return OpProductGroup
			}
			return OpOther
		}
	}
	return OpOther
}
