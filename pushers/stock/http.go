package stock

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/vendre-extend/gateway/clip"
	"github.com/vendre-extend/gateway/retailcrm"
)

// newHTTPClient is a client with a whole-exchange timeout that does not
// follow redirects (a redirect would drop our headers or hide an error).
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// statusError classifies a non-2xx answer: 429 and 5xx are retried,
// anything else is ErrRejected.
func statusError(sink string, status int, detail string) error {
	if status == http.StatusTooManyRequests || status >= 500 {
		return fmt.Errorf("%s: status %d: %s", sink, status, detail)
	}
	return fmt.Errorf("%s: status %d: %s: %w", sink, status, detail, ErrRejected)
}

// CRM is what the retailcrm sink needs of RetailCRM; *retailcrm.Client
// has it (paced to RetailCRM's 10 calls a second per key).
type CRM interface {
	// UploadInventories errors: retailcrm.ErrRejected, ErrUnavailable.
	UploadInventories(ctx context.Context, offers []retailcrm.Offer) (retailcrm.Upload, error)
}

// RetailCRM pushes stock to RetailCRM v5
// (POST /api/v5/store/inventories/upload), at most 250 offers a request.
type RetailCRM struct {
	crm    CRM
	stores map[string]string // Extend warehouse -> CRM store code
}

// NewRetailCRM returns the sink uploading through crm. stores maps Extend
// warehouses to CRM store codes (RETAILCRM_STORES); a warehouse it does
// not name keeps its own name.
func NewRetailCRM(crm CRM, stores map[string]string) *RetailCRM {
	return &RetailCRM{crm: crm, stores: stores}
}

// Name is "retailcrm".
func (r *RetailCRM) Name() string { return "retailcrm" }

// reportsNotFound: RetailCRM names the offers it does not know.
func (r *RetailCRM) reportsNotFound() {}

// Rate is RetailCRM's budget of 10 requests a second per API key (the
// client keeps it too, shared with the order source and the module).
func (r *RetailCRM) Rate() rate.Limit { return retailcrm.DefaultRate }

// Push uploads b in requests of at most 250 offers. Offers RetailCRM does
// not know come back in Report.NotFound. Extend's model has no cost price,
// so no purchasePrice is sent (retailcrm.OfferStore has the field for the
// day it has one).
func (r *RetailCRM) Push(ctx context.Context, b Batch) (Report, error) {
	var rep Report
	for chunk := range slices.Chunk(b.Items, retailcrm.MaxOffers) {
		offers := make([]retailcrm.Offer, 0, len(chunk))
		for _, it := range chunk {
			o := retailcrm.Offer{ExternalID: it.Product}
			for _, l := range it.Levels {
				code := l.Warehouse
				if c, ok := r.stores[l.Warehouse]; ok {
					code = c
				}
				o.Stores = append(o.Stores, retailcrm.OfferStore{Code: code, Available: l.Available})
			}
			offers = append(offers, o)
		}
		up, err := r.crm.UploadInventories(ctx, offers)
		if errors.Is(err, retailcrm.ErrRejected) {
			return rep, fmt.Errorf("%w: %w", ErrRejected, err)
		}
		if err != nil {
			return rep, err
		}
		rep.NotFound = append(rep.NotFound, up.NotFound...)
	}
	return rep, nil
}

// Webhook is the generic sink (ours): POST of
// {"items":[{"product_no","warehouse","available","changed_at"}]}, at most
// 250 items a request, signed X-Signature: sha256=<hex HMAC-SHA256 of the
// body with the secret>.
type Webhook struct {
	url    string
	secret []byte
	hc     *http.Client
}

// NewWebhook returns the sink posting to u (STOCK_WEBHOOK_URL), signing
// with secret (STOCK_WEBHOOK_SECRET). hc nil means a client with a 30 s
// timeout.
func NewWebhook(u, secret string, hc *http.Client) *Webhook {
	if hc == nil {
		hc = newHTTPClient()
	}
	return &Webhook{url: u, secret: []byte(secret), hc: hc}
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// Rate is 10 requests a second.
func (w *Webhook) Rate() rate.Limit { return 10 }

// WebhookItem is one product in one warehouse, as the webhook sink sends it.
type WebhookItem struct {
	ProductNo string `json:"product_no"`
	Warehouse string `json:"warehouse"`
	Available int64  `json:"available"`
	ChangedAt string `json:"changed_at"` // RFC 3339 UTC; "" when the ERP gave none
}

// WebhookBody is the JSON body of one request of the webhook sink.
type WebhookBody struct {
	Items []WebhookItem `json:"items"`
}

// Sign is the X-Signature value for body.
func Sign(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Push posts b's levels in requests of at most 250 items; any 2xx means
// accepted.
func (w *Webhook) Push(ctx context.Context, b Batch) (Report, error) {
	var items []WebhookItem
	for _, it := range b.Items {
		for _, l := range it.Levels {
			wi := WebhookItem{ProductNo: it.Product, Warehouse: l.Warehouse, Available: l.Available}
			if !l.ChangedAt.IsZero() {
				wi.ChangedAt = l.ChangedAt.UTC().Format(time.RFC3339)
			}
			items = append(items, wi)
		}
	}
	for chunk := range slices.Chunk(items, DefaultBatchSize) {
		body, err := json.Marshal(WebhookBody{Items: chunk})
		if err != nil {
			return Report{}, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			return Report{}, fmt.Errorf("webhook: %w", ErrRejected)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Signature", Sign(body, w.secret))
		resp, err := w.hc.Do(req)
		if err != nil {
			return Report{}, fmt.Errorf("webhook: %w", unwrapURL(err))
		}
		ans, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return Report{}, statusError("webhook", resp.StatusCode, short(string(ans)))
		}
	}
	return Report{}, nil
}

// unwrapURL drops the URL from a transport error (it may carry a token).
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// short keeps an answer's text short enough for a status line.
func short(s string) string {
	return clip.String(strings.TrimSpace(s), 200)
}
