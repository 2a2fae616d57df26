// Package extendsim is a simulated Extend Commerce: an http.Handler that
// speaks the wire model of docs/extend.md over deterministic
// sample data of a Swedish B2B merchant of workwear and tools (amounts in
// SEK with öre).
//
// It ships in the gateway binary for demo mode, where the real ERP client
// talks to it over a loopback listener, and tests and benchmarks use it as
// the ERP double. Paths are relative to the handler root:
//
//	POST /oauth/token                     client credentials -> bearer token (1 h)
//	GET  /CustomerOrders                  order headers, newest first, paged
//	GET  /CustomerOrders/{n}              one order
//	POST /CustomerOrders                  201 {"OrderNumber"}; duplicates of ExternalOrderNumber are accepted
//	GET  /CustomerInvoices                invoice headers, newest first, paged
//	GET  /CustomerInvoices/{n}            one invoice
//	GET  /CustomerInvoices/{n}/pdf        the invoice as a one-page PDF
//	GET  /ProductAvailability             balances per article and warehouse (HUV, BUT)
//	GET  /ProductPrices                   a customer's net prices (customerNumber required)
//	GET  /Products, /Products/{n}         articles: the list pages and filters on changedSince and
//	                                      productGroup; one article adds group, maker, EAN, VAT, weight
//	GET  /ProductGroups                   the article tree (two levels)
//	GET  /Customers/{n}                   a customer with its addresses
//
// Every call but the token call needs a valid bearer token. Errors use the
// model's body {"ErrorType","Message","Errors":[{"Field","Message"}]}.
//
// The sample data is the same for the same Options.Seed and Options.Now;
// its dates are relative to Now so that demo data always looks recent.
// Customer 10001 (CustomerShowcase) holds a record for every case the
// gateway must handle, named by Server.Cases; 10002 and 00042 are further
// fixed customers, and 20001, 20002, … are generated. Some records are
// encoded the way a real ERP might send them: null or absent optional
// fields, amounts as text with a space thousands separator, fields the
// model does not know.
//
// The catalogue is a fixed assortment of FixedProducts articles; with
// Options.Products it is grown with generated variants (2,000 articles for
// volume tests and benchmarks). Some articles have no manufacturer, EAN or
// weight (null or absent), and one sends its EAN as a JSON number.
//
// Tests change the data with SetOrder, SetInvoice, DeleteOrder, Touch,
// TouchProduct and SetAvailability, inject faults with SetLatency, FailNext, SetFailing,
// SetGarbage and RevokeTokens, and count requests with Calls.
package extendsim
