package extendsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// apiError is the model's error body.
type apiError struct {
	ErrorType string       `json:"ErrorType"`
	Message   string       `json:"Message"`
	Errors    []fieldError `json:"Errors"`
}

// fieldError names one wrong field of a request.
type fieldError struct {
	Field   string `json:"Field"`
	Message string `json:"Message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"ErrorType":"Server","Message":"encoding failed","Errors":[]}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers the model's error body.
func writeError(w http.ResponseWriter, status int, errorType, msg string, fields ...fieldError) {
	if fields == nil {
		fields = []fieldError{}
	}
	writeJSON(w, status, apiError{ErrorType: errorType, Message: msg, Errors: fields})
}

// token issues an access token for the client credentials grant. The
// credentials come from the form, or from HTTP Basic authentication.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "Validation", "the body is not a form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeError(w, http.StatusBadRequest, "Validation", "unsupported grant type",
			fieldError{"grant_type", "must be client_credentials"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.id))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.secret))
	if idOK&secretOK != 1 {
		writeError(w, http.StatusUnauthorized, "Validation", "invalid client credentials")
		return
	}
	tok := rand.Text()
	now := s.now()
	s.tokMu.Lock()
	if len(s.tokens) >= 1000 {
		for t, exp := range s.tokens {
			if !now.Before(exp) {
				delete(s.tokens, t)
			}
		}
	}
	s.tokens[tok] = now.Add(TokenLifetime)
	s.tokMu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}{tok, "Bearer", int(TokenLifetime / time.Second)})
}

// checkToken returns why r is not authorized, or "".
func (s *Server) checkToken(r *http.Request) string {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "authorization required: Bearer token missing"
	}
	s.tokMu.Lock()
	exp, ok := s.tokens[tok]
	s.tokMu.Unlock()
	if !ok || !s.now().Before(exp) {
		return "the access token is invalid or has expired"
	}
	return ""
}

// query reads and checks the parameters of a list call, collecting every
// error.
type query struct {
	v    url.Values
	errs []fieldError
}

func newQuery(r *http.Request) *query { return &query{v: r.URL.Query()} }

func (q *query) fail(field, msg string) { q.errs = append(q.errs, fieldError{field, msg}) }

// date returns the YYYY-MM-DD parameter name, "" when absent.
func (q *query) date(name string) string {
	v := q.v.Get(name)
	if v == "" {
		return ""
	}
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		q.fail(name, "must be a date YYYY-MM-DD")
		return ""
	}
	return v
}

// since returns the RFC 3339 (or YYYY-MM-DD, midnight UTC) parameter name.
func (q *query) since(name string) (time.Time, bool) {
	v := q.v.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	q.fail(name, "must be an RFC 3339 timestamp")
	return time.Time{}, false
}

// page returns page (1-based, default 1) and pageSize (1 to 100, default
// 100).
func (q *query) page() (page, size int) {
	num := func(name string, def, lo, hi int) int {
		v := q.v.Get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			q.fail(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
			return def
		}
		return n
	}
	page = num("page", 1, 1, 1_000_000)
	size = num("pageSize", 100, 1, 100)
	return page, size
}

// list returns set without duplicates and blanks, nil when name is absent.
func (q *query) list(name string) []string {
	v := q.v.Get(name)
	if v == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// bad answers 400 with the collected errors; false when there are none.
func (q *query) bad(w http.ResponseWriter) bool {
	if len(q.errs) == 0 {
		return false
	}
	writeError(w, http.StatusBadRequest, "Validation", "the request is invalid", q.errs...)
	return true
}

// window picks the entries of es that keep accepts on the given page.
func window[T, U any](es []T, keep func(*T) bool, page, size int, conv func(*T) U) (items []U, total int) {
	items = []U{}
	first := (page - 1) * size
	for i := range es {
		if !keep(&es[i]) {
			continue
		}
		if total >= first && total < first+size {
			items = append(items, conv(&es[i]))
		}
		total++
	}
	return items, total
}

// listQuery are the filters common to order and invoice lists.
type listQuery struct {
	customer, from, to, external string
	since                        time.Time
	hasSince                     bool
	page, size                   int
}

func (l *listQuery) keep(e *entry) bool {
	return (l.from == "" || e.date >= l.from) && (l.to == "" || e.date <= l.to) &&
		(!l.hasSince || !e.changedT.Before(l.since)) && (l.external == "" || e.external == l.external)
}

// entries returns the index list the query walks: one customer's or all.
func (l *listQuery) entries(x *index) []entry {
	if l.customer != "" {
		return x.byCustomer[l.customer]
	}
	return x.all
}

func (s *Server) orderList(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	l := listQuery{customer: q.v.Get("customerNumber"), from: q.date("orderDateFrom"), to: q.date("orderDateTo"),
		external: q.v.Get("externalOrderNumber")}
	l.since, l.hasSince = q.since("changedSince")
	l.page, l.size = q.page()
	if q.bad(w) {
		return
	}
	s.mu.RLock()
	items, total := window(l.entries(s.orderIdx), l.keep, l.page, l.size, func(e *entry) erp.OrderHeader {
		return erp.OrderHeader{OrderNumber: e.number, OrderDate: e.date, ChangedAt: e.changed}
	})
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, erp.Page[erp.OrderHeader]{Items: items, Page: l.page, PageSize: l.size, TotalCount: total})
}

func (s *Server) invoiceList(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	l := listQuery{customer: q.v.Get("customerNumber"), from: q.date("invoiceDateFrom"), to: q.date("invoiceDateTo")}
	l.since, l.hasSince = q.since("changedSince")
	l.page, l.size = q.page()
	if q.bad(w) {
		return
	}
	s.mu.RLock()
	items, total := window(l.entries(s.invoiceIdx), l.keep, l.page, l.size, func(e *entry) erp.InvoiceHeader {
		return erp.InvoiceHeader{InvoiceNumber: e.number, InvoiceDate: e.date, ChangedAt: e.changed}
	})
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, erp.Page[erp.InvoiceHeader]{Items: items, Page: l.page, PageSize: l.size, TotalCount: total})
}

// garbageBody is a truncated record: a client cannot decode it.
func garbageBody(field, n string) []byte {
	return []byte(fmt.Sprintf(`{"%s":%q,"TotalInclVat":"12 3x4,5.6","Rows":[{"RowNumber":`, field, n))
}

func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	s.mu.RLock()
	rec, ok := s.orders[n]
	s.mu.RUnlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("customer order %s not found", n),
			fieldError{"orderNumber", "no such order"})
	case s.isGarbage(n):
		writeBody(w, http.StatusOK, garbageBody("OrderNumber", n))
	default:
		writeBody(w, http.StatusOK, rec.encoded())
	}
}

func (s *Server) invoice(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	s.mu.RLock()
	rec, ok := s.invoices[n]
	s.mu.RUnlock()
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("customer invoice %s not found", n),
			fieldError{"invoiceNumber", "no such invoice"})
	case s.isGarbage(n):
		writeBody(w, http.StatusOK, garbageBody("InvoiceNumber", n))
	default:
		writeBody(w, http.StatusOK, rec.encoded())
	}
}

func (s *Server) invoicePDF(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	s.mu.RLock()
	rec, ok := s.invoices[n]
	var inv erp.Invoice
	if ok {
		inv = cloneInvoice(rec.inv)
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("customer invoice %s not found", n),
			fieldError{"invoiceNumber", "no such invoice"})
		return
	}
	b := invoicePDF(&inv)
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Content-Disposition", fmt.Sprintf(`inline; filename="faktura-%s.pdf"`, safeFileName(n)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// safeFileName keeps letters, digits and - of n.
func safeFileName(n string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r
		}
		return '_'
	}, n)
}

// newOrder is the body of POST /CustomerOrders.
type newOrder struct {
	ExternalOrderNumber string      `json:"ExternalOrderNumber"`
	CustomerNumber      string      `json:"CustomerNumber"`
	OrderDate           string      `json:"OrderDate"`
	YourReference       string      `json:"YourReference"`
	Comment             string      `json:"Comment"`
	Currency            string      `json:"Currency"`
	ShippingCost        erp.Amount  `json:"ShippingCost"`
	DeliveryAddress     erp.Address `json:"DeliveryAddress"`
	Rows                []struct {
		ProductNumber  string     `json:"ProductNumber"`
		Quantity       erp.Number `json:"Quantity"`
		UnitPrice      erp.Amount `json:"UnitPrice"`
		DiscountAmount erp.Amount `json:"DiscountAmount"`
	} `json:"Rows"`
}

// createOrder registers an order. Like Extend, it does not reject a second
// order with the same ExternalOrderNumber.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var body newOrder
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "Validation", "the body is too large")
			return
		}
		writeError(w, http.StatusBadRequest, "Validation", "the body is not a valid order: "+err.Error())
		return
	}
	var errs []fieldError
	if body.CustomerNumber == "" {
		errs = append(errs, fieldError{"CustomerNumber", "is required"})
	}
	if body.OrderDate != "" {
		if _, err := time.Parse(time.DateOnly, body.OrderDate); err != nil {
			errs = append(errs, fieldError{"OrderDate", "must be a date YYYY-MM-DD"})
		}
	}
	if len(body.Rows) == 0 {
		errs = append(errs, fieldError{"Rows", "at least one row is required"})
	}
	for i, row := range body.Rows {
		if row.Quantity <= 0 || row.Quantity > 1e6 {
			errs = append(errs, fieldError{fmt.Sprintf("Rows[%d].Quantity", i), "must be positive"})
		}
		if row.UnitPrice < 0 || row.DiscountAmount < 0 {
			errs = append(errs, fieldError{fmt.Sprintf("Rows[%d].UnitPrice", i), "must not be negative"})
		}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "Validation", "the order is invalid", errs...)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[body.CustomerNumber]
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation", "unknown customer "+body.CustomerNumber,
			fieldError{"CustomerNumber", "no such customer"})
		return
	}
	o := erp.Order{
		OrderNumber: s.newOrderNumber(), ExternalOrderNumber: body.ExternalOrderNumber,
		CustomerNumber: c.Number, OrderDate: body.OrderDate, Status: erp.StatusRegistered,
		YourReference: body.YourReference, OurReference: "Webbshop", Comment: body.Comment,
		Currency: body.Currency, ShippingCost: body.ShippingCost, Customer: c.printed(),
		DeliveryAddress: body.DeliveryAddress, Shipments: []erp.Shipment{}, InvoiceNumbers: []string{},
	}
	if o.OrderDate == "" {
		o.OrderDate = s.now().UTC().Format(time.DateOnly)
	}
	if o.Currency == "" {
		o.Currency = "SEK"
	}
	if o.DeliveryAddress.Address1 == "" && len(c.Delivery) > 0 {
		o.DeliveryAddress = c.Delivery[0]
	}
	o.DeliveryAddress.Type = ""
	for i, row := range body.Rows {
		desc := row.ProductNumber
		price := row.UnitPrice
		if i, ok := s.productAt[row.ProductNumber]; ok {
			p := s.products[i].product
			desc = p.Name
			if price == 0 {
				price = c.netPrice(p)
			}
		}
		o.Rows = append(o.Rows, erp.Row{RowNumber: (i + 1) * 10, ProductNumber: row.ProductNumber, Description: desc,
			Quantity: row.Quantity, UnitPrice: price, DiscountAmount: row.DiscountAmount})
	}
	computeTotals(&o.TotalExclVat, &o.TotalVat, &o.TotalInclVat, &o.VatLines, o.Rows, o.ShippingCost, s.vatRate)
	o.ChangedAt = s.stamp("")
	s.putOrder(o, nil)
	w.Header().Set("Location", "/CustomerOrders/"+url.PathEscape(o.OrderNumber))
	writeJSON(w, http.StatusCreated, struct {
		OrderNumber string `json:"OrderNumber"`
	}{o.OrderNumber})
}

// vatRate is the VAT rate in percent of an article, 25 for unknown ones;
// s.mu is held.
func (s *Server) vatRate(productNumber string) int {
	if i, ok := s.productAt[productNumber]; ok {
		return s.products[i].VAT
	}
	return 25
}

// availabilityJSON is one row of GET /ProductAvailability.
type availabilityJSON struct {
	ProductNumber    string  `json:"ProductNumber"`
	Warehouse        string  `json:"Warehouse"`
	AvailableBalance float64 `json:"AvailableBalance"`
	ChangedAt        string  `json:"ChangedAt"`
}

func (s *Server) availability(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	wanted := q.list("productNumbers")
	warehouse := q.v.Get("warehouse")
	since, hasSince := q.since("changedSince")
	page, size := q.page()
	if q.bad(w) {
		return
	}
	set := map[string]bool{}
	for _, p := range wanted {
		set[p] = true
	}
	keep := func(st *stockRec) bool {
		return (wanted == nil || set[st.product]) && (warehouse == "" || st.warehouse == warehouse) &&
			(!hasSince || !st.changedT.Before(since))
	}
	s.mu.RLock()
	items, total := window(s.stock, keep, page, size, func(st *stockRec) availabilityJSON {
		return availabilityJSON{ProductNumber: st.product, Warehouse: st.warehouse, AvailableBalance: st.balance, ChangedAt: st.changed}
	})
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, erp.Page[availabilityJSON]{Items: items, Page: page, PageSize: size, TotalCount: total})
}

// priceJSON is one row of GET /ProductPrices.
type priceJSON struct {
	ProductNumber string     `json:"ProductNumber"`
	Price         erp.Amount `json:"Price"`
	Currency      string     `json:"Currency"`
}

// prices answers the customer's net prices (list price less the customer's
// discount) as a one-page list, in the order asked for; unknown articles
// are left out.
func (s *Server) prices(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	cust := q.v.Get("customerNumber")
	if cust == "" {
		q.fail("customerNumber", "is required")
	}
	wanted := q.list("productNumbers")
	page, size := q.page()
	if q.bad(w) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.customers[cust]
	if !ok {
		writeError(w, http.StatusNotFound, "Validation", "customer "+cust+" not found",
			fieldError{"customerNumber", "no such customer"})
		return
	}
	var prods []product
	if wanted == nil {
		for _, p := range s.products {
			prods = append(prods, p.product)
		}
	}
	for _, n := range wanted {
		if i, ok := s.productAt[n]; ok {
			prods = append(prods, s.products[i].product)
		}
	}
	items, total := window(prods, func(*product) bool { return true }, page, size, func(p *product) priceJSON {
		return priceJSON{ProductNumber: p.Number, Price: c.netPrice(*p), Currency: "SEK"}
	})
	writeJSON(w, http.StatusOK, erp.Page[priceJSON]{Items: items, Page: page, PageSize: size, TotalCount: total})
}

// customerJSON is GET /Customers/{n}.
type customerJSON struct {
	CustomerNumber string        `json:"CustomerNumber"`
	Name           string        `json:"Name"`
	Addresses      []erp.Address `json:"Addresses"`
}

func (s *Server) customer(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	s.mu.RLock()
	c, ok := s.customers[n]
	var out customerJSON
	if ok {
		out = customerJSON{CustomerNumber: c.Number, Name: c.Name, Addresses: append([]erp.Address{c.Invoice}, c.Delivery...)}
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Validation", fmt.Sprintf("customer %s not found", n),
			fieldError{"customerNumber", "no such customer"})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
