package retailcrm

import (
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
	"time"

	"golang.org/x/time/rate"
)

// Errors of the Client. Every error a call returns wraps one of them.
var (
	// ErrRejected: RetailCRM answered a 4xx other than 429 (a wrong key,
	// an unknown order, a validation error) or refused with
	// "success": false. Sending the same again does not help.
	ErrRejected = errors.New("retailcrm: rejected")
	// ErrUnavailable: no answer, a 429 or a 5xx, or an answer that is not
	// RetailCRM's JSON. Trying again later may work.
	ErrUnavailable = errors.New("retailcrm: unavailable")
)

// MaxOffers is the most offers one inventories upload may carry.
const MaxOffers = 250

// DefaultRate is the pace RetailCRM's own client keeps per API key.
const DefaultRate = rate.Limit(10)

// maxAnswer caps what is read of an answer.
const maxAnswer = 8 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the account's URL (RETAILCRM_URL), e.g.
	// https://shop.retailcrm.ru; paths start with /api/v5.
	BaseURL string
	// APIKey is sent as X-API-KEY (RETAILCRM_API_KEY).
	APIKey string
	// Rate is the most calls a second, all of this process's uses of the
	// key together; 0 means DefaultRate.
	Rate rate.Limit
	// HTTPClient nil means one with a 30 s timeout that does not follow
	// redirects (a redirect would drop the key or hide an error).
	HTTPClient *http.Client
}

// Client calls RetailCRM's API v5. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	hc   *http.Client
	lim  *rate.Limiter
}

// New returns a client for the account at cfg.BaseURL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("retailcrm: the URL must be an absolute http(s) URL")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, hc: hc,
		lim: rate.NewLimiter(cfg.Rate, 1)}, nil
}

// Error is a failed call: the operation, RetailCRM's status and message.
// It never holds the API key.
type Error struct {
	Op     string // e.g. "POST /store/inventories/upload"
	Status int    // 0 when there was no answer
	Msg    string // errorMsg, or what went wrong
	kind   error  // ErrRejected or ErrUnavailable
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("retailcrm: %s: %s", e.Op, e.Msg)
	}
	return fmt.Sprintf("retailcrm: %s: status %d: %s", e.Op, e.Status, e.Msg)
}

// Unwrap makes errors.Is(err, ErrRejected) and ErrUnavailable work.
func (e *Error) Unwrap() error { return e.kind }

// answer is the envelope every answer has.
type answer struct {
	Success  *bool           `json:"success"`
	ErrorMsg string          `json:"errorMsg"`
	Errors   json.RawMessage `json:"errors"`
}

// do sends one request and decodes a successful answer into out (nil:
// ignored). query and form may be nil; a form makes it a POST body.
func (c *Client) do(ctx context.Context, method, path string, query, form url.Values, out any) error {
	op := method + " " + path
	if err := c.lim.Wait(ctx); err != nil {
		return &Error{Op: op, Msg: err.Error(), kind: ErrUnavailable}
	}
	u := c.base + "/api/v5" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return &Error{Op: op, Msg: "cannot build the request", kind: ErrRejected}
	}
	req.Header.Set("X-API-KEY", c.key)
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is ours and harmless, but keep errors short
		}
		return &Error{Op: op, Msg: err.Error(), kind: ErrUnavailable}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var env answer
	jerr := json.Unmarshal(b, &env)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &Error{Op: op, Status: resp.StatusCode, Msg: message(env, "try again later"), kind: ErrUnavailable}
	case resp.StatusCode/100 != 2:
		return &Error{Op: op, Status: resp.StatusCode, Msg: message(env, "refused"), kind: ErrRejected}
	case rerr != nil || jerr != nil || env.Success == nil:
		return &Error{Op: op, Status: resp.StatusCode, Msg: "the answer is not RetailCRM's JSON", kind: ErrUnavailable}
	case !*env.Success:
		return &Error{Op: op, Status: resp.StatusCode, Msg: message(env, "success is false"), kind: ErrRejected}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return &Error{Op: op, Status: resp.StatusCode, Msg: "the answer does not decode", kind: ErrUnavailable}
		}
	}
	return nil
}

// message is errorMsg with the field errors after it, kept short.
func message(a answer, def string) string {
	msg := strings.TrimSpace(a.ErrorMsg)
	if msg == "" {
		msg = def
	}
	var byField map[string]string
	var list []string
	switch {
	case json.Unmarshal(a.Errors, &byField) == nil && len(byField) > 0:
		keys := make([]string, 0, len(byField))
		for k := range byField {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			list = append(list, k+": "+byField[k])
		}
	case json.Unmarshal(a.Errors, &list) == nil:
	}
	if len(list) > 0 {
		msg += " (" + strings.Join(list[:min(len(list), 5)], "; ") + ")"
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// Module is an integration module as POST /integration-modules/{code}/edit
// takes it (the field integrationModule). Actions is always sent, {} when
// empty.
type Module struct {
	Code            string            `json:"code"`
	IntegrationCode string            `json:"integrationCode"`
	Active          bool              `json:"active"`
	Name            string            `json:"name"`
	ClientID        string            `json:"clientId"`
	BaseURL         string            `json:"baseUrl"`
	Actions         map[string]string `json:"actions"`
	Integrations    Integrations      `json:"integrations"`
}

// Integrations are what a module integrates; a warehouse system has Store.
type Integrations struct {
	Store *StoreIntegration `json:"store,omitempty"`
}

// StoreIntegration is the warehouse-system part of a module: the callbacks
// RetailCRM makes to it.
type StoreIntegration struct {
	Actions []Action `json:"actions"`
}

// Action is one callback: RetailCRM calls BaseURL+URL at its CallPoints.
type Action struct {
	Code       string   `json:"code"`
	URL        string   `json:"url"`
	CallPoints []string `json:"callPoints"`
}

// EditModule creates the module m.Code, or updates it when it exists
// (POST /integration-modules/{code}/edit): it is safe to repeat.
// Errors: ErrRejected, ErrUnavailable.
func (c *Client) EditModule(ctx context.Context, m Module) error {
	if m.Actions == nil {
		m.Actions = map[string]string{}
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/integration-modules/"+url.PathEscape(m.Code)+"/edit", nil,
		url.Values{"integrationModule": {string(js)}}, nil)
}

// Offer is one offer's stock in an inventories upload.
type Offer struct {
	ExternalID string       `json:"externalId"`
	Stores     []OfferStore `json:"stores"`
}

// OfferStore is an offer's stock in one RetailCRM store (warehouse).
type OfferStore struct {
	Code      string `json:"code"`
	Available int64  `json:"available"`
	// PurchasePrice is the cost price, sent only when known.
	PurchasePrice *float64 `json:"purchasePrice,omitempty"`
}

// Upload is what an inventories upload did.
type Upload struct {
	Processed int
	// NotFound are the externalIds RetailCRM has no offer for: reported,
	// not retried.
	NotFound []string
}

// UploadInventories sets the stock of at most MaxOffers offers
// (POST /store/inventories/upload). Errors: ErrRejected (also for more
// than MaxOffers), ErrUnavailable.
func (c *Client) UploadInventories(ctx context.Context, offers []Offer) (Upload, error) {
	if len(offers) > MaxOffers {
		return Upload{}, &Error{Op: "POST /store/inventories/upload", Msg: fmt.Sprintf("%d offers, at most %d a request", len(offers), MaxOffers), kind: ErrRejected}
	}
	js, err := json.Marshal(offers)
	if err != nil {
		return Upload{}, err
	}
	var ans struct {
		Processed int `json:"processedOffersCount"`
		NotFound  []struct {
			ExternalID string `json:"externalId"`
		} `json:"notFoundOffers"`
	}
	if err := c.do(ctx, http.MethodPost, "/store/inventories/upload", nil, url.Values{"offers": {string(js)}}, &ans); err != nil {
		return Upload{}, err
	}
	up := Upload{Processed: ans.Processed}
	for _, nf := range ans.NotFound {
		if nf.ExternalID != "" {
			up.NotFound = append(up.NotFound, nf.ExternalID)
		}
	}
	return up, nil
}

// OrdersPage is one page of GET /orders: the orders as RetailCRM sent
// them, and where the page is.
type OrdersPage struct {
	Orders     []json.RawMessage
	Page       int // 1-based
	TotalPages int
}

// MaxOrdersPage is the largest page GET /orders gives.
const MaxOrdersPage = 100

// Orders reads page (from 1) of the orders whose status is one of
// statuses (filter[extendedStatus][]), MaxOrdersPage a page. Errors:
// ErrRejected, ErrUnavailable.
func (c *Client) Orders(ctx context.Context, statuses []string, page int) (OrdersPage, error) {
	q := url.Values{"page": {strconv.Itoa(max(page, 1))}, "limit": {strconv.Itoa(MaxOrdersPage)}}
	for _, s := range statuses {
		q.Add("filter[extendedStatus][]", s)
	}
	var ans struct {
		Orders     []json.RawMessage `json:"orders"`
		Pagination struct {
			CurrentPage    int `json:"currentPage"`
			TotalPageCount int `json:"totalPageCount"`
		} `json:"pagination"`
	}
	if err := c.do(ctx, http.MethodGet, "/orders", q, nil, &ans); err != nil {
		return OrdersPage{}, err
	}
	return OrdersPage{Orders: ans.Orders, Page: ans.Pagination.CurrentPage, TotalPages: ans.Pagination.TotalPageCount}, nil
}

// EditOrder changes the order with RetailCRM's internal id: order is
// marshalled into the form field order, the order found by=id
// (POST /orders/{id}/edit). Errors: ErrRejected, ErrUnavailable.
func (c *Client) EditOrder(ctx context.Context, id string, order any) error {
	js, err := json.Marshal(order)
	if err != nil {
		return err
	}
	by := url.Values{"by": {"id"}}
	return c.do(ctx, http.MethodPost, "/orders/"+url.PathEscape(id)+"/edit", by,
		url.Values{"by": {"id"}, "order": {string(js)}}, nil)
}
