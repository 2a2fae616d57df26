package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/retailcrm"
)

// RetailCRM answers RetailCRM's callbacks to the gateway's warehouse
// module; *retailcrm.Callbacks has it.
type RetailCRM interface {
	// ClientIDOK reports, in constant time, whether id is the module's
	// clientId.
	ClientIDOK(id string) bool
	// InventoriesUpload asks for every product's stock to be pushed; it
	// returns once that is recorded. Errors: retailcrm.ErrNoStock, Redis
	// failures.
	InventoriesUpload(ctx context.Context) error
}

// crmAnswer is every answer of the RetailCRM routes, in RetailCRM's own
// convention: {"success":true} or {"success":false,"errorMsg":"…"}.
type crmAnswer struct {
	Success  bool   `json:"success"`
	ErrorMsg string `json:"errorMsg,omitempty"`
}

// crmActions are the callbacks, by the last part of their URL; each
// checks nothing but its own input (the clientId is checked before).
var crmActions = map[string]func(ctx context.Context, crm RetailCRM, form url.Values) (int, crmAnswer){
	"inventories-upload": crmInventoriesUpload,
}

// maxCRMForm caps a callback's body.
const maxCRMForm = 64 << 10

// retailcrmCallback is POST /retailcrm/{action}: RetailCRM's callbacks to
// the registered module. The form field clientId must be the module's
// (401 otherwise, and nothing happens); then the action answers.
func (h *handler) retailcrmCallback(c echo.Context) error {
	answer := func(status int, a crmAnswer) error { return c.JSON(status, a) }
	act, ok := crmActions[c.Param("action")]
	if h.d.RetailCRM == nil || !ok {
		return answer(http.StatusNotFound, crmAnswer{ErrorMsg: "no such callback"})
	}
	r := c.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCRMForm+1))
	if err != nil || len(body) > maxCRMForm {
		return answer(http.StatusRequestEntityTooLarge, crmAnswer{ErrorMsg: "the request is too large"})
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		form = url.Values{}
	}
	if !h.d.RetailCRM.ClientIDOK(form.Get("clientId")) {
		return answer(http.StatusUnauthorized, crmAnswer{ErrorMsg: "wrong or missing clientId"})
	}
	status, a := act(r.Context(), h.d.RetailCRM, form)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	return answer(status, a)
}

// crmRefuse answers, in RetailCRM's convention, a callback from an address
// that failed the clientId too often (AuthThrottle).
func crmRefuse(c echo.Context, retryAfter time.Duration) error {
	c.Response().Header().Set("Retry-After", retryAfterSeconds(retryAfter))
	return c.JSON(http.StatusTooManyRequests, crmAnswer{ErrorMsg: "too many wrong clientIds from this address; retry later"})
}

// crmInventoriesUpload is the inventoriesUpload callback: answered at once,
// the stock pusher then pushes every product in batches of at most 250.
func crmInventoriesUpload(ctx context.Context, crm RetailCRM, _ url.Values) (int, crmAnswer) {
	err := crm.InventoriesUpload(ctx)
	switch {
	case err == nil:
		return http.StatusOK, crmAnswer{Success: true}
	case errors.Is(err, retailcrm.ErrNoStock):
		return http.StatusNotFound, crmAnswer{ErrorMsg: "the gateway does not push stock to RetailCRM"}
	}
	return http.StatusServiceUnavailable, crmAnswer{ErrorMsg: "cannot record the upload now; try again"}
}
