package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/pull"
)

// contentJSON is the content type of every JSON answer.
const contentJSON = "application/json; charset=utf-8"

// writeJSON writes v as a JSON answer with the contract's content type
// (echo's c.JSON leaves out the charset).
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("handlers: encode answer: %w", err)
	}
	return c.Blob(status, contentJSON, b)
}

// pathParam returns the route's parameter name; errNoRoute when it holds a
// "/" (echo lets the last parameter of a route run to the end of the path,
// so /v1/orders/1/extra would otherwise be order "1/extra").
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if strings.Contains(v, "/") {
		return "", errNoRoute
	}
	return v, nil
}

// orderList answers GET /v1/orders.
func (h *handler) orderList(c echo.Context) error {
	customerNo, q, err := parseList(h.validator(c), paramsOf(c), h.today())
	if err != nil {
		return err
	}
	a, err := h.d.Pull.OrderList(c.Request().Context(), customerNo, q)
	return writeAnswer(c, a, err)
}

// order answers GET /v1/orders/{id}.
func (h *handler) order(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := parseDetail(h.validator(c), paramsOf(c), id)
	if err != nil {
		return err
	}
	a, err := h.d.Pull.Order(c.Request().Context(), p.CustomerNo, p.ID)
	return writeAnswer(c, a, err)
}

// invoiceList answers GET /v1/invoices.
func (h *handler) invoiceList(c echo.Context) error {
	customerNo, q, err := parseList(h.validator(c), paramsOf(c), h.today())
	if err != nil {
		return err
	}
	a, err := h.d.Pull.InvoiceList(c.Request().Context(), customerNo, q)
	return writeAnswer(c, a, err)
}

// invoice answers GET /v1/invoices/{id}.
func (h *handler) invoice(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	p, err := parseDetail(h.validator(c), paramsOf(c), id)
	if err != nil {
		return err
	}
	a, err := h.d.Pull.Invoice(c.Request().Context(), p.CustomerNo, p.ID)
	return writeAnswer(c, a, err)
}

// document sends the PDF behind a pdf_link: GET /v1/documents/{token}.
// The token is the credential; no API key is needed. The file is sent
// whole, typed before any byte of it (a browser must never guess its type:
// the gateway's origin may also serve /admin/), or not at all: once the
// status is sent, a failure is returned, and logged as an error
// (requestLog), since the caller got less than the file.
func (h *handler) document(c echo.Context) error {
	token, err := pathParam(c, "token")
	if err != nil {
		return err
	}
	doc, err := h.d.Pull.Document(c.Request().Context(), token)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "application/pdf")
	hd.Set(echo.HeaderXContentTypeOptions, "nosniff")
	hd.Set(echo.HeaderContentDisposition, `inline; filename="invoice-`+fileName(doc.InvoiceNumber)+`.pdf"`)
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Cache", doc.Cache)
	hd.Set(echo.HeaderContentLength, strconv.Itoa(len(doc.PDF)))
	allowSlowReader(c, len(doc.PDF))
	c.Response().WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	if n, err := c.Response().Write(doc.PDF); err != nil {
		return fmt.Errorf("handlers: document %s: sent %d of %d bytes: %w", fileName(doc.InvoiceNumber), n, len(doc.PDF), err)
	}
	return nil
}

// slowReaderRate is the slowest download a PDF is given time for: 32 KiB/s
// (a poor mobile link), on top of the server's own write timeout. A 5 MB
// file may take 2 minutes and 40 seconds.
const slowReaderRate = 32 << 10

// allowSlowReader gives the answer of n bytes the time a slow client needs
// to read it, past the server's WriteTimeout (which suits JSON answers).
func allowSlowReader(c echo.Context, n int) {
	d := writeTimeout + time.Duration(n/slowReaderRate)*time.Second
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(d))
}

// writeTimeout is the least time allowSlowReader gives an answer; the
// server's WriteTimeout (cmd/gateway) is longer than the ERP budget by as
// much.
const writeTimeout = 30 * time.Second

// fileName keeps the letters, digits, - and _ of an invoice number, so it
// can stand in a Content-Disposition filename as it is.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r
		}
		return '_'
	}, s)
}

// writeAnswer writes a finished answer as it is, with its cache headers.
func writeAnswer(c echo.Context, a pull.Answer, err error) error {
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("X-Cache", a.Result)
	hd.Set("Cache-Status", cacheStatus(a))
	hd.Set("Cache-Control", "private, no-store")
	if a.Age > 0 {
		hd.Set("Age", strconv.Itoa(int(a.Age/time.Second)))
	}
	return c.Blob(http.StatusOK, contentJSON, a.Body)
}

// cacheStatus renders the RFC 9211 Cache-Status field of an answer, with
// the cache named "gateway":
//
//	gateway; hit; ttl=42; detail=memory       fresh, from the in-process tier (or redis)
//	gateway; hit; ttl=-17; detail=redis       stale (negative ttl), being refreshed
//	gateway; fwd=uri-miss; fwd-status=200; stored               built from the ERP here
//	gateway; fwd=uri-miss; fwd-status=200; stored; collapsed    waited on another request's fetch
//	gateway; fwd=uri-miss; fwd-status=200; collapsed; detail=replica   waited on another replica's
//	gateway; fwd=stale; ...                   the cached answer was too old to serve
func cacheStatus(a pull.Answer) string {
	b := make([]byte, 0, 72)
	b = append(b, "gateway; "...)
	switch a.Result {
	case cache.Hit, cache.Stale:
		secs := int64(a.TTL / time.Second)
		if a.TTL < 0 && a.TTL%time.Second != 0 {
			secs-- // stale by a fraction of a second is stale
		}
		b = append(b, "hit; ttl="...)
		b = strconv.AppendInt(b, secs, 10)
		if a.Tier != "" {
			b = append(b, "; detail="...)
			b = append(b, a.Tier...)
		}
	default:
		if a.Expired {
			b = append(b, "fwd=stale"...)
		} else {
			b = append(b, "fwd=uri-miss"...)
		}
		b = append(b, "; fwd-status=200"...)
		if a.Stored && !a.Replica {
			b = append(b, "; stored"...)
		}
		if a.Collapsed {
			b = append(b, "; collapsed"...)
		}
		if a.Replica {
			b = append(b, "; detail=replica"...)
		}
	}
	return string(b)
}

func (h *handler) today() time.Time {
	y, m, d := h.d.Now().In(h.d.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (h *handler) validator(c echo.Context) *structValidator {
	return c.Echo().Validator.(*structValidator)
}
