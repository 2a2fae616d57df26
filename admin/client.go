// Package admin is a client of a running gateway's admin API (/admin/*,
// docs/api.md), as the gateway's own commands use it: gateway flush,
// gateway pushers and gateway erp resume. Every call presents the admin
// token (ADMIN_TOKEN) as a bearer token; the token is never put in an
// error.
package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Timeout bounds one call, the answer's body included.
const Timeout = 30 * time.Second

// maxBody is the most of an answer's body a call reads.
const maxBody = 1 << 20

// Client calls one gateway's admin API. It is safe for concurrent use.
type Client struct {
	base  string // without a trailing slash
	token string
	hc    *http.Client
}

// New returns a Client of the gateway at baseURL (http://localhost:8080)
// that presents token. hc nil means http.DefaultClient.
func New(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// Flush flushes the cache of every replica (POST /admin/cache/flush), or
// of one customer when customerNo is not "".
func (c *Client) Flush(ctx context.Context, customerNo string) ([]byte, error) {
	path := "/admin/cache/flush"
	if customerNo != "" {
		path += "?customer_no=" + url.QueryEscape(customerNo)
	}
	return c.do(ctx, http.MethodPost, path)
}

// Pushers reads the pushers' status (GET /admin/pushers).
func (c *Client) Pushers(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/admin/pushers")
}

// Replay re-drives the dead letters of the pusher called name (POST
// /admin/pushers/{name}/replay).
func (c *Client) Replay(ctx context.Context, name string) ([]byte, error) {
	return c.do(ctx, http.MethodPost, "/admin/pushers/"+url.PathEscape(name)+"/replay")
}

// ResumeERP lifts, on every replica, the pauses Extend asked for (POST
// /admin/erp/resume).
func (c *Client) ResumeERP(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodPost, "/admin/erp/resume")
}

// do sends one request and returns the answer's body (at most 1 MiB). An
// answer that is not a 2xx is an error naming its status; its body is
// returned too, since it says why.
func (c *Client) do(ctx context.Context, method, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if res.StatusCode/100 != 2 {
		return body, fmt.Errorf("%s", res.Status)
	}
	return body, nil
}
