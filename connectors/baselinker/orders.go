package baselinker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers/orders"
)

// errOrdersDown: Redis, where orders are recorded, does not answer.
var errOrdersDown = errors.New("baselinker: the order store does not answer")

func ordersDown(err error) error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeOrdersOff,
		Text: "orders cannot be recorded or read now; try again shortly", cause: fmt.Errorf("%w: %w", errOrdersDown, err)}
}

// errUnknownProduct marks Verify's refusal of a product Extend lacks.
var errUnknownProduct = errors.New("unknown product")

// ordersPage is how many orders one OrdersGet answers.
const ordersPage = 100

// vendreSource is the order source whose orders OrdersGet may also list.
const vendreSource = "vendre-webhook"

// --- OrderAdd

// orderAddRequest is OrderAdd's parameters: the order, and what is wrong
// with it.
type orderAddRequest struct {
	p        orderPayload
	noID     string   // set when baselinker_id is missing or bad: nothing can be recorded
	problems []string // what is wrong with the order's data
}

// blProduct is one element of OrderAdd's products (a JSON list in a form
// field); numbers may come as text.
type blProduct struct {
	ID       text       `json:"id"`
	SKU      text       `json:"sku"`
	Name     string     `json:"name"`
	Price    erp.Number `json:"price"`
	Quantity erp.Number `json:"quantity"`
}

// text is a JSON string or number, as text.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = text(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		if string(b) == "null" {
			*t = ""
			return nil
		}
		return err
	}
	*t = text(n.String())
	return nil
}

func (r *orderAddRequest) parse(f *form) {
	g := &form{v: f.v} // the order's problems are answered as invalid_order
	if id, ok := parseID(g.str("baselinker_id")); ok {
		r.p.BaselinkerID = id
	} else {
		r.noID = "baselinker_id is missing or not a whole number"
	}
	p := &r.p
	p.Currency = strings.ToUpper(g.str("currency"))
	p.Email, p.Phone, p.Login = g.str("email"), g.str("phone"), g.str("client_login")
	p.Comments = g.str("user_comments")
	p.DeliveryMethod, p.PaymentMethod = g.str("delivery_method"), g.str("payment_method")
	p.DeliveryPrice, _ = g.number("delivery_price")
	p.COD, p.Paid, p.WantInvoice = g.flag("payment_method_cod", false), g.flag("paid", false), g.flag("want_invoice", false)
	addr := func(prefix string) address {
		return address{Fullname: g.str(prefix + "fullname"), Company: g.str(prefix + "company"), Address: g.str(prefix + "address"),
			Postcode: g.str(prefix + "postcode"), City: g.str(prefix + "city"), Country: g.str(prefix + "country"),
			CountryCode: g.str(prefix + "country_code")}
	}
	p.Delivery, p.Invoice = addr("delivery_"), addr("invoice_")
	p.Invoice.NIP = g.str("invoice_nip")
	p.Point = pickupPoint{ID: g.str("delivery_point_id"), Name: g.str("delivery_point_name"), Address: g.str("delivery_point_address"),
		Postcode: g.str("delivery_point_postcode"), City: g.str("delivery_point_city")}
	var rows []blProduct
	if raw := g.raw("products"); strings.TrimSpace(raw) == "" {
		g.fail("products is missing")
	} else if err := json.Unmarshal([]byte(raw), &rows); err != nil {
		g.fail("products is not a JSON list of products")
	}
	for _, b := range rows {
		n := string(b.ID)
		if n == "" || n == "0" {
			n = string(b.SKU) // an article not linked in Baselinker: its sku
		}
		p.Products = append(p.Products, orderedRow{Product: n, Name: b.Name, Quantity: float64(b.Quantity), Price: float64(b.Price)})
	}
	r.problems = g.errs
}

// orderAddAnswer is OrderAdd's answer: our id of the order.
type orderAddAnswer struct {
	OrderID int64 `json:"order_id"`
}

// orderAdd is OrderAdd. A new order is checked (its data, then its
// products against Extend) and recorded for the order pusher, which
// creates it in Extend once; the answer is our id of it, the same for
// every repeat. An order that cannot be created is answered invalid_order
// or unknown_product and recorded for manual handling (a dead letter at
// /admin/pushers, replayable); sent again corrected, it goes back to
// work. While the ERP cannot be asked about the products, the answer is
// erp_unavailable and nothing is recorded.
func (c *Connector) orderAdd(ctx context.Context, r orderAddRequest) (orderAddAnswer, error) {
	if r.noID != "" {
		text := r.noID
		if len(r.problems) > 0 {
			text += "; " + strings.Join(r.problems, "; ")
		}
		return orderAddAnswer{}, newError(http.StatusUnprocessableEntity, CodeInvalidOrder, "order not created: "+text)
	}
	if c.idx == nil || c.orders == nil {
		return orderAddAnswer{}, errOrdersOff
	}
	ext := ExtPrefix + r.p.BaselinkerID
	now := c.cfg.Now()
	st, ok, err := c.orders.Lookup(ctx, ext)
	if err != nil {
		return orderAddAnswer{}, ordersDown(err)
	}
	if ok && st.State != "manual" && st.State != "handled" {
		return c.answerOrder(ctx, ext, now, nil)
	}
	r.p.Date = now.In(c.cfg.Location).Format(time.DateOnly)
	payload, err := json.Marshal(r.p)
	if err != nil {
		return orderAddAnswer{}, err
	}
	reason, code := strings.Join(r.problems, "; "), CodeInvalidOrder
	if reason == "" {
		no, err := c.src.Map(r.p.BaselinkerID, payload)
		if err == nil {
			err = c.src.Verify(ctx, &no)
		}
		switch {
		case errors.Is(err, orders.ErrMapping):
			reason = strings.TrimPrefix(err.Error(), orders.ErrMapping.Error()+": ")
			if errors.Is(err, errUnknownProduct) {
				code = CodeUnknownProduct
			}
		case err != nil:
			return orderAddAnswer{}, err // the ERP failing: Baselinker sends it again later
		}
	}
	if _, err := c.orders.Submit(ctx, SourceName, r.p.BaselinkerID, payload, reason); err != nil {
		return orderAddAnswer{}, ordersDown(err)
	}
	if reason != "" {
		return orderAddAnswer{}, newError(http.StatusUnprocessableEntity, code,
			"order not created: "+reason+" (the gateway lists it for manual handling)")
	}
	return c.answerOrder(ctx, ext, now, payload)
}

// answerOrder gives ext its id (once) and answers it.
func (c *Connector) answerOrder(ctx context.Context, ext string, now time.Time, payload []byte) (orderAddAnswer, error) {
	id, err := c.idx.assign(ctx, ext, SourceName, now, payload)
	if err != nil {
		return orderAddAnswer{}, ordersDown(err)
	}
	return orderAddAnswer{OrderID: id}, nil
}

// VendreImported is told that one of Vendre's shop orders is in Extend
// (the vendre-webhook source's outcome): with Config.VendreOrders it gets
// an id, and OrdersGet lists it. Safe to repeat.
func (c *Connector) VendreImported(ctx context.Context, id, erpOrder string) error {
	if !c.cfg.VendreOrders || c.idx == nil {
		return nil
	}
	n, err := c.idx.assign(ctx, "V-"+id, vendreSource, c.cfg.Now(), nil)
	if err != nil {
		return err
	}
	return c.idx.setERPOrder(ctx, n, erpOrder)
}

// --- OrdersGet

// ordersGetRequest is OrdersGet's parameters.
type ordersGetRequest struct {
	timeFrom time.Time
	idFrom   int64
	orderID  int64
	onlyPaid bool
	page     int
}

func (r *ordersGetRequest) parse(f *form) {
	r.timeFrom = f.unix("time_from")
	r.idFrom = int64(f.integer("id_from", 0, 0, maxID))
	r.orderID = int64(f.integer("order_id", 0, 0, maxID))
	r.onlyPaid = f.flag("only_paid", false)
	r.page = f.integer("page", 1, 1, 1_000_000)
	if r.timeFrom.IsZero() && r.idFrom == 0 && r.orderID == 0 && len(f.errs) == 0 {
		f.fail("time_from or id_from (or order_id) is required")
	}
}

// orderOut is one order of OrdersGet.
type orderOut struct {
	BaselinkerID   string  `json:"baselinker_id,omitempty"` // Baselinker's own id, for orders it added
	ERPOrder       string  `json:"erp_order_number"`        // Extend's order number; "" until created
	DateAdd        int64   `json:"date_add"`                // unix time it reached the gateway
	StatusID       string  `json:"status_id"`               // see StatusesList
	Paid           int     `json:"paid"`                    // 1: fully paid
	Currency       string  `json:"currency"`
	DeliveryMethod string  `json:"delivery_method"`
	DeliveryPrice  float64 `json:"delivery_price"` // gross
	PaymentMethod  string  `json:"payment_method"`
	COD            int     `json:"payment_method_cod"`

	DeliveryFullname    string `json:"delivery_fullname"`
	DeliveryCompany     string `json:"delivery_company"`
	DeliveryAddress     string `json:"delivery_address"`
	DeliveryPostcode    string `json:"delivery_postcode"`
	DeliveryCity        string `json:"delivery_city"`
	DeliveryCountryCode string `json:"delivery_country_code"`
	InvoiceFullname     string `json:"invoice_fullname"`
	InvoiceCompany      string `json:"invoice_company"`
	InvoiceNIP          string `json:"invoice_nip"`
	InvoiceAddress      string `json:"invoice_address"`
	InvoicePostcode     string `json:"invoice_postcode"`
	InvoiceCity         string `json:"invoice_city"`
	InvoiceCountryCode  string `json:"invoice_country_code"`
	Email               string `json:"email"`
	Phone               string `json:"phone"`
	UserComments        string `json:"user_comments"`
	AdminComments       string `json:"admin_comments"` // what Baselinker set that Extend cannot take

	// Tracking: Extend's shipments, then the delivery numbers Baselinker
	// set; comma-separated.
	DeliveryPackageNr     string `json:"delivery_package_nr"`
	DeliveryPackageModule string `json:"delivery_package_module"` // the carrier
	DeliveryTrackingURL   string `json:"delivery_tracking_url"`

	Products []orderProduct `json:"products"`
}

// orderProduct is one row of an OrdersGet order.
type orderProduct struct {
	ID       string  `json:"id"`
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Quantity float64 `json:"quantity"`
	Price    float64 `json:"price"` // gross unit price
}

// ordersGet is OrdersGet: the orders Baselinker added (and, with
// Config.VendreOrders, Vendre's shop orders), from id_from or added since
// time_from, in id order, ordersPage at a time, keyed by our id; each with
// its current status, payment and tracking as Extend has them.
func (c *Connector) ordersGet(ctx context.Context, r ordersGetRequest) (object, error) {
	if c.idx == nil {
		return nil, errOrdersOff
	}
	trusted, err := c.cache.sweep(ctx)
	if err != nil {
		return nil, err
	}
	out := object{}
	// Filters (only_paid, time_from with id_from) may leave a stretch of
	// ids empty: read on, so that an empty answer means there are no more.
	skip := (r.page - 1) * ordersPage
	for scanned := 0; len(out) < ordersPage && scanned < maxScan; scanned += ordersPage {
		var ids []int64
		if r.orderID > 0 {
			ids = []int64{r.orderID}
		} else if ids, err = c.idx.page(ctx, r.idFrom, r.timeFrom, skip+scanned, ordersPage); err != nil {
			return nil, ordersDown(err)
		}
		infos, err := c.idx.info(ctx, ids)
		if err != nil {
			return nil, ordersDown(err)
		}
		views, errs := c.views(ctx, infos, r.timeFrom, trusted)
		for i, v := range views {
			if errs[i] != nil {
				// The answer ends before the first order that could not be
				// read (the ERP's budget spent, say): Baselinker goes on
				// from the last id it got and misses none.
				if len(out) == 0 {
					return nil, errs[i]
				}
				c.log.Warn("baselinker: OrdersGet answer cut short", "at_id", infos[i].ID, "err", errs[i])
				return out, nil
			}
			if v != nil && (!r.onlyPaid || v.Paid == 1) && len(out) < ordersPage {
				out = append(out, member{strconv.FormatInt(infos[i].ID, 10), v})
			}
		}
		if len(ids) < ordersPage {
			break
		}
	}
	return out, nil
}

// maxScan bounds the ids one OrdersGet reads through.
const maxScan = 10 * ordersPage

// views reads the orders of infos, readConcurrency at once; an order not
// to be shown is nil.
func (c *Connector) views(ctx context.Context, infos []orderInfo, since, trusted time.Time) ([]*orderOut, []error) {
	views := make([]*orderOut, len(infos))
	errs := make([]error, len(infos))
	var wg sync.WaitGroup
	sem := make(chan struct{}, readConcurrency)
	for i, o := range infos {
		if (o.Source == vendreSource && !c.cfg.VendreOrders) || o.Added.Before(since) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			views[i], errs[i] = c.view(ctx, o, trusted)
		}()
	}
	wg.Wait()
	return views, errs
}

// view is one order as OrdersGet shows it: Baselinker's own data as it
// sent it, status, payment and tracking from Extend, and what Baselinker
// set since.
func (c *Connector) view(ctx context.Context, o orderInfo, trusted time.Time) (*orderOut, error) {
	var p orderPayload
	if o.Source == SourceName {
		_ = json.Unmarshal(o.Payload, &p)
	}
	v := &orderOut{BaselinkerID: p.BaselinkerID, DateAdd: o.Added.Unix(), Currency: p.Currency,
		DeliveryMethod: p.DeliveryMethod, DeliveryPrice: p.DeliveryPrice, PaymentMethod: p.PaymentMethod,
		DeliveryFullname: p.Delivery.Fullname, DeliveryCompany: p.Delivery.Company, DeliveryAddress: p.Delivery.Address,
		DeliveryPostcode: p.Delivery.Postcode, DeliveryCity: p.Delivery.City, DeliveryCountryCode: p.Delivery.CountryCode,
		InvoiceFullname: p.Invoice.Fullname, InvoiceCompany: p.Invoice.Company, InvoiceNIP: p.Invoice.NIP,
		InvoiceAddress: p.Invoice.Address, InvoicePostcode: p.Invoice.Postcode, InvoiceCity: p.Invoice.City,
		InvoiceCountryCode: p.Invoice.CountryCode, Email: p.Email, Phone: p.Phone, UserComments: p.Comments,
		Products: []orderProduct{}}
	if p.COD {
		v.COD = 1
	}
	for _, r := range p.Products {
		v.Products = append(v.Products, orderProduct{ID: r.Product, SKU: r.Product, Name: r.Name, Quantity: r.Quantity, Price: r.Price})
	}
	paid := p.Paid
	if o.Paid != "" {
		paid = o.Paid == "1"
	}

	erpNo, state := o.ERPOrder, ""
	if erpNo == "" && c.orders != nil {
		st, ok, err := c.orders.Lookup(ctx, o.Ext)
		if err != nil {
			return nil, ordersDown(err)
		}
		if ok {
			state, erpNo = st.State, st.ERPOrder
		}
		if erpNo != "" {
			_ = c.idx.setERPOrder(ctx, o.ID, erpNo)
		}
	}
	var packages, carriers, links []string
	switch {
	case erpNo == "" && (state == "manual" || state == "handled"):
		v.StatusID = StatusManual
	case erpNo == "":
		v.StatusID = StatusPending
	default:
		rec, err := c.cache.order(ctx, erpNo, trusted)
		if errors.Is(err, erp.ErrNotFound) {
			v.StatusID = StatusCancelled // no longer in Extend
			break
		}
		if err != nil {
			return nil, err
		}
		v.ERPOrder, v.StatusID = erpNo, strings.ToLower(rec.Status)
		if o.Source != SourceName {
			c.fromExtend(ctx, v, &rec)
		}
		for _, s := range rec.Shipments {
			if s.TrackingNumber != "" {
				packages, carriers, links = append(packages, s.TrackingNumber), append(carriers, s.Carrier), append(links, s.TrackingURL)
			}
		}
		if !paid {
			if paid, err = c.invoicesPaid(ctx, rec.InvoiceNumbers, trusted); err != nil {
				return nil, err
			}
		}
	}
	for _, d := range o.Deliveries {
		if !slices.Contains(packages, d.Number) {
			packages, carriers, links = append(packages, d.Number), append(carriers, d.Method), append(links, d.URL)
		}
	}
	v.DeliveryPackageNr = strings.Join(packages, ",")
	v.DeliveryPackageModule = firstOf(carriers...)
	v.DeliveryTrackingURL = firstOf(links...)
	if paid {
		v.Paid = 1
	}
	v.AdminComments = adminComments(o, erpNo)
	return v, nil
}

// fromExtend fills what a shop order (not Baselinker's) shows from
// Extend's record: addresses, rows (gross, at the article's VAT rate
// when the catalogue knows it), shipping.
func (c *Connector) fromExtend(ctx context.Context, v *orderOut, rec *erp.Order) {
	d, b := rec.DeliveryAddress, rec.Customer
	v.Currency = rec.Currency
	v.DeliveryFullname, v.DeliveryCompany = firstOf(d.Reference, d.Name), d.Name
	v.DeliveryAddress = strings.TrimSpace(d.Address1 + " " + d.Address2)
	v.DeliveryPostcode, v.DeliveryCity, v.DeliveryCountryCode = d.ZipCode, d.City, d.CountryCode
	v.InvoiceFullname, v.InvoiceCompany = firstOf(b.Reference, b.Name), b.Name
	v.InvoiceAddress = strings.TrimSpace(b.Address1 + " " + b.Address2)
	v.InvoicePostcode, v.InvoiceCity, v.InvoiceCountryCode = b.ZipCode, b.City, b.CountryCode
	v.UserComments = rec.Comment
	items, _ := c.cat.items.peek(ctx)
	rate := func(n string) *erp.Number {
		if items != nil {
			if p, ok := items.product(n); ok {
				return p.VatRate
			}
		}
		return nil
	}
	top := erp.Number(0)
	for _, r := range rec.Rows {
		vat := rate(r.ProductNumber)
		if vat != nil && *vat > top {
			top = *vat
		}
		unit := r.UnitPrice
		if r.Quantity > 0 && r.DiscountAmount > 0 {
			unit -= erp.Amount(float64(r.DiscountAmount) / float64(r.Quantity))
		}
		v.Products = append(v.Products, orderProduct{ID: r.ProductNumber, SKU: r.ProductNumber, Name: r.Description,
			Quantity: float64(r.Quantity), Price: gross(unit, vat)})
	}
	v.DeliveryPrice = gross(rec.ShippingCost, &top)
}

// invoicesPaid reports whether the order is invoiced and every invoice is
// paid in full.
func (c *Connector) invoicesPaid(ctx context.Context, numbers []string, trusted time.Time) (bool, error) {
	if len(numbers) == 0 {
		return false, nil
	}
	for _, n := range numbers {
		inv, err := c.cache.invoice(ctx, n, trusted)
		if errors.Is(err, erp.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if inv.RemainingAmount == nil || *inv.RemainingAmount != 0 {
			return false, nil
		}
	}
	return true, nil
}

// adminComments shows what Baselinker set that Extend cannot take, and
// the order's number in Extend.
func adminComments(o orderInfo, erpNo string) string {
	var parts []string
	if erpNo != "" {
		parts = append(parts, "Extend order "+erpNo+".")
	}
	if o.Status != "" {
		parts = append(parts, fmt.Sprintf("Baselinker set status %s on %s.", o.Status, o.StatusAt.Format(time.DateOnly)))
	}
	switch o.Paid {
	case "1":
		parts = append(parts, "Baselinker marked it paid.")
	case "0":
		parts = append(parts, "Baselinker marked it unpaid.")
	}
	for _, d := range o.Deliveries {
		parts = append(parts, "Baselinker delivery number "+d.Number+".")
	}
	return strings.Join(parts, " ")
}

// --- OrderUpdate

// orderUpdateRequest is OrderUpdate's parameters.
type orderUpdateRequest struct {
	ids         []int64
	kind, value string
	method, url string
}

func (r *orderUpdateRequest) parse(f *form) {
	raw, name := f.first("orders_ids", "order_ids")
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 || id > maxID {
			f.fail("%s must be order ids, comma-separated", name)
			return
		}
		if !slices.Contains(r.ids, id) {
			r.ids = append(r.ids, id)
		}
	}
	if len(r.ids) == 0 {
		f.fail("orders_ids is required")
	}
	if len(r.ids) > 1000 {
		f.fail("orders_ids names %d orders; at most 1000 are allowed", len(r.ids))
	}
	r.kind, r.value = f.str("update_type"), f.str("update_value")
	switch r.kind {
	case "status":
		if !slices.ContainsFunc(statuses, func(m member) bool { return m.key == r.value }) {
			f.fail("update_value must be a status id of StatusesList")
		}
	case "paid":
		if r.value != "0" && r.value != "1" {
			f.fail("update_value must be 0 or 1 for paid")
		}
	case "delivery_number":
		if r.value == "" || len(r.value) > 100 {
			f.fail("update_value must be the delivery number")
		}
		r.method, r.url = f.str("delivery_method_name"), f.str("tracking_url")
		if u, err := url.Parse(r.url); r.url != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			f.fail("tracking_url must be an http(s) URL")
		}
	default:
		f.fail("update_type must be status, paid or delivery_number")
	}
}

// orderUpdateAnswer is OrderUpdate's answer: how many orders it touched.
type orderUpdateAnswer struct {
	Counter int `json:"counter"`
}

// orderUpdate is OrderUpdate. Extend's model has no call that changes an
// order once created, so nothing reaches Extend: the status, the paid
// flag and the delivery number are recorded with the order and shown by
// OrdersGet (paid, delivery_package_nr, admin_comments). Ids we do not
// know are not counted.
func (c *Connector) orderUpdate(ctx context.Context, r orderUpdateRequest) (orderUpdateAnswer, error) {
	if c.idx == nil {
		return orderUpdateAnswer{}, errOrdersOff
	}
	kind, value := r.kind, r.value
	if kind == "delivery_number" {
		b, _ := json.Marshal(delivery{Number: r.value, Method: r.method, URL: r.url, At: c.cfg.Now().UTC().Truncate(time.Second)})
		kind, value = "delivery", string(b)
	}
	n := 0
	for _, id := range r.ids {
		ok, err := c.idx.update(ctx, id, kind, value, c.cfg.Now())
		if err != nil {
			return orderUpdateAnswer{}, ordersDown(err)
		}
		if ok {
			n++
		}
	}
	return orderUpdateAnswer{Counter: n}, nil
}
