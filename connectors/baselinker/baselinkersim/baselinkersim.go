// Package baselinkersim is a Baselinker double: it calls an integration
// file over HTTP the way Baselinker does (a form POST with bl_pass, action
// and the action's parameters; JSON answers; errors as
// {"error":true,"error_code","error_text"}), for the connector's tests and
// the end-to-end suite. Like Baselinker, it tries an OrderAdd again until
// it gets an order id or a refusal.
package baselinkersim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client calls one integration file.
type Client struct {
	URL      string // the integration file, e.g. https://gateway.example/baselinker
	Password string // bl_pass
	HTTP     *http.Client

	calls atomic.Int64
}

// New returns a client of the integration file at u.
func New(u, password string) *Client {
	return &Client{URL: u, Password: password, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Calls is how many requests the client sent.
func (c *Client) Calls() int64 { return c.calls.Load() }

// Error is an error answer of the integration file.
type Error struct {
	Status int
	Code   string
	Text   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("baselinkersim: %d %s: %s", e.Status, e.Code, e.Text)
}

// Call posts action with params and returns the answer's JSON; an error
// answer is an *Error, anything else a transport or format error.
func (c *Client) Call(ctx context.Context, action string, params url.Values) (json.RawMessage, error) {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("bl_pass", c.Password)
	form.Set("action", action)
	return c.Post(ctx, form.Encode())
}

// Post sends body as the form, exactly as given.
func (c *Client) Post(ctx context.Context, body string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.calls.Add(1)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("baselinkersim: %s %d answered %q, not JSON", c.URL, res.StatusCode, ct)
	}
	var e struct {
		Error bool            `json:"error"`
		Code  json.RawMessage `json:"error_code"`
		Text  string          `json:"error_text"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) && json.Unmarshal(b, &e) == nil && e.Error {
		var code string
		if json.Unmarshal(e.Code, &code) != nil {
			code = string(e.Code)
		}
		return nil, &Error{Status: res.StatusCode, Code: code, Text: e.Text}
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("baselinkersim: status %d without an error answer: %.200s", res.StatusCode, b)
	}
	return b, nil
}

// byID splits an answer keyed by id into its entries and "pages".
func byID(raw json.RawMessage) (map[string]json.RawMessage, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, fmt.Errorf("baselinkersim: not an object keyed by id: %w", err)
	}
	pages := 0
	if p, ok := m["pages"]; ok {
		if err := json.Unmarshal(p, &pages); err != nil {
			return nil, 0, fmt.Errorf("baselinkersim: pages is not a number")
		}
		delete(m, "pages")
	}
	return m, pages, nil
}

func decodeAll[T any](m map[string]json.RawMessage) (map[string]T, error) {
	out := make(map[string]T, len(m))
	for k, raw := range m {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("baselinkersim: %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// FileVersion is the FileVersion answer.
type FileVersion struct {
	Platform string `json:"platform"`
	Version  string `json:"version"`
	Standard int    `json:"standard"`
}

// FileVersion calls FileVersion.
func (c *Client) FileVersion(ctx context.Context) (FileVersion, error) {
	var v FileVersion
	raw, err := c.Call(ctx, "FileVersion", nil)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	return v, err
}

// SupportedMethods calls SupportedMethods.
func (c *Client) SupportedMethods(ctx context.Context) ([]string, error) {
	var v []string
	raw, err := c.Call(ctx, "SupportedMethods", nil)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	return v, err
}

// Names calls an action answering id -> name (ProductsCategories,
// StatusesList, DeliveryMethodsList, PaymentMethodsList).
func (c *Client) Names(ctx context.Context, action string) (map[string]string, error) {
	var v map[string]string
	raw, err := c.Call(ctx, action, nil)
	if err == nil {
		err = json.Unmarshal(raw, &v)
	}
	return v, err
}

// Product is one product of ProductsList.
type Product struct {
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
	EAN      string  `json:"ean"`
	SKU      string  `json:"sku"`
}

// ProductsList calls one page of ProductsList with params.
func (c *Client) ProductsList(ctx context.Context, params url.Values) (map[string]Product, int, error) {
	raw, err := c.Call(ctx, "ProductsList", params)
	if err != nil {
		return nil, 0, err
	}
	m, pages, err := byID(raw)
	if err != nil {
		return nil, 0, err
	}
	v, err := decodeAll[Product](m)
	return v, pages, err
}

// ListAll reads every page of ProductsList in category ("" for all), as
// Baselinker does when it imports a shop's catalogue, and reports how
// many requests it took.
func (c *Client) ListAll(ctx context.Context, category string) (map[string]Product, int, error) {
	all := map[string]Product{}
	for page := 1; ; page++ {
		params := url.Values{"page": {strconv.Itoa(page)}}
		if category != "" {
			params.Set("category_id", category)
		}
		got, pages, err := c.ProductsList(ctx, params)
		if err != nil {
			return nil, page, err
		}
		for k, v := range got {
			all[k] = v
		}
		if page >= pages {
			return all, page, nil
		}
	}
}

// ProductData is one product of ProductsData.
type ProductData struct {
	SKU          string      `json:"sku"`
	EAN          string      `json:"ean"`
	Name         string      `json:"name"`
	Quantity     int         `json:"quantity"`
	Price        float64     `json:"price"`
	Tax          float64     `json:"tax"`
	Weight       float64     `json:"weight"`
	Description  string      `json:"description"`
	ManName      string      `json:"man_name"`
	CategoryID   string      `json:"category_id"`
	CategoryName string      `json:"category_name"`
	Features     [][2]string `json:"features"`
}

// ProductsData calls ProductsData for ids.
func (c *Client) ProductsData(ctx context.Context, ids ...string) (map[string]ProductData, error) {
	raw, err := c.Call(ctx, "ProductsData", url.Values{"products_id": {strings.Join(ids, ",")}})
	if err != nil {
		return nil, err
	}
	m, _, err := byID(raw)
	if err != nil {
		return nil, err
	}
	return decodeAll[ProductData](m)
}

// Values calls every page of ProductsPrices or ProductsQuantity.
func Values[T any](ctx context.Context, c *Client, action string) (map[string]T, error) {
	all := map[string]T{}
	for page := 1; ; page++ {
		raw, err := c.Call(ctx, action, url.Values{"page": {strconv.Itoa(page)}})
		if err != nil {
			return nil, err
		}
		m, pages, err := byID(raw)
		if err != nil {
			return nil, err
		}
		got, err := decodeAll[T](m)
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			all[k] = v
		}
		if page >= pages {
			return all, nil
		}
	}
}

// Order is a marketplace order as Baselinker hands it over (OrderAdd).
type Order struct {
	BaselinkerID   int64
	Email, Phone   string
	Login          string
	Currency       string
	DeliveryMethod string
	DeliveryPrice  float64
	PaymentMethod  string
	COD, Paid      bool
	Comments       string
	Delivery       Address
	Invoice        Address
	PointName      string // a pick-up point, when the buyer chose one
	PointAddress   string
	PointPostcode  string
	PointCity      string
	Products       []OrderProduct
}

// Address is a delivery or invoice address.
type Address struct {
	Fullname, Company, Address, Postcode, City, Country, CountryCode string
}

// OrderProduct is one product of an order.
type OrderProduct struct {
	ID        string  `json:"id"`
	VariantID string  `json:"variant_id"`
	SKU       string  `json:"sku"`
	Name      string  `json:"name"`
	Price     float64 `json:"price"`
	Quantity  int     `json:"quantity"`
	AuctionID string  `json:"auction_id,omitempty"`
}

// Form is o's OrderAdd fields.
func (o Order) Form() url.Values {
	b01 := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	v := url.Values{
		"baselinker_id": {strconv.FormatInt(o.BaselinkerID, 10)}, "email": {o.Email}, "phone": {o.Phone},
		"client_login": {o.Login}, "currency": {o.Currency}, "delivery_method": {o.DeliveryMethod},
		"delivery_price": {strconv.FormatFloat(o.DeliveryPrice, 'f', 2, 64)}, "payment_method": {o.PaymentMethod},
		"payment_method_cod": {b01(o.COD)}, "paid": {b01(o.Paid)}, "user_comments": {o.Comments},
		"want_invoice": {"0"}, "change_products_quantity": {"1"},
		"delivery_point_name": {o.PointName}, "delivery_point_address": {o.PointAddress},
		"delivery_point_postcode": {o.PointPostcode}, "delivery_point_city": {o.PointCity},
	}
	for prefix, a := range map[string]Address{"delivery_": o.Delivery, "invoice_": o.Invoice} {
		v.Set(prefix+"fullname", a.Fullname)
		v.Set(prefix+"company", a.Company)
		v.Set(prefix+"address", a.Address)
		v.Set(prefix+"postcode", a.Postcode)
		v.Set(prefix+"city", a.City)
		v.Set(prefix+"country", a.Country)
		v.Set(prefix+"country_code", a.CountryCode)
	}
	products, _ := json.Marshal(o.Products)
	v.Set("products", string(products))
	return v
}

// OrderAdd hands o over once and returns the order id the shop gave it.
func (c *Client) OrderAdd(ctx context.Context, o Order) (int64, error) {
	raw, err := c.Call(ctx, "OrderAdd", o.Form())
	if err != nil {
		return 0, err
	}
	var a struct {
		OrderID json.Number `json:"order_id"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, err
	}
	id, err := a.OrderID.Int64()
	if err != nil || id < 1 || id > 1<<31-1 {
		return 0, fmt.Errorf("baselinkersim: order_id %q is not a number from 1 to 2^31", a.OrderID)
	}
	return id, nil
}

// AddOrder hands o over as Baselinker does: again after a transport error
// or a 5xx answer (the shop is down, or its ERP), until it gets an id, a
// refusal (4xx), or ctx ends. It returns the id and the attempts made.
func (c *Client) AddOrder(ctx context.Context, o Order, pause time.Duration) (int64, int, error) {
	for attempt := 1; ; attempt++ {
		id, err := c.OrderAdd(ctx, o)
		var e *Error
		if err == nil || (errors.As(err, &e) && e.Status < 500) {
			return id, attempt, err
		}
		select {
		case <-ctx.Done():
			return 0, attempt, fmt.Errorf("baselinkersim: order %d: %w (last: %v)", o.BaselinkerID, ctx.Err(), err)
		case <-time.After(pause):
		}
	}
}

// ShopOrder is one order of OrdersGet.
type ShopOrder struct {
	BaselinkerID          string  `json:"baselinker_id"`
	ERPOrder              string  `json:"erp_order_number"`
	DateAdd               int64   `json:"date_add"`
	StatusID              string  `json:"status_id"`
	Paid                  int     `json:"paid"`
	Currency              string  `json:"currency"`
	DeliveryFullname      string  `json:"delivery_fullname"`
	DeliveryAddress       string  `json:"delivery_address"`
	DeliveryCity          string  `json:"delivery_city"`
	DeliveryPrice         float64 `json:"delivery_price"`
	Email                 string  `json:"email"`
	AdminComments         string  `json:"admin_comments"`
	DeliveryPackageNr     string  `json:"delivery_package_nr"`
	DeliveryPackageModule string  `json:"delivery_package_module"`
	DeliveryTrackingURL   string  `json:"delivery_tracking_url"`
	Products              []struct {
		ID       string  `json:"id"`
		Name     string  `json:"name"`
		Quantity float64 `json:"quantity"`
		Price    float64 `json:"price"`
	} `json:"products"`
}

// OrdersGet calls one page of OrdersGet with params.
func (c *Client) OrdersGet(ctx context.Context, params url.Values) (map[int64]ShopOrder, error) {
	raw, err := c.Call(ctx, "OrdersGet", params)
	if err != nil {
		return nil, err
	}
	m, _, err := byID(raw)
	if err != nil {
		return nil, err
	}
	got, err := decodeAll[ShopOrder](m)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]ShopOrder, len(got))
	for k, v := range got {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("baselinkersim: order key %q is not a number", k)
		}
		out[id] = v
	}
	return out, nil
}

// AllOrders reads OrdersGet from id 1, each call from the id after the
// last one it got, until an answer is empty, as Baselinker looks for a
// shop's orders; after a 5xx answer it tries again after pause, until ctx
// ends.
func (c *Client) AllOrders(ctx context.Context, pause time.Duration) (map[int64]ShopOrder, error) {
	all := map[int64]ShopOrder{}
	next := int64(1)
	for range 100000 {
		got, err := c.OrdersGet(ctx, url.Values{"id_from": {strconv.FormatInt(next, 10)}})
		var e *Error
		if errors.As(err, &e) && e.Status >= 500 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("baselinkersim: %w (last: %v)", ctx.Err(), err)
			case <-time.After(pause):
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			return all, nil
		}
		for k, v := range got {
			all[k] = v
			next = max(next, k+1)
		}
	}
	return all, nil
}

// OrderUpdate calls OrderUpdate for ids with the key orders_ids (or, with
// key, the given spelling) and extra fields; it returns the counter.
func (c *Client) OrderUpdate(ctx context.Context, key string, ids []int64, kind, value string, extra url.Values) (int, error) {
	if key == "" {
		key = "orders_ids"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	params := url.Values{key: {strings.Join(s, ",")}, "update_type": {kind}, "update_value": {value}}
	for k, v := range extra {
		params[k] = v
	}
	raw, err := c.Call(ctx, "OrderUpdate", params)
	if err != nil {
		return 0, err
	}
	var a struct {
		Counter int `json:"counter"`
	}
	err = json.Unmarshal(raw, &a)
	return a.Counter, err
}

// SortedKeys returns m's keys in order, for stable test output.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
