package orders

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pushers/work"
)

// Vendre is the vendre-webhook source: Vendre's new_order webhook
// (POST /webhooks/vendre). Vendre documents the event but not its body nor
// a signature, so the shape below is our assumption (shop-model.md), kept
// in this one file, and the call is authenticated with a shared token
// (X-Webhook-Token). Vendre has no documented way to be told the outcome:
// it shows in /admin/pushers.
type Vendre struct {
	token    [32]byte
	set      bool
	loc      *time.Location
	imported func(ctx context.Context, id, erpOrder string) error
}

// NewVendre returns the source accepting token (VENDRE_WEBHOOK_TOKEN);
// order dates are taken in loc (TIMEZONE; nil: UTC).
func NewVendre(token string, loc *time.Location) *Vendre {
	if loc == nil {
		loc = time.UTC
	}
	return &Vendre{token: sha256.Sum256([]byte(token)), set: token != "", loc: loc}
}

// Name is "vendre-webhook".
func (v *Vendre) Name() string { return "vendre-webhook" }

// External is "V-<id>".
func (v *Vendre) External(id string) string { return "V-" + id }

// OnImported registers f, told each time one of Vendre's orders is in
// Extend (the Baselinker connector lists them); an error from it makes
// the pusher tell it again later. Call it before the pusher runs.
func (v *Vendre) OnImported(f func(ctx context.Context, id, erpOrder string) error) { v.imported = f }

// Notify tells OnImported's function of an imported order; Vendre itself
// cannot be told.
func (v *Vendre) Notify(ctx context.Context, id string, o Outcome) error {
	if o.Imported && v.imported != nil {
		return v.imported(ctx, id, o.ERPOrder)
	}
	return nil
}

// vendreHook is the webhook body.
type vendreHook struct {
	Event string          `json:"event"`
	Order json.RawMessage `json:"order"`
}

// vendreOrder is the order as Vendre sends it (assumed shape).
type vendreOrder struct {
	ID        json.RawMessage `json:"id"` // "5512" or 5512
	CreatedAt string          `json:"created_at"`
	Currency  string          `json:"currency"`
	Customer  struct {
		CustomerNo string `json:"customer_no"`
	} `json:"customer"`
	Reference    string     `json:"reference"`
	Comment      string     `json:"comment"`
	ShippingCost erp.Number `json:"shipping_cost"`
	Delivery     struct {
		Name       string `json:"name"`
		Address    string `json:"address"`
		Address2   string `json:"address2"`
		Zipcode    string `json:"zipcode"`
		Ziparea    string `json:"ziparea"`
		CountryISO string `json:"country_iso"`
	} `json:"delivery"`
	Rows []struct {
		Model    string     `json:"model"`
		Quantity erp.Number `json:"quantity"`
		Price    erp.Number `json:"price"`
		Discount erp.Number `json:"discount"`
	} `json:"rows"`
}

// id returns the order id as text.
func (o *vendreOrder) id() string {
	var s string
	if json.Unmarshal(o.ID, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(o.ID, &n) == nil {
		return n.String()
	}
	return ""
}

// VendreReceipt is what ReceiveVendre did.
type VendreReceipt struct {
	Ignored   bool // not a new_order event
	Duplicate bool // this order id was recorded before
}

// ReceiveVendre takes one Vendre webhook call: it checks token in constant
// time, and records a new_order's order once; other events are ignored.
// Errors: work.ErrSignature (bad or missing token), work.ErrPayload
// (not the expected JSON), work.ErrTooLarge, work.ErrUnavailable
// (not recorded; Vendre should retry), and errNoVendre wrapped in
// work.ErrUnavailable when the source is not configured.
func (p *Pusher) ReceiveVendre(ctx context.Context, body []byte, token string) (VendreReceipt, error) {
	v := p.vendre
	if v == nil {
		return VendreReceipt{}, fmt.Errorf("orders: vendre-webhook is not configured: %w", work.ErrUnavailable)
	}
	if len(body) > work.MaxBody {
		return VendreReceipt{}, work.ErrTooLarge
	}
	got := sha256.Sum256([]byte(token))
	if !v.set || token == "" || subtle.ConstantTimeCompare(got[:], v.token[:]) != 1 {
		return VendreReceipt{}, fmt.Errorf("orders: vendre webhook token: %w", work.ErrSignature)
	}
	var h vendreHook
	if err := json.Unmarshal(body, &h); err != nil || h.Event == "" {
		return VendreReceipt{}, fmt.Errorf("%w: want {\"event\":…,\"order\":{…}}", work.ErrPayload)
	}
	if h.Event != "new_order" {
		return VendreReceipt{Ignored: true}, nil
	}
	var o vendreOrder
	if err := json.Unmarshal(h.Order, &o); err != nil {
		return VendreReceipt{}, fmt.Errorf("%w: order is not an object of the expected shape", work.ErrPayload)
	}
	id := o.id()
	if !validID.MatchString(id) {
		return VendreReceipt{}, fmt.Errorf("%w: order.id must be 1-64 of A-Z a-z 0-9 . _ -", work.ErrPayload)
	}
	isNew, err := p.Record(ctx, v.Name(), id, h.Order)
	if err != nil {
		return VendreReceipt{}, fmt.Errorf("%w: %v", work.ErrUnavailable, err)
	}
	return VendreReceipt{Duplicate: !isNew}, nil
}

// Map turns a recorded Vendre order into an Extend order.
func (v *Vendre) Map(id string, payload []byte) (erp.NewOrder, error) {
	var o vendreOrder
	if err := json.Unmarshal(payload, &o); err != nil {
		return erp.NewOrder{}, fmt.Errorf("%w: the recorded order does not decode", ErrMapping)
	}
	var problems []string
	if o.Customer.CustomerNo == "" {
		problems = append(problems, "customer.customer_no is missing")
	}
	date, err := orderDate(o.CreatedAt, v.loc)
	if err != nil {
		problems = append(problems, "created_at is not an RFC 3339 time")
	}
	cc, err := alpha2(o.Delivery.CountryISO)
	if err != nil {
		problems = append(problems, "delivery.country_iso: "+err.Error())
	}
	if strings.TrimSpace(o.Delivery.Address) == "" || strings.TrimSpace(o.Delivery.Zipcode) == "" || strings.TrimSpace(o.Delivery.Ziparea) == "" {
		problems = append(problems, "delivery address, zipcode and ziparea are required")
	}
	no := erp.NewOrder{
		CustomerNumber: o.Customer.CustomerNo, OrderDate: date,
		YourReference: o.Reference, Comment: o.Comment, Currency: strings.ToUpper(o.Currency),
		ShippingCost: money(o.ShippingCost),
		DeliveryAddress: erp.Address{Name: o.Delivery.Name, Address1: o.Delivery.Address, Address2: o.Delivery.Address2,
			ZipCode: o.Delivery.Zipcode, City: o.Delivery.Ziparea, CountryCode: cc},
	}
	if len(o.Rows) == 0 {
		problems = append(problems, "the order has no rows")
	}
	for i, r := range o.Rows {
		if p := checkRow(r.Model, float64(r.Quantity), float64(r.Price), float64(r.Discount)); p != "" {
			problems = append(problems, fmt.Sprintf("rows[%d]: %s", i, p))
		}
		no.Rows = append(no.Rows, erp.NewOrderRow{ProductNumber: r.Model, Quantity: r.Quantity,
			UnitPrice: money(r.Price), DiscountAmount: money(r.Discount)})
	}
	if err := mappingError(problems); err != nil {
		return erp.NewOrder{}, err
	}
	return no, nil
}

// mappingError is ErrMapping naming the first clip.Items problems and how
// many more there are; nil for none. An order of 7,500 bad rows makes a
// reason of a few hundred bytes, not of 7,500 problems.
func mappingError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMapping, clip.Join(problems, "; ", clip.Items))
}

// checkRow names what is wrong with a row, or "".
func checkRow(sku string, qty, price, discount float64) string {
	sku = clip.String(sku, 64)
	switch {
	case strings.TrimSpace(sku) == "":
		return "no product number"
	case !(qty > 0) || qty > 1e6:
		return fmt.Sprintf("quantity %v of %s is not positive", qty, sku)
	case price < 0 || discount < 0 || math.IsNaN(price) || math.IsNaN(discount):
		return fmt.Sprintf("negative price or discount for %s", sku)
	}
	return ""
}

// orderDate is the date of an RFC 3339 time in loc; "" for "" (Extend
// then uses today).
func orderDate(s string, loc *time.Location) (string, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t2, err2 := time.Parse("2006-01-02T15:04:05", s); err2 == nil {
			return t2.Format(time.DateOnly), nil
		}
		return "", err
	}
	return t.In(loc).Format(time.DateOnly), nil
}

// money converts a shop amount to Extend's hundredths.
func money(n erp.Number) erp.Amount {
	return erp.Amount(math.Round(float64(n) * 100))
}

// alpha2 turns an ISO 3166-1 alpha-3 (or alpha-2) country code into the
// alpha-2 code Extend wants.
func alpha2(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 2 && len(code) != 3 {
		return "", errors.New("want an ISO 3166-1 country code such as SWE")
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return "", fmt.Errorf("unknown country %q", code)
	}
	return r.String(), nil
}
