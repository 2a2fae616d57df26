package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vendre-extend/gateway/erp"
)

// XSaleConfig configures the xsale source (shop-model.md, "xsale").
type XSaleConfig struct {
	BaseURL      string // XSALE_URL, e.g. https://api.xsale.ai
	Organization string // XSALE_ORGANIZATION
	TokenURL     string // XSALE_TOKEN_URL
	ClientID     string
	ClientSecret string
	Username     string
	Password     string
	// StatusNew, StatusImported, StatusManual are status names; default
	// "Nowe", "Zaimportowano do ERP", "Do obsługi ręcznej".
	StatusNew, StatusImported, StatusManual string
	// StatusIDs, when set, select the waiting orders by status id
	// (XSALE_STATUS_IDS, statusidin) instead of by StatusNew's name.
	StatusIDs []int
	// CreatedFrom, a date YYYY-MM-DD, leaves out orders created before it
	// (XSALE_CREATED_FROM, createdfrom); "" means any date.
	CreatedFrom string
	// Channels, when set, select the sales channels (XSALE_CHANNELS,
	// channelidin); empty means every channel.
	Channels []int
	// Catalog, when set, checks every product of an order in Extend before
	// the order is created: an unknown one sends it to StatusManual.
	Catalog *Catalog
	// Customer is the Extend customer marketplace orders are booked on
	// (XSALE_ERP_CUSTOMER).
	Customer string
	// PollEvery is the polling period (XSALE_POLL_EVERY); default 1m.
	PollEvery time.Duration
	// HTTPClient nil means one with a 30 s timeout, not following
	// redirects (a redirect to https would drop the headers).
	HTTPClient *http.Client
	// Location is the merchant's time zone, for order dates; nil: UTC.
	Location *time.Location
}

// XSale is the xsale source: xSale's documented status-driven pull. Orders
// in StatusNew are read; after the order exists in Extend its status is
// set to StatusImported, and to StatusManual when it cannot be imported.
// Field names beyond the documented flow are assumptions (shop-model.md),
// kept in this file.
type XSale struct {
	cfg XSaleConfig
	hc  *http.Client

	mu       sync.Mutex
	access   string
	idToken  string
	expires  time.Time
	statuses map[string]int // name -> id
}

// xsaleAudience and xsaleScope are what the documented token request
// sends.
const (
	xsaleAudience = "https://api.xsale.ai"
	xsaleScope    = "openid profile email xsale production"
)

// XSale is polled (Poller): without Poll and Every, Run would silently
// never pull from it.
var _ Poller = (*XSale)(nil)

// NewXSale returns the xsale source.
func NewXSale(cfg XSaleConfig) *XSale {
	if cfg.StatusNew == "" {
		cfg.StatusNew = "Nowe"
	}
	if cfg.StatusImported == "" {
		cfg.StatusImported = "Zaimportowano do ERP"
	}
	if cfg.StatusManual == "" {
		cfg.StatusManual = "Do obsługi ręcznej"
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Minute
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &XSale{cfg: cfg, hc: hc}
}

// Name is "xsale".
func (x *XSale) Name() string { return "xsale" }

// External is "X-<Id>".
func (x *XSale) External(id string) string { return "X-" + id }

// Every is XSALE_POLL_EVERY.
func (x *XSale) Every() time.Duration { return x.cfg.PollEvery }

// xsaleOrder is an order as GET /{org}/orders lists it (assumed names).
type xsaleOrder struct {
	ID              json.Number `json:"Id"`
	Number          string      `json:"Number"`
	Created         string      `json:"Created"`
	Currency        string      `json:"Currency"`
	ShippingCost    erp.Number  `json:"ShippingCost"`
	DeliveryAddress struct {
		Name        string `json:"Name"`
		Street      string `json:"Street"`
		ZipCode     string `json:"ZipCode"`
		City        string `json:"City"`
		CountryCode string `json:"CountryCode"`
	} `json:"DeliveryAddress"`
	OrderItemArticles []struct {
		Sku      string     `json:"Sku"`
		Quantity erp.Number `json:"Quantity"`
		Price    erp.Number `json:"Price"`
	} `json:"OrderItemArticles"`
}

// XSalePageSize is how many orders one list call asks for (xSale's most).
const XSalePageSize = 100

// filter is the order list's query without the page: the waiting status
// (by ids, or StatusNew's name), the date and the channels.
func (x *XSale) filter() url.Values {
	q := url.Values{}
	if len(x.cfg.StatusIDs) > 0 {
		for _, id := range x.cfg.StatusIDs {
			q.Add("statusidin", strconv.Itoa(id))
		}
	} else {
		q.Set("statusnamein", x.cfg.StatusNew)
	}
	if x.cfg.CreatedFrom != "" {
		q.Set("createdfrom", x.cfg.CreatedFrom)
	}
	for _, ch := range x.cfg.Channels {
		q.Add("channelidin", strconv.Itoa(ch))
	}
	return q
}

// Poll reads the waiting orders page by page (XSalePageSize a page; an
// empty page ends a pass; see pagedPoll) and emits each with its JSON.
func (x *XSale) Poll(ctx context.Context, emit func(id string, payload []byte) error) error {
	q := x.filter()
	fetch := func(ctx context.Context, page int) ([]json.RawMessage, bool, error) {
		q.Set("page", strconv.Itoa(page))
		q.Set("pageSize", strconv.Itoa(XSalePageSize))
		var raw []json.RawMessage
		err := x.call(ctx, http.MethodGet, "/orders?"+q.Encode(), nil, &raw)
		return raw, true, err
	}
	return pagedPoll(ctx, fetch, func(raw json.RawMessage) string {
		var o struct {
			ID json.Number `json:"Id"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return ""
		}
		return o.ID.String()
	}, emit)
}

// Verify checks every product of o in Extend (Catalog): an unknown one is
// an ErrMapping naming it, so the order goes to StatusManual and nothing
// is created.
func (x *XSale) Verify(ctx context.Context, o *erp.NewOrder) error {
	if x.cfg.Catalog == nil {
		return nil
	}
	return checkProducts(ctx, x.cfg.Catalog, *o)
}

// Map turns an xSale order into an Extend order on the configured
// customer; the rows are its OrderItemArticles (what the warehouse ships).
func (x *XSale) Map(id string, payload []byte) (erp.NewOrder, error) {
	var o xsaleOrder
	if err := json.Unmarshal(payload, &o); err != nil {
		return erp.NewOrder{}, fmt.Errorf("%w: the recorded order does not decode", ErrMapping)
	}
	var problems []string
	date, err := orderDate(o.Created, x.cfg.Location)
	if err != nil {
		problems = append(problems, "Created is not a date-time")
	}
	a := o.DeliveryAddress
	cc, err := alpha2(a.CountryCode)
	if err != nil {
		problems = append(problems, "DeliveryAddress.CountryCode: "+err.Error())
	}
	if strings.TrimSpace(a.Street) == "" || strings.TrimSpace(a.ZipCode) == "" || strings.TrimSpace(a.City) == "" {
		problems = append(problems, "DeliveryAddress needs Street, ZipCode and City")
	}
	no := erp.NewOrder{
		CustomerNumber: x.cfg.Customer, OrderDate: date, YourReference: o.Number,
		Currency: strings.ToUpper(o.Currency), ShippingCost: money(o.ShippingCost),
		DeliveryAddress: erp.Address{Name: a.Name, Address1: a.Street, ZipCode: a.ZipCode, City: a.City, CountryCode: cc},
	}
	if len(o.OrderItemArticles) == 0 {
		problems = append(problems, "the order has no OrderItemArticles")
	}
	for i, r := range o.OrderItemArticles {
		if p := checkRow(r.Sku, float64(r.Quantity), float64(r.Price), 0); p != "" {
			problems = append(problems, fmt.Sprintf("OrderItemArticles[%d]: %s", i, p))
		}
		no.Rows = append(no.Rows, erp.NewOrderRow{ProductNumber: r.Sku, Quantity: r.Quantity, UnitPrice: money(r.Price)})
	}
	if err := mappingError(problems); err != nil {
		return erp.NewOrder{}, err
	}
	return no, nil
}

// Notify sets the order's status: StatusImported, or StatusManual.
func (x *XSale) Notify(ctx context.Context, id string, o Outcome) error {
	name := x.cfg.StatusImported
	if !o.Imported {
		name = x.cfg.StatusManual
	}
	sid, err := x.statusID(ctx, name)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]int{"StatusId": sid})
	return x.call(ctx, http.MethodPut, "/orders/"+url.PathEscape(id)+"/change-status", body, nil)
}

// statusID maps a status name to its id, reading GET /{org}/statuses when
// the name is not known yet.
func (x *XSale) statusID(ctx context.Context, name string) (int, error) {
	x.mu.Lock()
	id, ok := x.statuses[name]
	x.mu.Unlock()
	if ok {
		return id, nil
	}
	var list []struct {
		ID   int    `json:"Id"`
		Name string `json:"Name"`
	}
	if err := x.call(ctx, http.MethodGet, "/statuses", nil, &list); err != nil {
		return 0, err
	}
	m := map[string]int{}
	for _, s := range list {
		m[s.Name] = s.ID
	}
	x.mu.Lock()
	x.statuses = m
	x.mu.Unlock()
	if id, ok := m[name]; ok {
		return id, nil
	}
	return 0, fmt.Errorf("xsale: no status named %q", name)
}

// token returns a valid access and id token, asking for new ones by the
// password grant when needed.
func (x *XSale) token(ctx context.Context, renew bool) (string, string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !renew && x.access != "" && time.Now().Before(x.expires) {
		return x.access, x.idToken, nil
	}
	form := url.Values{
		"grant_type": {"password"}, "client_id": {x.cfg.ClientID}, "client_secret": {x.cfg.ClientSecret},
		"audience": {xsaleAudience}, "username": {x.cfg.Username}, "password": {x.cfg.Password},
		"scope": {xsaleScope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", errors.New("xsale: bad XSALE_TOKEN_URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := x.hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("xsale: token: %w", unwrap(err))
	}
	defer resp.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &t) != nil || t.AccessToken == "" {
		return "", "", fmt.Errorf("xsale: token: status %d", resp.StatusCode)
	}
	if t.ExpiresIn <= 0 {
		t.ExpiresIn = 3600
	}
	x.access, x.idToken = t.AccessToken, t.IDToken
	x.expires = time.Now().Add(time.Duration(t.ExpiresIn)*time.Second - time.Minute)
	return x.access, x.idToken, nil
}

// call makes one API call under {XSALE_URL}/{org}, renewing the token once
// on a 401, and decodes a JSON answer into out (nil: ignored).
func (x *XSale) call(ctx context.Context, method, path string, body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		access, idt, err := x.token(ctx, attempt > 0)
		if err != nil {
			return err
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, x.cfg.BaseURL+"/"+url.PathEscape(x.cfg.Organization)+path, rd)
		if err != nil {
			return errors.New("xsale: bad XSALE_URL")
		}
		req.Header.Set("Authorization", "Bearer "+access)
		req.Header.Set("x-id-token", idt)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := x.hc.Do(req)
		if err != nil {
			return fmt.Errorf("xsale: %s %s: %w", method, opName(path), unwrap(err))
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("xsale: %s %s: status %d", method, opName(path), resp.StatusCode)
		}
		if rerr != nil {
			return fmt.Errorf("xsale: %s %s: %w", method, opName(path), rerr)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("xsale: %s %s: answer does not decode", method, opName(path))
			}
		}
		return nil
	}
}

// opName is a path without its query, for errors.
func opName(path string) string {
	p, _, _ := strings.Cut(path, "?")
	return p
}

func unwrap(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
