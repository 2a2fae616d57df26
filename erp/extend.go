package erp

// This file is the adapter: every assumption about Extend Commerce's wire
// format (docs/extend.md) lives here and nowhere else: paths,
// query parameter and header names, the token request, the error body and
// what each status means. Re-pointing the gateway at the real API changes
// this file and testdata/, not the transport in client.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/clip"
)

// Paths, relative to Config.BaseURL.
const (
	pathToken        = "/oauth/token"         // #nosec G101 -- a URL path, not a credential
	pathOrders       = "/CustomerOrders"      // list; /{orderNumber} for one
	pathInvoices     = "/CustomerInvoices"    // list; /{invoiceNumber} for one
	pathInvoicePDF   = "/pdf"                 // after /CustomerInvoices/{invoiceNumber}
	pathAvailability = "/ProductAvailability" // list
	pathPrices       = "/ProductPrices"       // list for one customer
	pathCustomers    = "/Customers"           // /{customerNumber}
	pathProducts     = "/Products"            // list; /{productNumber} for one
	pathGroups       = "/ProductGroups"       // list
	opToken          = "POST " + pathToken    // Error.Op of the token request
)

// Formats.
const (
	dateLayout      = time.DateOnly // date filters: YYYY-MM-DD
	timestampLayout = time.RFC3339  // changedSince, sent in UTC
	contentTypeJSON = "application/json"
	contentTypeForm = "application/x-www-form-urlencoded"
	contentTypePDF  = "application/pdf"
)

// Query parameter names.
const (
	paramCustomerNumber      = "customerNumber"
	paramOrderDateFrom       = "orderDateFrom"
	paramOrderDateTo         = "orderDateTo"
	paramInvoiceDateFrom     = "invoiceDateFrom"
	paramInvoiceDateTo       = "invoiceDateTo"
	paramChangedSince        = "changedSince"
	paramExternalOrderNumber = "externalOrderNumber"
	paramProductNumbers      = "productNumbers" // comma separated
	paramWarehouse           = "warehouse"
	paramProductGroup        = "productGroup"
	paramPage                = "page" // 1-based
	paramPageSize            = "pageSize"
)

// Rate-limit response headers (on 429; Retry-After possibly on 5xx too).
const (
	headerRetryAfter     = "Retry-After"       // seconds, or an HTTP date
	headerRateLimitReset = "X-Ratelimit-Reset" // seconds until the window resets
)

// MaxPageSize is the largest page Extend serves; larger requests are capped.
const MaxPageSize = 100

// ListQuery filters and pages a list call. Empty filters are not sent.
type ListQuery struct {
	CustomerNumber string
	From, To       string    // YYYY-MM-DD, inclusive: order date or invoice date
	ChangedSince   time.Time // zero: not sent; sent as RFC 3339 in UTC
	Page           int       // 1-based; 0: not sent (Extend's first page)
	PageSize       int       // 0: not sent; capped at MaxPageSize
}

// values encodes q with the date parameters named from and to. A date that
// is not YYYY-MM-DD is an ErrValidation *Error for op, caught before a call.
func (q ListQuery) values(op, from, to string) (url.Values, error) {
	for _, d := range []string{q.From, q.To} {
		if _, err := time.Parse(dateLayout, d); d != "" && err != nil {
			return nil, &Error{Op: op, Err: ErrValidation, Message: fmt.Sprintf("date %q is not YYYY-MM-DD", clip.String(d, 40))}
		}
	}
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(paramCustomerNumber, q.CustomerNumber)
	set(from, q.From)
	set(to, q.To)
	if !q.ChangedSince.IsZero() {
		v.Set(paramChangedSince, q.ChangedSince.UTC().Format(timestampLayout))
	}
	setPage(v, q.Page, q.PageSize)
	return v, nil
}

func setPage(v url.Values, page, size int) {
	if page > 0 {
		v.Set(paramPage, strconv.Itoa(page))
	}
	if size > 0 {
		v.Set(paramPageSize, strconv.Itoa(min(size, MaxPageSize)))
	}
}

// recordPath is collection + "/" + the escaped number, or an ErrValidation
// *Error for a number that cannot name a record.
func recordPath(method, collection, number string) (string, error) {
	n := strings.TrimSpace(number)
	if n == "" || n == "." || n == ".." {
		return "", &Error{Op: method + " " + collection + "/{number}", Err: ErrValidation,
			Message: fmt.Sprintf("invalid record number %q", clip.String(number, 40))}
	}
	return collection + "/" + url.PathEscape(number), nil
}

// OrderHeaders lists order headers, newest first (GET /CustomerOrders).
// Errors: ErrValidation (also for a From or To that is not YYYY-MM-DD),
// ErrNotFound, ErrThrottled, ErrUnavailable, ErrTimeout, ErrBadResponse,
// ErrUnauthorized.
func (c *Client) OrderHeaders(ctx context.Context, q ListQuery) (Page[OrderHeader], error) {
	v, err := q.values(http.MethodGet+" "+pathOrders, paramOrderDateFrom, paramOrderDateTo)
	if err != nil {
		return Page[OrderHeader]{}, err
	}
	return getJSON[Page[OrderHeader]](ctx, c, pathOrders, v)
}

// Order fetches one order in full (GET /CustomerOrders/{orderNumber}).
// Errors: ErrNotFound when it does not exist, ErrBadResponse when the
// record is of another order number, and those of OrderHeaders.
func (c *Client) Order(ctx context.Context, orderNumber string) (Order, error) {
	p, err := recordPath(http.MethodGet, pathOrders, orderNumber)
	if err != nil {
		return Order{}, err
	}
	o, err := getJSON[Order](ctx, c, p, nil)
	if err == nil {
		err = sameRecord(p, o.OrderNumber, orderNumber)
	}
	if err != nil {
		return Order{}, err
	}
	return o, nil
}

// sameRecord fails with ErrBadResponse when Extend answered the record
// got for the one asked for, want: a proxy's cache gone wrong, a
// misrouted call. Such a record is never used, nor kept.
func sameRecord(path, got, want string) error {
	if got == want {
		return nil
	}
	return &Error{Op: http.MethodGet + " " + path, Status: http.StatusOK, Err: ErrBadResponse,
		cause: fmt.Errorf("record %q, asked for %q", clip.String(got, 40), clip.String(want, 40))}
}

// Orders fetches the order behind each header, in header order: the
// documented "get list, then record by record" pattern. For each header it
// first calls reuse (nil: never), the caller's record cache, which returns
// ok when it holds that order with the same ChangedAt; only the others are
// fetched, at most Config.Concurrency at once. reuse must be safe for
// concurrent use. The first error cancels the remaining fetches and is
// returned (see Order).
func (c *Client) Orders(ctx context.Context, headers []OrderHeader, reuse func(OrderHeader) (Order, bool)) ([]Order, error) {
	return fetchEach(ctx, c, headers, reuse, func(ctx context.Context, h OrderHeader) (Order, error) {
		return c.Order(ctx, h.OrderNumber)
	})
}

// InvoiceHeaders lists invoice headers, newest first (GET
// /CustomerInvoices). Errors as for OrderHeaders.
func (c *Client) InvoiceHeaders(ctx context.Context, q ListQuery) (Page[InvoiceHeader], error) {
	v, err := q.values(http.MethodGet+" "+pathInvoices, paramInvoiceDateFrom, paramInvoiceDateTo)
	if err != nil {
		return Page[InvoiceHeader]{}, err
	}
	return getJSON[Page[InvoiceHeader]](ctx, c, pathInvoices, v)
}

// Invoice fetches one invoice or credit note in full (GET
// /CustomerInvoices/{invoiceNumber}). Errors: ErrNotFound when it does not
// exist, ErrBadResponse when the record is of another invoice number, and
// those of OrderHeaders.
func (c *Client) Invoice(ctx context.Context, invoiceNumber string) (Invoice, error) {
	p, err := recordPath(http.MethodGet, pathInvoices, invoiceNumber)
	if err != nil {
		return Invoice{}, err
	}
	inv, err := getJSON[Invoice](ctx, c, p, nil)
	if err == nil {
		err = sameRecord(p, inv.InvoiceNumber, invoiceNumber)
	}
	if err != nil {
		return Invoice{}, err
	}
	return inv, nil
}

// Invoices is Orders for invoices: reuse, else fetch, bounded, in order.
func (c *Client) Invoices(ctx context.Context, headers []InvoiceHeader, reuse func(InvoiceHeader) (Invoice, bool)) ([]Invoice, error) {
	return fetchEach(ctx, c, headers, reuse, func(ctx context.Context, h InvoiceHeader) (Invoice, error) {
		return c.Invoice(ctx, h.InvoiceNumber)
	})
}

// Document is a file from Extend, read whole.
type Document struct {
	Data        []byte // the file; a PDF starts with %PDF-
	ContentType string // application/pdf
}

// MaxDocument is the largest PDF InvoicePDF reads (32 MiB); a larger one
// is ErrBadResponse.
const MaxDocument = 32 << 20

// pdfMagic starts every PDF file (ISO 32000-1, 7.5.2).
var pdfMagic = []byte("%PDF-")

// InvoicePDF fetches the invoice's PDF (GET
// /CustomerInvoices/{invoiceNumber}/pdf), whole: Config.CallTimeout bounds
// the wait for the answer's headers, ctx the whole read. A caller thus
// either has the whole file or an error, and can pass it on at any pace.
// Errors: ErrNotFound; ErrBadResponse when the answer is not a PDF (its
// type, or a body that does not start with %PDF-) or is over MaxDocument;
// ErrTimeout when ctx ends mid-file; and those of OrderHeaders.
func (c *Client) InvoicePDF(ctx context.Context, invoiceNumber string) (Document, error) {
	p, err := recordPath(http.MethodGet, pathInvoices, invoiceNumber)
	if err != nil {
		return Document{}, err
	}
	r := &request{method: http.MethodGet, path: p + pathInvoicePDF, accept: contentTypePDF, retry: true, stream: true}
	res, err := c.do(ctx, r)
	if err != nil {
		return Document{}, err
	}
	ct := res.header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != contentTypePDF {
		drainClose(res.stream)
		return Document{}, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse,
			cause: fmt.Errorf("content type %q, want %s", clip.String(ct, 60), contentTypePDF)}
	}
	b, err := io.ReadAll(io.LimitReader(res.stream, MaxDocument+1))
	_ = res.stream.Close()
	switch {
	case err != nil:
		e := c.transportError(ctx, ctx, r.op(), err)
		e.Status = res.status
		return Document{}, e
	case len(b) > MaxDocument:
		return Document{}, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse,
			cause: fmt.Errorf("PDF larger than %d bytes", MaxDocument)}
	case !bytes.HasPrefix(b, pdfMagic):
		return Document{}, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse,
			cause: errors.New("the body is not a PDF (no %PDF- header)")}
	}
	return Document{Data: b, ContentType: ct}, nil
}

// ProductAvailability lists balances per product and warehouse (GET
// /ProductAvailability). Empty productNumbers, warehouse or changedSince are
// not sent (all products, all warehouses, any time). Errors: ErrValidation
// for a product number holding a comma, and those of OrderHeaders.
func (c *Client) ProductAvailability(ctx context.Context, productNumbers []string, warehouse string, changedSince time.Time, page, pageSize int) (Page[Availability], error) {
	v := url.Values{}
	if len(productNumbers) > 0 {
		list, err := productList(pathAvailability, productNumbers)
		if err != nil {
			return Page[Availability]{}, err
		}
		v.Set(paramProductNumbers, list)
	}
	if warehouse != "" {
		v.Set(paramWarehouse, warehouse)
	}
	if !changedSince.IsZero() {
		v.Set(paramChangedSince, changedSince.UTC().Format(timestampLayout))
	}
	setPage(v, page, pageSize)
	return getJSON[Page[Availability]](ctx, c, pathAvailability, v)
}

// ProductPrices returns the customer's best net price for each product
// (GET /ProductPrices), asking MaxPageSize products per call. Products
// Extend has no price for are missing from the answer. Errors:
// ErrValidation when customerNumber is empty or a product number holds a
// comma, and those of OrderHeaders.
func (c *Client) ProductPrices(ctx context.Context, customerNumber string, productNumbers []string) ([]Price, error) {
	if customerNumber == "" {
		return nil, &Error{Op: http.MethodGet + " " + pathPrices, Err: ErrValidation, Message: "customer number is required"}
	}
	var out []Price
	for len(productNumbers) > 0 {
		chunk := productNumbers[:min(len(productNumbers), MaxPageSize)]
		productNumbers = productNumbers[len(chunk):]
		list, err := productList(pathPrices, chunk)
		if err != nil {
			return nil, err
		}
		v := url.Values{paramCustomerNumber: {customerNumber}, paramProductNumbers: {list}}
		// The model does not say whether prices come as a bare array or in
		// the list envelope; accept both.
		prices, err := getJSON[itemsOrArray[Price]](ctx, c, pathPrices, v)
		if err != nil {
			return nil, err
		}
		out = append(out, prices...)
	}
	return out, nil
}

// productList joins product numbers for the productNumbers parameter.
func productList(path string, numbers []string) (string, error) {
	for _, n := range numbers {
		if n == "" || strings.Contains(n, ",") {
			return "", &Error{Op: http.MethodGet + " " + path, Err: ErrValidation,
				Message: fmt.Sprintf("invalid product number %q", clip.String(n, 40))}
		}
	}
	return strings.Join(numbers, ","), nil
}

// itemsOrArray decodes either a JSON array of T or a Page of T.
type itemsOrArray[T any] []T

func (l *itemsOrArray[T]) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	var p Page[T]
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*l = p.Items
	return nil
}

// ProductQuery filters and pages GET /Products. Empty filters are not sent.
type ProductQuery struct {
	ChangedSince time.Time // zero: not sent; sent as RFC 3339 in UTC
	ProductGroup string    // a ProductGroup.Code; "": every group
	Page         int       // 1-based; 0: not sent (Extend's first page)
	PageSize     int       // 0: not sent; capped at MaxPageSize
}

// ProductHeaders lists articles, headers only (GET /Products). Errors as
// for OrderHeaders.
func (c *Client) ProductHeaders(ctx context.Context, q ProductQuery) (Page[ProductHeader], error) {
	v := url.Values{}
	if !q.ChangedSince.IsZero() {
		v.Set(paramChangedSince, q.ChangedSince.UTC().Format(timestampLayout))
	}
	if q.ProductGroup != "" {
		v.Set(paramProductGroup, q.ProductGroup)
	}
	setPage(v, q.Page, q.PageSize)
	return getJSON[Page[ProductHeader]](ctx, c, pathProducts, v)
}

// Product fetches one article in full (GET /Products/{productNumber}).
// Errors: ErrNotFound when Extend does not know the article, and those of
// OrderHeaders.
func (c *Client) Product(ctx context.Context, productNumber string) (Product, error) {
	p, err := recordPath(http.MethodGet, pathProducts, productNumber)
	if err != nil {
		return Product{}, err
	}
	return getJSON[Product](ctx, c, p, nil)
}

// Products fetches the article behind each header, in header order, as
// Orders does for orders: reuse (nil: never) returns the caller's copy
// when it holds that article with the same ChangedAt; the others are
// fetched, at most Config.Concurrency at once. The first error cancels the
// rest and is returned (see Product).
func (c *Client) Products(ctx context.Context, headers []ProductHeader, reuse func(ProductHeader) (Product, bool)) ([]Product, error) {
	return fetchEach(ctx, c, headers, reuse, func(ctx context.Context, h ProductHeader) (Product, error) {
		return c.Product(ctx, h.ProductNumber)
	})
}

// ProductGroups lists every product group (GET /ProductGroups), paging
// through the list MaxPageSize at a time; an answer that is a bare array
// is taken as the whole list. Errors as for OrderHeaders.
func (c *Client) ProductGroups(ctx context.Context) ([]ProductGroup, error) {
	var out []ProductGroup
	for page := 1; ; page++ {
		v := url.Values{}
		setPage(v, page, MaxPageSize)
		got, err := getJSON[pageOrArray[ProductGroup]](ctx, c, pathGroups, v)
		if err != nil {
			return nil, err
		}
		out = append(out, got.items...)
		if !got.paged || len(got.items) == 0 || len(out) >= got.total {
			return out, nil
		}
		if page >= maxGroupPages {
			return nil, &Error{Op: http.MethodGet + " " + pathGroups, Status: http.StatusOK, Err: ErrBadResponse,
				cause: fmt.Errorf("more than %d pages of product groups", maxGroupPages)}
		}
	}
}

// maxGroupPages bounds ProductGroups against a server that never says
// the list has ended (10 000 groups).
const maxGroupPages = 100

// pageOrArray decodes either a JSON array of T (the whole list) or a Page
// of T.
type pageOrArray[T any] struct {
	items []T
	paged bool
	total int
}

func (l *pageOrArray[T]) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &l.items)
	}
	var p Page[T]
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if p.Items == nil {
		return errors.New("a list answer without Items")
	}
	l.items, l.paged, l.total = p.Items, true, p.TotalCount
	return nil
}

// Customer fetches a customer's master data (GET /Customers/{number}).
// Errors: ErrNotFound when Extend does not know the customer,
// ErrBadResponse when the record is of another customer number, and those
// of OrderHeaders.
func (c *Client) Customer(ctx context.Context, number string) (CustomerRecord, error) {
	p, err := recordPath(http.MethodGet, pathCustomers, number)
	if err != nil {
		return CustomerRecord{}, err
	}
	rec, err := getJSON[CustomerRecord](ctx, c, p, nil)
	if err == nil {
		err = sameRecord(p, rec.CustomerNumber, number)
	}
	if err != nil {
		return CustomerRecord{}, err
	}
	return rec, nil
}

// CreateOrder creates an order (POST /CustomerOrders) and returns Extend's
// order number.
//
// It is never retried: Extend does not reject a second order with the same
// ExternalOrderNumber, so a create whose outcome is unknown (ErrTimeout,
// ErrUnavailable, ErrBadResponse after a 2xx) may or may not have created
// the order. Resolve that with FindOrderByExternalNumber before sending it
// again. The one repeat is after a 401 (a refused token: nothing was
// created), with a renewed token, as the model asks of every call.
// ErrThrottled and ErrValidation mean nothing was created. ErrValidation is
// also returned, without a call, when ExternalOrderNumber or CustomerNumber
// is empty.
func (c *Client) CreateOrder(ctx context.Context, o NewOrder) (string, error) {
	r := &request{method: http.MethodPost, path: pathOrders, contentType: contentTypeJSON}
	if o.ExternalOrderNumber == "" || o.CustomerNumber == "" {
		return "", &Error{Op: r.op(), Err: ErrValidation, Message: "external order number and customer number are required"}
	}
	body, err := json.Marshal(o)
	if err != nil {
		return "", &Error{Op: r.op(), Err: ErrValidation, cause: err}
	}
	r.body = body
	res, err := c.do(ctx, r)
	if err != nil {
		return "", err
	}
	var created struct {
		OrderNumber string `json:"OrderNumber"`
	}
	if err := decode(res.body, &created); err != nil || created.OrderNumber == "" {
		if err == nil {
			err = errors.New("no OrderNumber in the answer")
		}
		return "", &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse, cause: err}
	}
	return created.OrderNumber, nil
}

// FindOrderByExternalNumber looks for the order created for the shop order
// ext (GET /CustomerOrders?externalOrderNumber=). It reports false when
// there is none. To guard against the filter being silently ignored (which
// would make every shop order look created), the order found is fetched
// and its ExternalOrderNumber compared; a mismatch is ErrBadResponse.
// Errors: ErrValidation for an empty ext, and those of OrderHeaders.
func (c *Client) FindOrderByExternalNumber(ctx context.Context, ext string) (OrderHeader, bool, error) {
	if ext == "" {
		return OrderHeader{}, false, &Error{Op: http.MethodGet + " " + pathOrders, Err: ErrValidation, Message: "external order number is required"}
	}
	v := url.Values{paramExternalOrderNumber: {ext}}
	setPage(v, 1, 10)
	page, err := getJSON[Page[OrderHeader]](ctx, c, pathOrders, v)
	if err != nil || len(page.Items) == 0 {
		return OrderHeader{}, false, err
	}
	h := page.Items[0]
	o, err := c.Order(ctx, h.OrderNumber)
	if err != nil {
		return OrderHeader{}, false, err
	}
	if o.ExternalOrderNumber != ext {
		return OrderHeader{}, false, &Error{Op: http.MethodGet + " " + pathOrders, Status: http.StatusOK, Err: ErrBadResponse,
			cause: fmt.Errorf("order %s has external order number %q, want %q: is the %s filter ignored?",
				h.OrderNumber, clip.String(o.ExternalOrderNumber, 40), clip.String(ext, 40), paramExternalOrderNumber)}
	}
	return h, true, nil
}

// Ping fetches a new access token: a cheap probe that Extend is reachable
// and accepts the credentials. The token is kept for later calls.
// Errors: ErrUnauthorized, ErrThrottled, ErrUnavailable, ErrTimeout,
// ErrBadResponse.
func (c *Client) Ping(ctx context.Context) error {
	tok, _ := c.tokens.peek()
	_, err := c.token(ctx, tok)
	return err
}

// fetchToken makes the OAuth2 client credentials request and returns the
// token and its lifetime (0 when Extend did not say).
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.clientID},
		"client_secret": {c.secret},
	}
	r := &request{
		method: http.MethodPost, path: pathToken,
		body: []byte(form.Encode()), contentType: contentTypeForm,
		noAuth: true, tokenCall: true, retry: true,
	}
	res, err := c.do(ctx, r)
	if err != nil {
		return "", 0, err
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   Number `json:"expires_in"` // seconds
	}
	if err := decode(res.body, &t); err != nil || t.AccessToken == "" {
		if err == nil {
			err = errors.New("no access_token in the answer")
		} else {
			err = errors.New("token answer is not JSON") // never echo the body: it holds a token
		}
		return "", 0, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse, cause: err}
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "Bearer") {
		return "", 0, &Error{Op: r.op(), Status: res.status, Err: ErrBadResponse,
			cause: fmt.Errorf("token type %q, want Bearer", clip.String(t.TokenType, 20))}
	}
	ttl := time.Duration(float64(t.ExpiresIn) * float64(time.Second))
	if t.ExpiresIn <= 0 || t.ExpiresIn > 365*24*3600 {
		ttl = 0
	}
	return t.AccessToken, ttl, nil
}

// decode reads one JSON value into v. Every record the client returns is
// decoded here; unknown fields are ignored, null leaves zero values.
func decode[T any](b []byte, v *T) error {
	return json.Unmarshal(b, v)
}

// errorBody is Extend's error answer; error and error_description are the
// OAuth2 form (RFC 6749 §5.2) a token endpoint may use instead.
type errorBody struct {
	ErrorType        string       `json:"ErrorType"` // Validation, Throttling or Server
	Message          string       `json:"Message"`
	Errors           []FieldError `json:"Errors"`
	OAuthError       string       `json:"error"`
	OAuthDescription string       `json:"error_description"`
}

// parseErrorBody decodes what it can of an error body; anything else is
// ignored (a proxy's HTML page, a truncated body).
func parseErrorBody(b []byte) errorBody {
	var eb errorBody
	_ = json.Unmarshal(b, &eb) // partial results are fine
	if eb.Message == "" && eb.OAuthError != "" {
		eb.Message = eb.OAuthError
		if eb.OAuthDescription != "" {
			eb.Message += ": " + eb.OAuthDescription
		}
	}
	return eb
}

// classifyStatus maps a non-2xx status to its sentinel and whether a retry
// may help, following the model's three error types: Throttling (429) and
// Server (5xx) are transient, Validation (400, 404, 409, 422) is not. The
// token endpoint refusing anything but throttling or a server error means
// the credentials (or the token URL) are wrong: ErrUnauthorized, never
// ErrNotFound.
func classifyStatus(status int, tokenCall bool) (sentinel error, retry bool) {
	switch {
	case status == http.StatusTooManyRequests:
		return ErrThrottled, true
	case status >= 500 && status <= 599, status == http.StatusRequestTimeout:
		return ErrUnavailable, true
	case tokenCall && status >= 400 && status <= 499:
		return ErrUnauthorized, false
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ErrUnauthorized, false
	case status == http.StatusNotFound:
		return ErrNotFound, false
	case status >= 400 && status <= 499:
		return ErrValidation, false
	default: // 1xx, 3xx, and anything not HTTP
		return ErrBadResponse, false
	}
}

// retryAfter is the wait Extend asks for: Retry-After (seconds or an HTTP
// date), else, when throttled, x-ratelimit-reset (seconds); 0 when neither
// says.
func retryAfter(h http.Header, now time.Time, throttled bool) time.Duration {
	if s := strings.TrimSpace(h.Get(headerRetryAfter)); s != "" {
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return seconds(n)
		}
		if t, err := http.ParseTime(s); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	if throttled {
		if n, err := strconv.ParseFloat(strings.TrimSpace(h.Get(headerRateLimitReset)), 64); err == nil {
			return seconds(n)
		}
	}
	return 0
}

// seconds converts n seconds to a duration, clamped to [0, 24h].
func seconds(n float64) time.Duration {
	if !(n > 0) { // also NaN
		return 0
	}
	return time.Duration(min(n, 24*3600) * float64(time.Second))
}
