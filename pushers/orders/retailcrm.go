package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/retailcrm"
)

// CRM is what the retailcrm source needs of RetailCRM; *retailcrm.Client
// has it.
type CRM interface {
	// Orders errors: retailcrm.ErrRejected, ErrUnavailable.
	Orders(ctx context.Context, statuses []string, page int) (retailcrm.OrdersPage, error)
	// EditOrder errors: retailcrm.ErrRejected, ErrUnavailable.
	EditOrder(ctx context.Context, id string, order any) error
}

// RetailCRMConfig configures the retailcrm source (docs/retailcrm.md).
type RetailCRMConfig struct {
	// StatusNew, StatusImported, StatusManual are status codes
	// (RETAILCRM_STATUS_*); default "new", "imported-to-erp",
	// "manual-handling".
	StatusNew, StatusImported, StatusManual string
	// Customer is the Extend customer the orders are booked on
	// (RETAILCRM_ERP_CUSTOMER).
	Customer string
	// PollEvery is the polling period (RETAILCRM_POLL_EVERY); default 1m.
	PollEvery time.Duration
	// Shipments reports OrderPicked to RetailCRM as order[shipped]; RetailCRM
	// takes that only from a registered warehouse module
	// (RETAILCRM_MODULE_CODE), so it is off without one.
	Shipments bool
	// ShipmentStore is the RetailCRM store an order ships from when the
	// order names none itself (Extend's OrderPicked does not say which
	// warehouse picked); "" when unknown.
	ShipmentStore string
	// Location is the merchant's time zone: RetailCRM's createdAt has
	// none, and the shipment date is a day there; nil: UTC.
	Location *time.Location
}

// RetailCRM is the retailcrm source: orders in StatusNew are pulled from
// RetailCRM, created in Extend once (R-<id>), then set to StatusImported
// or StatusManual. When Extend announces OrderPicked for one of them, it
// is edited once with shipped, shipmentStore and shipmentDate.
type RetailCRM struct {
	crm CRM
	cfg RetailCRMConfig
}

// NewRetailCRM returns the retailcrm source reading and editing through
// crm.
func NewRetailCRM(crm CRM, cfg RetailCRMConfig) *RetailCRM {
	if cfg.StatusNew == "" {
		cfg.StatusNew = "new"
	}
	if cfg.StatusImported == "" {
		cfg.StatusImported = "imported-to-erp"
	}
	if cfg.StatusManual == "" {
		cfg.StatusManual = "manual-handling"
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	return &RetailCRM{crm: crm, cfg: cfg}
}

// Name is "retailcrm".
func (r *RetailCRM) Name() string { return "retailcrm" }

// External is "R-<id>", id being RetailCRM's internal order id.
func (r *RetailCRM) External(id string) string { return "R-" + id }

// Every is RETAILCRM_POLL_EVERY.
func (r *RetailCRM) Every() time.Duration { return r.cfg.PollEvery }

// crmOrder is an order as GET /api/v5/orders lists it: the fields we map.
type crmOrder struct {
	ID            json.Number `json:"id"`
	Number        string      `json:"number"`
	CreatedAt     string      `json:"createdAt"` // "Y-m-d H:i:s", the account's time zone
	Currency      string      `json:"currency"`
	FirstName     string      `json:"firstName"`
	LastName      string      `json:"lastName"`
	CustomerComm  string      `json:"customerComment"`
	ShipmentStore string      `json:"shipmentStore"`
	Delivery      struct {
		Cost    erp.Number `json:"cost"`
		Address struct {
			CountryIso string `json:"countryIso"`
			Index      string `json:"index"`
			City       string `json:"city"`
			Street     string `json:"street"`
			Building   string `json:"building"`
			Flat       string `json:"flat"`
			Text       string `json:"text"`
		} `json:"address"`
	} `json:"delivery"`
	Items []struct {
		Offer struct {
			ExternalID string `json:"externalId"`
		} `json:"offer"`
		Quantity      erp.Number `json:"quantity"`
		InitialPrice  erp.Number `json:"initialPrice"`
		DiscountTotal erp.Number `json:"discountTotal"` // per unit
	} `json:"items"`
}

// Poll reads every page of the orders in StatusNew and emits each with
// its JSON (see pagedPoll).
func (r *RetailCRM) Poll(ctx context.Context, emit func(id string, payload []byte) error) error {
	fetch := func(ctx context.Context, page int) ([]json.RawMessage, bool, error) {
		pg, err := r.crm.Orders(ctx, []string{r.cfg.StatusNew}, page)
		return pg.Orders, page < pg.TotalPages, err
	}
	return pagedPoll(ctx, fetch, func(raw json.RawMessage) string {
		var o struct {
			ID json.Number `json:"id"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return ""
		}
		return o.ID.String()
	}, emit)
}

// Map turns a RetailCRM order into an Extend order on the configured
// customer. Rows are its items by offer externalId (the product number);
// discountTotal is per unit in RetailCRM, so a row's discount is it times
// the quantity.
func (r *RetailCRM) Map(id string, payload []byte) (erp.NewOrder, error) {
	var o crmOrder
	if err := json.Unmarshal(payload, &o); err != nil {
		return erp.NewOrder{}, fmt.Errorf("%w: the recorded order does not decode", ErrMapping)
	}
	var problems []string
	date := ""
	if o.CreatedAt != "" {
		t, err := time.ParseInLocation(time.DateTime, o.CreatedAt, r.cfg.Location)
		if err != nil {
			problems = append(problems, "createdAt is not Y-m-d H:i:s")
		}
		date = t.Format(time.DateOnly)
	}
	a := o.Delivery.Address
	cc, err := alpha2(a.CountryIso)
	if err != nil {
		problems = append(problems, "delivery.address.countryIso: "+err.Error())
	}
	line := strings.TrimSpace(a.Text)
	if line == "" {
		line = strings.TrimSpace(strings.Join(nonEmpty(a.Street, a.Building, a.Flat), " "))
	}
	if line == "" || strings.TrimSpace(a.Index) == "" || strings.TrimSpace(a.City) == "" {
		problems = append(problems, "delivery.address needs text (or street), index and city")
	}
	no := erp.NewOrder{
		CustomerNumber: r.cfg.Customer, OrderDate: date, YourReference: o.Number, Comment: o.CustomerComm,
		Currency: strings.ToUpper(o.Currency), ShippingCost: money(o.Delivery.Cost),
		DeliveryAddress: erp.Address{Name: strings.TrimSpace(o.FirstName + " " + o.LastName), Address1: line,
			ZipCode: a.Index, City: a.City, CountryCode: cc},
	}
	if len(o.Items) == 0 {
		problems = append(problems, "the order has no items")
	}
	for i, it := range o.Items {
		disc := float64(it.DiscountTotal) * float64(it.Quantity)
		if p := checkRow(it.Offer.ExternalID, float64(it.Quantity), float64(it.InitialPrice), disc); p != "" {
			problems = append(problems, fmt.Sprintf("items[%d]: %s", i, p))
		}
		no.Rows = append(no.Rows, erp.NewOrderRow{ProductNumber: it.Offer.ExternalID, Quantity: it.Quantity,
			UnitPrice: money(it.InitialPrice), DiscountAmount: money(erp.Number(disc))})
	}
	if len(problems) > 0 {
		return erp.NewOrder{}, fmt.Errorf("%w: %s", ErrMapping, strings.Join(problems, "; "))
	}
	return no, nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Notify sets the order's status: StatusImported, or StatusManual (the
// reason is in /admin/pushers; RetailCRM is not sent it).
func (r *RetailCRM) Notify(ctx context.Context, id string, o Outcome) error {
	status := r.cfg.StatusImported
	if !o.Imported {
		status = r.cfg.StatusManual
	}
	return r.crm.EditOrder(ctx, id, map[string]string{"status": status})
}

// crmShipment is the edit that reports a shipment.
type crmShipment struct {
	Shipped       bool   `json:"shipped"`
	ShipmentStore string `json:"shipmentStore"`
	ShipmentDate  string `json:"shipmentDate"` // YYYY-MM-DD
}

// errNoStore: nothing names the store an order was shipped from.
var errNoStore = errors.New("no shipment store: the order names none, and neither RETAILCRM_STORES nor STOCK_WAREHOUSES is set")

// Shipped edits the order with shipped, its shipment store and the date
// it was picked (in the merchant's time zone). Without a registered
// module (Shipments false) it does nothing: RetailCRM would refuse it.
func (r *RetailCRM) Shipped(ctx context.Context, id string, payload []byte, picked time.Time) error {
	if !r.cfg.Shipments {
		return nil
	}
	var o crmOrder
	_ = json.Unmarshal(payload, &o) // an order recorded long ago may have no payload left
	store := r.ShipmentStore(o.ShipmentStore)
	if store == "" {
		return errNoStore
	}
	return r.crm.EditOrder(ctx, id, crmShipment{Shipped: true, ShipmentStore: store,
		ShipmentDate: picked.In(r.cfg.Location).Format(time.DateOnly)})
}

// ShipmentStore is the RetailCRM store an order ships from: its own
// shipmentStore in RetailCRM, else the configured one.
func (r *RetailCRM) ShipmentStore(own string) string {
	if own = strings.TrimSpace(own); own != "" {
		return own
	}
	return r.cfg.ShipmentStore
}
