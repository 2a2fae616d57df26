package handlers

// Vendre's extended calls (docs/api.md, "Extended calls"): the same
// request shapes, customer_no rules, errors and cache headers as the basic
// ones.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/pull"
)

// Extended answers the extended calls; *pull.Service has it.
type Extended interface {
	Backorders(ctx context.Context, customerNo string) (pull.Answer, error)
	CreditInvoiceList(ctx context.Context, customerNo string, q pull.ListQuery) (pull.Answer, error)
	Addresses(ctx context.Context, customerNo string) (pull.Answer, error)
	Prices(ctx context.Context, customerNo string, products []string) (pull.Answer, error)
	Stock(ctx context.Context, products []string, warehouse string) (pull.Answer, error)
}

// Product numbers and warehouse names are what the merchant calls them
// in Extend: any letters (Göteborg, Ärtsoppa-1), at most maxNameLen bytes
// of UTF-8. Refused: control and format characters (a newline, a
// right-to-left override), line and paragraph separators, and commas,
// which separate the products of one call.
const maxNameLen = 64

// Messages of the extended calls' own parameters.
const (
	msgProducts     = "products is required: 1 to 100 comma-separated product numbers"
	msgProductChars = "is not a product number: 1 to 64 bytes of UTF-8 without control characters or commas"
	msgWarehouse    = "warehouse must be 1 to 64 bytes of UTF-8 without control characters or commas"
)

// validName reports whether s may be a product number or a warehouse
// name.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == ',' || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// customerParams are the parameters of calls that take only customer_no.
type customerParams struct {
	CustomerNo string `param:"customer_no" validate:"required,customer_no"`
}

// backorders answers GET /v1/backorders.
func (h *handler) backorders(c echo.Context) error {
	customerNo, err := parseCustomer(h.validator(c), paramsOf(c))
	if err != nil {
		return err
	}
	a, err := h.d.Extended.Backorders(c.Request().Context(), customerNo)
	return writeAnswer(c, a, err)
}

// creditInvoiceList answers GET /v1/credit-invoices; its parameters are
// those of GET /v1/invoices.
func (h *handler) creditInvoiceList(c echo.Context) error {
	customerNo, q, err := parseList(h.validator(c), paramsOf(c), h.today())
	if err != nil {
		return err
	}
	a, err := h.d.Extended.CreditInvoiceList(c.Request().Context(), customerNo, q)
	return writeAnswer(c, a, err)
}

// addresses answers GET /v1/addresses.
func (h *handler) addresses(c echo.Context) error {
	customerNo, err := parseCustomer(h.validator(c), paramsOf(c))
	if err != nil {
		return err
	}
	a, err := h.d.Extended.Addresses(c.Request().Context(), customerNo)
	return writeAnswer(c, a, err)
}

// prices answers GET /v1/prices?customer_no=&products=A,B.
func (h *handler) prices(c echo.Context) error {
	q := paramsOf(c)
	customerNo, err := parseCustomer(h.validator(c), q)
	if err != nil {
		return err
	}
	products, err := parseProducts(q)
	if err != nil {
		return err
	}
	a, err := h.d.Extended.Prices(c.Request().Context(), customerNo, products)
	return writeAnswer(c, a, err)
}

// stock answers GET /v1/stock?products=A,B&warehouse=. It needs no
// customer_no (stock is the same for everyone) and ignores one given.
func (h *handler) stock(c echo.Context) error {
	q := paramsOf(c)
	products, err := parseProducts(q)
	if err != nil {
		return err
	}
	warehouse, err := single(q, "warehouse")
	if err != nil {
		return err
	}
	if warehouse != "" && !validName(warehouse) {
		return &paramError{Param: "warehouse", Msg: msgWarehouse}
	}
	a, err := h.d.Extended.Stock(c.Request().Context(), products, warehouse)
	return writeAnswer(c, a, err)
}

// parseCustomer reads and checks customer_no alone.
func parseCustomer(v *structValidator, q url.Values) (string, error) {
	var p customerParams
	var err error
	if p.CustomerNo, err = single(q, "customer_no"); err != nil {
		return "", err
	}
	return p.CustomerNo, v.Validate(&p)
}

// parseProducts reads products=A,B,...: 1 to pull.MaxProducts distinct
// product numbers, in the order given. Every fault is a 400 naming
// products: an empty entry ("A,,B", a trailing comma), a character outside
// the charset, a product named twice, or more than pull.MaxProducts. A
// message names an entry by its position, or, for a repeat, by its (then
// known to be printable) value.
func parseProducts(q url.Values) ([]string, error) {
	raw, err := single(q, "products")
	if err != nil {
		return nil, err
	}
	if raw == "" {
		return nil, &paramError{Param: "products", Msg: msgProducts}
	}
	if n := strings.Count(raw, ",") + 1; n > pull.MaxProducts {
		return nil, &paramError{Param: "products", Msg: fmt.Sprintf("products names %d product numbers; at most %d are allowed", n, pull.MaxProducts)}
	}
	products := strings.Split(raw, ",")
	seen := make(map[string]bool, len(products))
	for i, p := range products {
		if !validName(p) {
			return nil, &paramError{Param: "products", Msg: fmt.Sprintf("products: entry %d %s", i+1, msgProductChars)}
		}
		if seen[p] {
			return nil, &paramError{Param: "products", Msg: fmt.Sprintf("products names %s more than once", p)}
		}
		seen[p] = true
	}
	return products, nil
}
