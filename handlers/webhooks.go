package handlers

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/pushers/orders"
	"github.com/vendre-extend/gateway/webhook"
)

// ExtendWebhooks records Extend Commerce deliveries; *webhook.Intake has
// it.
type ExtendWebhooks interface {
	// Receive verifies and records one delivery. Errors:
	// webhook.ErrSignature, ErrPayload, ErrTooLarge, ErrUnavailable.
	Receive(ctx context.Context, body []byte, signature string) (webhook.Receipt, error)
}

// VendreOrders records Vendre's order webhooks; *orders.Pusher has it.
type VendreOrders interface {
	// ReceiveVendre checks the token and records a new_order once.
	// Errors as ExtendWebhooks.Receive.
	ReceiveVendre(ctx context.Context, body []byte, token string) (orders.VendreReceipt, error)
}

// webhookAnswer is the body of a 202 from a webhook route.
type webhookAnswer struct {
	Status string `json:"status"` // recorded, duplicate, ignored
}

// readBody reads a webhook body of at most webhook.MaxBody bytes; a larger
// one is webhook.ErrTooLarge (413), whether it says so in Content-Length
// or not.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > webhook.MaxBody {
		return nil, webhook.ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, webhook.MaxBody+1))
	if err != nil {
		return nil, &paramError{Param: "body", Msg: "the request body could not be read"}
	}
	if len(b) > webhook.MaxBody {
		return nil, webhook.ErrTooLarge
	}
	return b, nil
}

// extendWebhook is POST /webhooks/extend: 202 once the delivery is
// recorded in Redis (or was recorded before).
func (h *handler) extendWebhook(c echo.Context) error {
	if h.d.ExtendWebhooks == nil {
		return errNoRoute // EXTEND_WEBHOOK_SECRET unset
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	rc, err := h.d.ExtendWebhooks.Receive(c.Request().Context(), body, c.Request().Header.Get("ms-signature"))
	if err != nil {
		return err
	}
	status := "recorded"
	if rc.Duplicate {
		status = "duplicate"
	}
	return writeJSON(c, http.StatusAccepted, webhookAnswer{Status: status})
}

// vendreWebhook is POST /webhooks/vendre (order source vendre-webhook):
// 202 once the order is recorded, or was before, or the event is not one
// we import.
func (h *handler) vendreWebhook(c echo.Context) error {
	if h.d.VendreOrders == nil {
		return errNoRoute // the vendre-webhook source is off
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	rc, err := h.d.VendreOrders.ReceiveVendre(c.Request().Context(), body, c.Request().Header.Get("X-Webhook-Token"))
	if err != nil {
		return err
	}
	status := "recorded"
	switch {
	case rc.Ignored:
		status = "ignored"
	case rc.Duplicate:
		status = "duplicate"
	}
	return writeJSON(c, http.StatusAccepted, webhookAnswer{Status: status})
}

// baselinker is Baselinker's integration file (connectors/baselinker),
// which writes its own answers; 404 unless BASELINKER_PASSWORD is set.
func (h *handler) baselinker(c echo.Context) error {
	if h.d.Baselinker == nil {
		return errNoRoute
	}
	h.d.Baselinker.ServeHTTP(c.Response(), c.Request())
	return nil
}

// blRefuse answers, in Baselinker's convention (docs/baselinker.md), a
// call from an address that failed bl_pass too often (AuthThrottle).
func blRefuse(c echo.Context, retryAfter time.Duration) error {
	c.Response().Header().Set("Retry-After", retryAfterSeconds(retryAfter))
	return c.JSON(http.StatusTooManyRequests, map[string]any{"error": true, "error_code": "too_many_attempts",
		"error_text": "too many wrong bl_pass from this address; try again later"})
}
