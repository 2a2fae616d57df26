package baselinker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers/orders"
)

// SourceName is the order source of Baselinker's orders, and ExtPrefix
// the start of their external order numbers in Extend (B-<baselinker_id>).
const (
	SourceName = "baselinker"
	ExtPrefix  = "B-"
)

// Source is the order pusher's "baselinker" source: the orders OrderAdd
// recorded. Nothing is pulled and Baselinker is not told: it reads the
// outcome with OrdersGet.
type Source struct {
	c *Connector
}

var _ orders.Verifier = (*Source)(nil)

// Name is "baselinker".
func (s *Source) Name() string { return SourceName }

// External is "B-<baselinker_id>".
func (s *Source) External(id string) string { return ExtPrefix + id }

// Notify keeps Extend's order number with the order's id, and reads the
// new order once (background work, best effort): OrdersGet then finds it
// kept instead of reading a page of new orders at once.
func (s *Source) Notify(ctx context.Context, id string, o orders.Outcome) error {
	if !o.Imported || s.c.idx == nil {
		return nil
	}
	n, ok, err := s.c.idx.idOf(ctx, s.External(id))
	if err != nil || !ok {
		return err
	}
	if err := s.c.idx.setERPOrder(ctx, n, o.ERPOrder); err != nil {
		return err
	}
	_, _ = s.c.cache.order(erp.WithClass(ctx, erp.Background), o.ERPOrder, time.Time{})
	return nil
}

// orderPayload is an OrderAdd as recorded: what Baselinker sent, parsed.
// Money is the buyer's, gross (VAT included), in the order's currency.
type orderPayload struct {
	BaselinkerID   string       `json:"baselinker_id"`
	Date           string       `json:"date"` // YYYY-MM-DD, the merchant's time zone, when received
	Currency       string       `json:"currency"`
	Email          string       `json:"email,omitempty"`
	Phone          string       `json:"phone,omitempty"`
	Login          string       `json:"client_login,omitempty"`
	Comments       string       `json:"user_comments,omitempty"`
	DeliveryMethod string       `json:"delivery_method,omitempty"`
	DeliveryPrice  float64      `json:"delivery_price"`
	PaymentMethod  string       `json:"payment_method,omitempty"`
	COD            bool         `json:"payment_method_cod,omitempty"`
	Paid           bool         `json:"paid,omitempty"`
	WantInvoice    bool         `json:"want_invoice,omitempty"`
	Delivery       address      `json:"delivery"`
	Point          pickupPoint  `json:"delivery_point"`
	Invoice        address      `json:"invoice"`
	Products       []orderedRow `json:"products"`
}

// address is a delivery or invoice address of OrderAdd.
type address struct {
	Fullname    string `json:"fullname,omitempty"`
	Company     string `json:"company,omitempty"`
	Address     string `json:"address,omitempty"`
	Postcode    string `json:"postcode,omitempty"`
	City        string `json:"city,omitempty"`
	Country     string `json:"country,omitempty"`
	CountryCode string `json:"country_code,omitempty"`
	NIP         string `json:"nip,omitempty"` // tax number, invoice only
}

// pickupPoint is a parcel locker or pick-up point.
type pickupPoint struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Address  string `json:"address,omitempty"`
	Postcode string `json:"postcode,omitempty"`
	City     string `json:"city,omitempty"`
}

// orderedRow is one product of OrderAdd.
type orderedRow struct {
	Product  string  `json:"product"` // the article number in Extend (Baselinker's id, else its sku)
	Name     string  `json:"name,omitempty"`
	Quantity float64 `json:"quantity"`
	Price    float64 `json:"price"` // gross unit price
}

// Map turns a recorded OrderAdd into an Extend order for Config.Customer.
// The row prices and the shipping cost are still the buyer's gross ones:
// Verify turns them net. Errors wrap orders.ErrMapping.
func (s *Source) Map(id string, payload []byte) (erp.NewOrder, error) {
	var o orderPayload
	if err := json.Unmarshal(payload, &o); err != nil {
		return erp.NewOrder{}, fmt.Errorf("%w: the recorded order does not decode", orders.ErrMapping)
	}
	var problems []string
	addr, err := deliveryAddress(&o)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(o.Products) == 0 {
		problems = append(problems, "the order has no products")
	}
	if !validCurrency(o.Currency) {
		problems = append(problems, fmt.Sprintf("currency %s is not a 3-letter code", quote(o.Currency)))
	}
	if o.DeliveryPrice < 0 || o.DeliveryPrice > 1e9 {
		problems = append(problems, "delivery_price is negative or too large")
	}
	no := erp.NewOrder{
		CustomerNumber: s.c.cfg.Customer, OrderDate: o.Date,
		YourReference: shorten(firstOf(o.Delivery.Fullname, o.Invoice.Fullname, o.Login), 50),
		Comment:       comment(&o), Currency: o.Currency,
		ShippingCost: cents(o.DeliveryPrice), DeliveryAddress: addr,
	}
	for i, r := range o.Products {
		switch {
		case r.Product == "":
			problems = append(problems, fmt.Sprintf("products[%d] (%s) names no product: send its id or sku", i, quote(r.Name)))
		case !(r.Quantity > 0) || r.Quantity > 1e6:
			problems = append(problems, fmt.Sprintf("products[%d]: quantity of %s is not positive", i, r.Product))
		case r.Price < 0 || r.Price > 1e9 || math.IsNaN(r.Price):
			problems = append(problems, fmt.Sprintf("products[%d]: price of %s is negative or too large", i, r.Product))
		}
		no.Rows = append(no.Rows, erp.NewOrderRow{ProductNumber: r.Product, Quantity: erp.Number(r.Quantity), UnitPrice: cents(r.Price)})
	}
	if len(problems) > 0 {
		return erp.NewOrder{}, fmt.Errorf("%w: %s", orders.ErrMapping, strings.Join(problems, "; "))
	}
	return no, nil
}

// Verify checks every product against Extend and turns the buyer's gross
// prices into the net prices Extend books: each row at the VAT rate Extend
// will add for its article (so that Extend's total including VAT is what
// the buyer paid), the shipping cost at the highest rate of the order. An
// article Extend does not have is an orders.ErrMapping naming it; the ERP
// failing is returned as it is (the pusher retries). OrderAdd runs it too,
// before the order is submitted.
func (s *Source) Verify(ctx context.Context, no *erp.NewOrder) error {
	var unknown []string
	top := 0.0
	rates := make([]float64, len(no.Rows))
	for i, r := range no.Rows {
		p, ok, err := s.c.cat.Product(ctx, r.ProductNumber)
		if err != nil {
			return err
		}
		if !ok {
			unknown = append(unknown, r.ProductNumber)
			continue
		}
		if p.VatRate != nil {
			rates[i] = float64(*p.VatRate)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %w %s: Extend does not have it", orders.ErrMapping, errUnknownProduct, strings.Join(unknown, ", "))
	}
	for i := range no.Rows {
		top = math.Max(top, rates[i])
		no.Rows[i].UnitPrice = net(no.Rows[i].UnitPrice, rates[i])
	}
	no.ShippingCost = net(no.ShippingCost, top)
	return nil
}

// net is a gross amount without VAT at rate percent, to the öre.
func net(gross erp.Amount, rate float64) erp.Amount {
	if rate <= 0 {
		return gross
	}
	return erp.Amount(math.Round(float64(gross) / (1 + rate/100)))
}

// cents converts a decimal amount to Extend's hundredths.
func cents(f float64) erp.Amount { return erp.Amount(math.Round(f * 100)) }

// deliveryAddress is where Extend ships: the pick-up point when there is
// one (the buyer's name as its reference), else the delivery address.
func deliveryAddress(o *orderPayload) (erp.Address, error) {
	d := o.Delivery
	a := erp.Address{Name: firstOf(d.Company, d.Fullname), Address1: d.Address, ZipCode: d.Postcode, City: d.City}
	if d.Company != "" && d.Fullname != "" {
		a.Reference = d.Fullname
	}
	if p := o.Point; p.Address != "" {
		a.Address1, a.ZipCode, a.City = p.Address, firstOf(p.Postcode, d.Postcode), firstOf(p.City, d.City)
		a.Address2 = strings.TrimSpace("Pick-up point " + firstOf(p.Name, p.ID))
		a.Reference = d.Fullname
	}
	var problems []string
	if a.Name == "" {
		problems = append(problems, "delivery_fullname or delivery_company is required")
	}
	if a.Address1 == "" || a.ZipCode == "" || a.City == "" {
		problems = append(problems, "delivery_address, delivery_postcode and delivery_city are required")
	}
	cc, err := countryCode(d.CountryCode)
	if err != nil {
		problems = append(problems, "delivery_country_code: "+err.Error())
	}
	a.CountryCode = cc
	if len(problems) > 0 {
		return erp.Address{}, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return a, nil
}

// countryCode checks an ISO 3166-1 alpha-2 code (alpha-3 is accepted too).
func countryCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 2 && len(code) != 3 {
		return "", fmt.Errorf("want a country code such as PL, got %s", quote(code))
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return "", fmt.Errorf("unknown country %s", quote(code))
	}
	return r.String(), nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// comment is the Extend order's comment: where the order comes from and
// what Extend has no field for.
func comment(o *orderPayload) string {
	var b strings.Builder
	b.WriteString("Baselinker order " + o.BaselinkerID)
	if o.Login != "" {
		b.WriteString(", buyer " + o.Login)
	}
	b.WriteString(".")
	if o.DeliveryMethod != "" {
		b.WriteString(" Delivery: " + o.DeliveryMethod + ".")
	}
	if o.PaymentMethod != "" || o.COD {
		pay := firstOf(o.PaymentMethod, "cash on delivery")
		if o.COD && o.PaymentMethod != "" {
			pay += " (cash on delivery)"
		}
		b.WriteString(" Payment: " + pay + ".")
	}
	if o.Paid {
		b.WriteString(" Paid.")
	}
	if o.Phone != "" {
		b.WriteString(" Phone " + o.Phone + ".")
	}
	if o.Email != "" {
		b.WriteString(" E-mail " + o.Email + ".")
	}
	if o.Comments != "" {
		b.WriteString(" Buyer's comment: " + o.Comments)
	}
	return shorten(b.String(), 1000)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// shorten cuts s to at most n bytes on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// parseID reads Baselinker's order id: a whole number.
func parseID(s string) (string, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}
