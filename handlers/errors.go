package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/vendre-extend/gateway/api"
	"github.com/vendre-extend/gateway/cache"
	"github.com/vendre-extend/gateway/erp"
	"github.com/vendre-extend/gateway/pull"
	"github.com/vendre-extend/gateway/pushers"
	"github.com/vendre-extend/gateway/webhook"
)

// Error codes of the contract.
const (
	codeInvalid     = "invalid_request"
	codeUnauthized  = "unauthorized"
	codeNotFound    = "not_found"
	codeRateLimited = "rate_limited"
	codeBadGateway  = "bad_gateway"
	codeUnavailable = "unavailable"
	codeTimeout     = "timeout"
	codeInternal    = "internal" // a bug of ours; never expected
)

// errUnauthorized is a missing or refused credential.
var errUnauthorized = errors.New("handlers: unauthorized")

// errNoRoute is an unknown route (or one switched off by configuration).
var errNoRoute = errors.New("handlers: no such route")

// statusError is one row of the table from errors to the contract.
type statusError struct {
	target  error
	status  int
	code    string
	message string
}

// errorTable maps every sentinel to the contract's status and code. 5xx
// messages stay generic; the cause is logged.
var errorTable = []statusError{
	{errUnauthorized, http.StatusUnauthorized, codeUnauthized, "missing or invalid credentials"},
	{errNoRoute, http.StatusNotFound, codeNotFound, "no such resource"},
	{errRateLimited, http.StatusTooManyRequests, codeRateLimited, "too many requests; slow down and retry after the time in Retry-After"},
	{pull.ErrNotFound, http.StatusNotFound, codeNotFound, "no such order, invoice or document for this customer"},
	{erp.ErrNotFound, http.StatusNotFound, codeNotFound, "no such order, invoice or document for this customer"},
	{erp.ErrTimeout, http.StatusGatewayTimeout, codeTimeout, "the ERP did not answer in time"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, codeTimeout, "the ERP did not answer in time"},
	{erp.ErrThrottled, http.StatusServiceUnavailable, codeUnavailable, "the ERP is busy; try again shortly"},
	{erp.ErrUnavailable, http.StatusServiceUnavailable, codeUnavailable, "the ERP is unavailable; try again shortly"},
	{cache.ErrUnavailable, http.StatusServiceUnavailable, codeUnavailable, "the cache is unavailable; try again shortly"},
	// Webhooks and pushers (handlers/webhooks.go, handlers/pushers.go).
	{webhook.ErrSignature, http.StatusUnauthorized, codeUnauthized, "missing or invalid credentials"},
	{webhook.ErrPayload, http.StatusBadRequest, codeInvalid, "the body is not a webhook delivery of the documented shape"},
	{webhook.ErrTooLarge, http.StatusRequestEntityTooLarge, codeInvalid, "request body too large"},
	{webhook.ErrUnavailable, http.StatusServiceUnavailable, codeUnavailable, "the delivery cannot be recorded now; try again shortly"},
	{pushers.ErrUnknown, http.StatusNotFound, codeNotFound, "no such pusher"},
	{errPushersUnavailable, http.StatusServiceUnavailable, codeUnavailable, "the pushers' state is unavailable; try again shortly"},
	{errResumeUnavailable, http.StatusServiceUnavailable, codeUnavailable, "the pauses cannot be lifted now (Redis); try again shortly"},
	{pull.ErrSchema, http.StatusBadGateway, codeBadGateway, "the ERP answered something unusable"},
	{erp.ErrBadResponse, http.StatusBadGateway, codeBadGateway, "the ERP answered something unusable"},
	{erp.ErrValidation, http.StatusBadGateway, codeBadGateway, "the ERP answered something unusable"},
	{erp.ErrUnauthorized, http.StatusBadGateway, codeBadGateway, "the ERP refused the gateway's credentials"},
}

// errorHandler is the one echo.HTTPErrorHandler: it writes every error as
// {"error":{"code","message"}} with the contract's status.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code, msg := classify(err)
		if status >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(),
				"status", status, "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"trace_id", traceID(c.Request().Context()))
		}
		var ee *erp.Error
		if errors.As(err, &ee) && ee.RetryAfter > 0 && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests) {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(ee.RetryAfter.Seconds()+0.999)))
		}
		if rl := (*rateLimitError)(nil); errors.As(err, &rl) {
			c.Response().Header().Set("Retry-After", retryAfterSeconds(rl.retryAfter))
		}
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			// The caller hung up; there is nobody to answer.
			return
		}
		_ = writeJSON(c, status, api.Error{Error: api.ErrorBody{Code: code, Message: msg}})
	}
}

// classify maps an error to its status, code and message.
func classify(err error) (int, string, string) {
	if status, code, msg, ok := errorOfShape(err); ok {
		return status, code, msg
	}
	var pe *paramError
	if errors.As(err, &pe) {
		return http.StatusBadRequest, codeInvalid, pe.Msg
	}
	for _, row := range errorTable {
		if errors.Is(err, row.target) {
			return row.status, row.code, row.message
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return http.StatusNotFound, codeNotFound, "no such resource"
		case http.StatusMethodNotAllowed:
			return http.StatusMethodNotAllowed, codeInvalid, "method not allowed on this resource"
		case http.StatusRequestEntityTooLarge:
			return http.StatusRequestEntityTooLarge, codeInvalid, "request body too large"
		case http.StatusUnauthorized:
			return http.StatusUnauthorized, codeUnauthized, "missing or invalid credentials"
		case http.StatusTooManyRequests:
			return http.StatusTooManyRequests, codeRateLimited, "too many requests"
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, codeInvalid, http.StatusText(he.Code)
		}
	}
	return http.StatusInternalServerError, codeInternal, "internal error"
}
